//! Concert rankings, computed on each read from each concert's own keys (so they hold on
//! a Redis Cluster, where no script may reach a global ranking key, and change in the same
//! atomic step as the sale that changes them): confirmed sales per concert (its schedules'
//! SOLD seats), and schedules that sold out, fastest first (their `info`: first sale to
//! last seat).

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

/// What the rankings are computed from: each concert's sales and each schedule's sell-out.
#[derive(Clone, Debug, Default)]
struct Standings {
    /// (concert, title, confirmed sales)
    concerts: Vec<(u64, String, u64)>,
    /// (schedule, its concert, ms from first sale to sold out)
    sold_out: Vec<(u64, u64, u64)>,
}

impl Booking {
    /// The top `limit` of a ranking.
    pub async fn ranking(&self, by: RankBy, limit: u64) -> Result<Vec<RankEntry>, BookingError> {
        let standings = self.read_standings().await?;
        let limit = limit as usize;
        Ok(match by {
            RankBy::Sales => {
                let mut top: Vec<_> = standings
                    .concerts
                    .iter()
                    .filter(|(_, _, sales)| *sales > 0)
                    .collect();
                top.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
                top.into_iter()
                    .take(limit)
                    .map(|(concert_id, title, sales)| RankEntry {
                        concert_id: *concert_id,
                        title: title.clone(),
                        score: *sales as f64,
                        schedule_id: None,
                    })
                    .collect()
            }
            RankBy::SoldOut => {
                let mut top: Vec<_> = standings.sold_out.iter().collect();
                top.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
                top.into_iter()
                    .take(limit)
                    .map(|&(schedule_id, concert_id, took_ms)| RankEntry {
                        concert_id,
                        title: standings
                            .concerts
                            .iter()
                            .find(|(id, _, _)| *id == concert_id)
                            .map(|(_, title, _)| title.clone())
                            .unwrap_or_default(),
                        score: took_ms as f64 / 1000.0,
                        schedule_id: Some(schedule_id),
                    })
                    .collect()
            }
        })
    }

    /// Reads every concert's id, title and schedules, then each schedule's sold seats and
    /// sale times: five round trips on a single Redis (pipelines), concurrent commands on
    /// a cluster.
    async fn read_standings(&self) -> Result<Standings, BookingError> {
        let keys = &self.store.keys;
        let mut concerts = self.store.concert_ids().await?;
        concerts.sort_unstable();
        let titles: Vec<Option<String>> = self
            .store
            .query_each(
                concerts
                    .iter()
                    .map(|&id| redis::Cmd::hget(keys.concert_meta(id), "title"))
                    .collect(),
            )
            .await?;
        let schedules: Vec<Vec<u64>> = self
            .store
            .query_each(
                concerts
                    .iter()
                    .map(|&id| redis::Cmd::smembers(keys.concert_schedules(id)))
                    .collect(),
            )
            .await?;
        let all: Vec<(u64, u64)> = concerts
            .iter()
            .zip(&schedules)
            .flat_map(|(&concert, ids)| ids.iter().map(move |&s| (concert, s)))
            .collect();
        let sold: Vec<u64> = self
            .store
            .query_each(
                all.iter()
                    .map(|&(c, s)| redis::Cmd::hlen(keys.schedule(c, s).sold))
                    .collect(),
            )
            .await?;
        let times: Vec<(Option<u64>, Option<u64>)> = self
            .store
            .query_each(
                all.iter()
                    .map(|&(c, s)| {
                        let mut cmd = redis::cmd("HMGET");
                        cmd.arg(keys.schedule(c, s).info)
                            .arg("firstSaleMs")
                            .arg("soldOutMs");
                        cmd
                    })
                    .collect(),
            )
            .await?;
        let mut standings = Standings::default();
        for ((&concert, title), _) in concerts.iter().zip(titles).zip(&schedules) {
            let sales = all
                .iter()
                .zip(&sold)
                .filter(|((c, _), _)| *c == concert)
                .map(|(_, n)| n)
                .sum();
            standings
                .concerts
                .push((concert, title.unwrap_or_default(), sales));
        }
        for (&(concert, schedule), time) in all.iter().zip(times) {
            if let (Some(first), Some(last)) = time {
                standings
                    .sold_out
                    .push((schedule, concert, last.saturating_sub(first)));
            }
        }
        Ok(standings)
    }
}
