//! The endpoints the load tool calls, their report labels, and which answers count as
//! success, as an expected refusal, or as an error.

use serde::Serialize;

/// Every endpoint a scenario may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Endpoint {
    ConcertList,
    ConcertDetail,
    Schedules,
    Seats,
    QueueStatus,
    IssueToken,
    Charge,
    Hold,
    Pay,
    Cancel,
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A business refusal the scenario expects under contention (a seat taken first).
    Refused,
    /// A wrong status (any 5xx, 429, 404 ...) or no answer at all.
    Error,
}

impl Endpoint {
    /// The label in reports: method and path pattern, never the raw path.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::ConcertList => "GET /api/concerts",
            Endpoint::ConcertDetail => "GET /api/concerts/{id}",
            Endpoint::Schedules => "GET /api/concerts/{id}/schedules",
            Endpoint::Seats => "GET /api/schedules/{id}/seats",
            Endpoint::QueueStatus => "GET /api/queue/status",
            Endpoint::IssueToken => "POST /api/queue/token",
            Endpoint::Charge => "POST /api/users/{id}/balance/charge",
            Endpoint::Hold => "POST /api/reservations",
            Endpoint::Pay => "POST /api/payments",
            Endpoint::Cancel => "DELETE /api/reservations/{id}",
        }
    }

    /// The short name used by `--weights`.
    pub fn short_name(self) -> &'static str {
        match self {
            Endpoint::ConcertList => "list",
            Endpoint::ConcertDetail => "detail",
            Endpoint::Schedules => "schedules",
            Endpoint::Seats => "seats",
            Endpoint::QueueStatus => "status",
            Endpoint::IssueToken => "token",
            Endpoint::Charge => "charge",
            Endpoint::Hold => "hold",
            Endpoint::Pay => "pay",
            Endpoint::Cancel => "cancel",
        }
    }

    pub const ALL: [Endpoint; 10] = [
        Endpoint::ConcertList,
        Endpoint::ConcertDetail,
        Endpoint::Schedules,
        Endpoint::Seats,
        Endpoint::QueueStatus,
        Endpoint::IssueToken,
        Endpoint::Charge,
        Endpoint::Hold,
        Endpoint::Pay,
        Endpoint::Cancel,
    ];

    pub fn from_short_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.short_name() == name)
    }

    /// Judges an HTTP status from this endpoint, per the contract (docs: api.md).
    pub fn judge(self, status: u16) -> Outcome {
        match (self, status) {
            (Endpoint::IssueToken, 200 | 201) => Outcome::Ok,
            (Endpoint::Hold | Endpoint::Pay, 201) => Outcome::Ok,
            (Endpoint::Pay, 200) => Outcome::Ok,
            (Endpoint::Cancel, 204) => Outcome::Ok,
            (Endpoint::Hold, 409) => Outcome::Refused,
            (Endpoint::IssueToken | Endpoint::Hold | Endpoint::Pay | Endpoint::Cancel, _) => {
                Outcome::Error
            }
            (_, 200) => Outcome::Ok,
            _ => Outcome::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_round_trip() {
        for endpoint in Endpoint::ALL {
            assert_eq!(
                Endpoint::from_short_name(endpoint.short_name()),
                Some(endpoint)
            );
        }
    }

    #[test]
    fn statuses_are_judged_per_the_contract() {
        assert_eq!(Endpoint::IssueToken.judge(201), Outcome::Ok);
        assert_eq!(Endpoint::IssueToken.judge(429), Outcome::Error);
        assert_eq!(Endpoint::Hold.judge(409), Outcome::Refused);
        assert_eq!(Endpoint::Seats.judge(403), Outcome::Error);
        assert_eq!(Endpoint::ConcertList.judge(200), Outcome::Ok);
        assert_eq!(Endpoint::ConcertList.judge(500), Outcome::Error);
    }
}
