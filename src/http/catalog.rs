//! Catalog endpoints (public): concerts, a concert, its schedules (with live
//! `availableSeats`) and the rankings.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::response::{json, Body};
use crate::app::App;
use crate::booking::RankBy;
use crate::catalog::ConcertRow;
use crate::http::error::ApiError;

const DEFAULT_RANKING_LIMIT: u64 = 10;
const MAX_RANKING_LIMIT: u64 = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConcertView<'a> {
    id: u64,
    title: &'a str,
    artist: &'a str,
    venue: &'a str,
}

impl<'a> From<&'a ConcertRow> for ConcertView<'a> {
    fn from(row: &'a ConcertRow) -> Self {
        ConcertView {
            id: row.id,
            title: &row.title,
            artist: &row.artist,
            venue: &row.venue,
        }
    }
}

/// `GET /api/concerts`
pub async fn concerts(app: &App) -> Result<Response<Body>, ApiError> {
    let rows = app.catalog.concerts().await?;
    let concerts: Vec<ConcertView> = rows.iter().map(ConcertView::from).collect();
    Ok(json(StatusCode::OK, &json!({ "concerts": concerts })))
}

/// `GET /api/concerts/{id}`
pub async fn concert(app: &App, concert_id: u64) -> Result<Response<Body>, ApiError> {
    let row = app.catalog.concert(concert_id).await?;
    Ok(json(StatusCode::OK, &ConcertView::from(row.as_ref())))
}

/// `GET /api/concerts/{id}/schedules`: the cached schedules with live seat counts.
pub async fn schedules(app: &App, concert_id: u64) -> Result<Response<Body>, ApiError> {
    let schedules = app.catalog.schedules(concert_id).await?;
    let ids: Vec<u64> = schedules.iter().map(|s| s.id).collect();
    let counts = app.booking.available_seats(concert_id, &ids).await?;
    let views: Vec<_> = schedules
        .iter()
        .zip(counts)
        .map(|(schedule, (_, available))| {
            json!({
                "id": schedule.id,
                "startsAt": schedule.starts_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "totalSeats": schedule.total_seats,
                "availableSeats": available,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"concertId": concert_id, "schedules": views}),
    ))
}

/// `GET /api/concerts/ranking?by=sales|soldout&limit=10`
pub async fn ranking(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (by, limit) = ranking_query(req.uri().query().unwrap_or(""))?;
    let entries = app.booking.ranking(by, limit).await?;
    let ranking: Vec<_> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let mut view = json!({
                "rank": i + 1,
                "concertId": entry.concert_id,
                "title": entry.title,
                "score": entry.score,
            });
            if by == RankBy::Sales {
                view["score"] = json!(entry.score as u64);
            }
            if let Some(schedule_id) = entry.schedule_id {
                view["scheduleId"] = json!(schedule_id);
            }
            view
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"by": by.as_str(), "ranking": ranking}),
    ))
}

/// `by` (default sales) and `limit` (1 to 100, default 10); anything else is a 400.
fn ranking_query(query: &str) -> Result<(RankBy, u64), ApiError> {
    let mut by = RankBy::Sales;
    let mut limit = DEFAULT_RANKING_LIMIT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "by" => {
                by = RankBy::parse(value)
                    .ok_or_else(|| ApiError::BadRequest("by must be sales or soldout".into()))?
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_RANKING_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be an integer from 1 to {MAX_RANKING_LIMIT}"
                        ))
                    })?
            }
            _ => {}
        }
    }
    Ok((by, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_queries_default_and_refuse_nonsense() {
        assert_eq!(ranking_query("").unwrap(), (RankBy::Sales, 10));
        assert_eq!(
            ranking_query("by=soldout&limit=3").unwrap(),
            (RankBy::SoldOut, 3)
        );
        assert!(ranking_query("by=fame").is_err());
        assert!(ranking_query("limit=0").is_err());
        assert!(ranking_query("limit=101").is_err());
        assert!(ranking_query("limit=x").is_err());
    }
}
