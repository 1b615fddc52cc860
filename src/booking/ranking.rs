//! Concert rankings, maintained by the payment script: confirmed sales per concert, and
//! schedules that sold out, fastest first.

use super::{Booking, BookingError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankBy {
    Sales,
    SoldOut,
}

impl RankBy {
    pub fn parse(raw: &str) -> Option<RankBy> {
        match raw {
            "sales" => Some(RankBy::Sales),
            "soldout" => Some(RankBy::SoldOut),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RankBy::Sales => "sales",
            RankBy::SoldOut => "soldout",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RankEntry {
    pub concert_id: u64,
    pub title: String,
    /// Confirmed reservations, or seconds from first sale to sold out.
    pub score: f64,
    /// The schedule that sold out (soldout ranking only).
    pub schedule_id: Option<u64>,
}

impl Booking {
    /// The top `limit` of a ranking.
    pub async fn ranking(&self, by: RankBy, limit: u64) -> Result<Vec<RankEntry>, BookingError> {
        let keys = &self.store.keys;
        let (key, order) = match by {
            RankBy::Sales => (keys.ranking_sales(), Some("REV")),
            RankBy::SoldOut => (keys.ranking_soldout(), None),
        };
        let top: Vec<(u64, f64)> = self
            .store
            .query(
                redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(limit as i64 - 1)
                    .arg(order)
                    .arg("WITHSCORES"),
            )
            .await?;
        if top.is_empty() {
            return Ok(Vec::new());
        }
        let concerts: Vec<u64> = match by {
            RankBy::Sales => top.iter().map(|&(member, _)| member).collect(),
            RankBy::SoldOut => {
                let lookup: Vec<_> = top
                    .iter()
                    .map(|&(schedule_id, _)| {
                        redis::Cmd::hget(keys.schedule_concerts(), schedule_id)
                    })
                    .collect();
                let found: Vec<Option<u64>> = self.store.query_each(lookup).await?;
                found.into_iter().map(Option::unwrap_or_default).collect()
            }
        };
        // One pipeline on a single Redis; the concerts' slots one by one on a cluster.
        let titles: Vec<_> = concerts
            .iter()
            .map(|&concert_id| redis::Cmd::hget(keys.concert_meta(concert_id), "title"))
            .collect();
        let titles: Vec<Option<String>> = self.store.query_each(titles).await?;
        Ok(top
            .iter()
            .zip(concerts)
            .zip(titles)
            .map(|((&(member, score), concert_id), title)| RankEntry {
                concert_id,
                title: title.unwrap_or_default(),
                score: match by {
                    RankBy::Sales => score,
                    RankBy::SoldOut => score / 1000.0,
                },
                schedule_id: (by == RankBy::SoldOut).then_some(member),
            })
            .collect())
    }
}
