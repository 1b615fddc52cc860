//! Maps a method and path to a route: 404 for unknown paths, 405 for known paths with
//! the wrong method.

use hyper::Method;

use crate::http::error::ApiError;

/// Every endpoint the server answers, with the ids its path carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    IssueToken,
    QueueStatus,
    Concerts,
    ConcertRanking,
    Concert(u64),
    ConcertSchedules(u64),
    Fairness(u64),
    FairnessOrder(u64),
    SeatMap(u64),
    HoldSeat,
    Reservation(String),
    CancelReservation(String),
    Balance(u64),
    ChargeWallet(u64),
    Pay,
    Health,
    HealthLive,
    HealthReady,
    Metrics,
    ConcertsPage,
    WaitingRoomPage(u64),
    BookPage(u64),
    Asset(String),
}

impl Route {
    /// Whether the route changes state in Redis (refused while `restore` runs).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Route::IssueToken
                | Route::HoldSeat
                | Route::CancelReservation(_)
                | Route::ChargeWallet(_)
                | Route::Pay
        )
    }

    /// A fixed label for metrics (never the raw path, whose ids would explode cardinality).
    pub fn label(&self) -> &'static str {
        match self {
            Route::IssueToken => "POST /api/queue/token",
            Route::QueueStatus => "GET /api/queue/status",
            Route::Concerts => "GET /api/concerts",
            Route::ConcertRanking => "GET /api/concerts/ranking",
            Route::Concert(_) => "GET /api/concerts/{id}",
            Route::ConcertSchedules(_) => "GET /api/concerts/{id}/schedules",
            Route::Fairness(_) => "GET /api/concerts/{id}/queue/fairness",
            Route::FairnessOrder(_) => "GET /api/concerts/{id}/queue/fairness/order",
            Route::SeatMap(_) => "GET /api/schedules/{id}/seats",
            Route::HoldSeat => "POST /api/reservations",
            Route::Reservation(_) => "GET /api/reservations/{id}",
            Route::CancelReservation(_) => "DELETE /api/reservations/{id}",
            Route::Balance(_) => "GET /api/users/{id}/balance",
            Route::ChargeWallet(_) => "POST /api/users/{id}/balance/charge",
            Route::Pay => "POST /api/payments",
            Route::Health => "GET /health",
            Route::HealthLive => "GET /health/live",
            Route::HealthReady => "GET /health/ready",
            Route::Metrics => "GET /metrics",
            Route::ConcertsPage => "GET /",
            Route::WaitingRoomPage(_) => "GET /waiting-room/{concertId}",
            Route::BookPage(_) => "GET /book/{concertId}",
            Route::Asset(_) => "GET /assets/{name}",
        }
    }
}

/// Resolves a request line to its route.
pub fn resolve(method: &Method, path: &str) -> Result<Route, ApiError> {
    let choices: Vec<(Method, Route)> = match segments(path).as_slice() {
        ["api", "queue", "token"] => vec![(Method::POST, Route::IssueToken)],
        ["api", "queue", "status"] => vec![(Method::GET, Route::QueueStatus)],
        ["api", "concerts"] => vec![(Method::GET, Route::Concerts)],
        ["api", "concerts", "ranking"] => vec![(Method::GET, Route::ConcertRanking)],
        ["api", "concerts", id] => vec![(Method::GET, Route::Concert(parse_id(id)?))],
        ["api", "concerts", id, "schedules"] => {
            vec![(Method::GET, Route::ConcertSchedules(parse_id(id)?))]
        }
        ["api", "concerts", id, "queue", "fairness"] => {
            vec![(Method::GET, Route::Fairness(parse_id(id)?))]
        }
        ["api", "concerts", id, "queue", "fairness", "order"] => {
            vec![(Method::GET, Route::FairnessOrder(parse_id(id)?))]
        }
        ["api", "schedules", id, "seats"] => vec![(Method::GET, Route::SeatMap(parse_id(id)?))],
        ["api", "reservations"] => vec![(Method::POST, Route::HoldSeat)],
        ["api", "reservations", id] => vec![
            (Method::GET, Route::Reservation(id.to_string())),
            (Method::DELETE, Route::CancelReservation(id.to_string())),
        ],
        ["api", "users", id, "balance"] => vec![(Method::GET, Route::Balance(parse_id(id)?))],
        ["api", "users", id, "balance", "charge"] => {
            vec![(Method::POST, Route::ChargeWallet(parse_id(id)?))]
        }
        ["api", "payments"] => vec![(Method::POST, Route::Pay)],
        ["health"] => vec![(Method::GET, Route::Health)],
        ["health", "live"] => vec![(Method::GET, Route::HealthLive)],
        ["health", "ready"] => vec![(Method::GET, Route::HealthReady)],
        ["metrics"] => vec![(Method::GET, Route::Metrics)],
        [] => vec![(Method::GET, Route::ConcertsPage)],
        ["waiting-room", id] => vec![(Method::GET, Route::WaitingRoomPage(parse_id(id)?))],
        ["book", id] => vec![(Method::GET, Route::BookPage(parse_id(id)?))],
        ["assets", name] => vec![(Method::GET, Route::Asset(name.to_string()))],
        _ => return Err(ApiError::NotFound),
    };
    choose(method, choices)
}

/// A path's segments, without the leading and any trailing `/`.
pub fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

/// The route of a known path that `method` asks for (HEAD is served wherever GET is); 405
/// when none, naming the methods the path answers (its `Allow` header).
pub fn choose<R>(method: &Method, choices: Vec<(Method, R)>) -> Result<R, ApiError> {
    let allow = allowed_methods(choices.iter().map(|(m, _)| m));
    choices
        .into_iter()
        .find(|(allowed, _)| {
            method == allowed || (*allowed == Method::GET && *method == Method::HEAD)
        })
        .map(|(_, route)| route)
        .ok_or(ApiError::MethodNotAllowed { allow })
}

/// The `Allow` header of a path answering `methods` (HEAD beside GET).
fn allowed_methods<'a>(methods: impl Iterator<Item = &'a Method>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for method in methods {
        names.push(method.as_str());
        if *method == Method::GET {
            names.push(Method::HEAD.as_str());
        }
    }
    names.join(", ")
}

/// Parses a path id: a positive integer no larger than 2^53 - 1.
pub fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| (1..=crate::http::MAX_ID).contains(id))
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_and_wrong_methods_are_405() {
        assert_eq!(
            resolve(&Method::POST, "/api/queue/token").unwrap(),
            Route::IssueToken
        );
        assert_eq!(
            resolve(&Method::GET, "/api/queue/status/").unwrap(),
            Route::QueueStatus
        );
        assert!(matches!(
            resolve(&Method::GET, "/api/queue/token"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            resolve(&Method::GET, "/nope"),
            Err(ApiError::NotFound)
        ));
        assert_eq!(resolve(&Method::GET, "/").unwrap(), Route::ConcertsPage);
    }

    #[test]
    fn page_paths_carry_their_concert() {
        assert_eq!(
            resolve(&Method::GET, "/waiting-room/7").unwrap(),
            Route::WaitingRoomPage(7)
        );
        assert_eq!(
            resolve(&Method::HEAD, "/book/7/").unwrap(),
            Route::BookPage(7)
        );
        assert_eq!(
            resolve(&Method::GET, "/assets/app.0123.css").unwrap(),
            Route::Asset("app.0123.css".into())
        );
        assert!(matches!(
            resolve(&Method::GET, "/waiting-room/abc"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            resolve(&Method::POST, "/book/7"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn booking_paths_carry_their_ids() {
        assert_eq!(
            resolve(&Method::GET, "/api/concerts/ranking").unwrap(),
            Route::ConcertRanking
        );
        assert_eq!(
            resolve(&Method::GET, "/api/concerts/7").unwrap(),
            Route::Concert(7)
        );
        assert_eq!(
            resolve(&Method::GET, "/api/schedules/3/seats").unwrap(),
            Route::SeatMap(3)
        );
        assert_eq!(
            resolve(&Method::GET, "/api/concerts/7/queue/fairness/order").unwrap(),
            Route::FairnessOrder(7)
        );
        assert_eq!(
            resolve(&Method::DELETE, "/api/reservations/R1-2").unwrap(),
            Route::CancelReservation("R1-2".into())
        );
        assert_eq!(
            resolve(&Method::POST, "/api/users/42/balance/charge").unwrap(),
            Route::ChargeWallet(42)
        );
        assert!(matches!(
            resolve(&Method::PUT, "/api/reservations/R1-2"),
            Err(ApiError::MethodNotAllowed { allow }) if allow == "GET, HEAD, DELETE"
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/concerts/0"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/users/abc/balance"),
            Err(ApiError::NotFound)
        ));
    }
}
