//! The one error type every HTTP handler returns, with the single mapping from every
//! layer's errors (store, queue, booking, catalog) to statuses and the contract's codes.

use std::time::Duration;

use hyper::StatusCode;

use crate::booking::BookingError;
use crate::catalog::CatalogError;
use crate::queue::QueueError;
use crate::store::StoreError;

/// Everything a request can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such route")]
    NotFound,
    /// `allow` lists the methods the path answers (the `Allow` header).
    #[error("method not allowed on this route")]
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    BadRequest(String),
    /// The whole request did not arrive within `REQUEST_READ_TIMEOUT_SECS`.
    #[error("the request did not arrive in time")]
    RequestTimeout,
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("too many requests; retry later")]
    RateLimited { retry_after: Duration },
    #[error("a backing service is unavailable; retry later")]
    Unavailable,
    #[error("missing, malformed or forged queue token")]
    InvalidToken,
    /// `AUTH_MODE=jwt`: no user JWT, or one that is malformed, forged or expired.
    #[error("missing, malformed, forged or expired user JWT")]
    Unauthenticated,
    #[error("the queue token is not active for this concert")]
    TokenNotActive,
    #[error("this resource belongs to another user")]
    Forbidden,
    #[error("concert not found")]
    ConcertNotFound,
    #[error("schedule not found")]
    ScheduleNotFound,
    #[error("seat not found")]
    SeatNotFound,
    #[error("seat is held or sold")]
    SeatUnavailable,
    #[error("too many live holds for this schedule")]
    HoldLimit,
    #[error("reservation not found")]
    ReservationNotFound,
    #[error("the hold has expired")]
    HoldExpired,
    #[error("the reservation is already confirmed")]
    AlreadyConfirmed,
    #[error("the reservation is no longer held")]
    NotHeld,
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("a payment of this reservation is under way; retry in a moment")]
    PaymentInProgress,
    #[error("amount must be between 1 and {max}")]
    InvalidAmount { max: u64 },
    #[error("the Idempotency-Key was already used with another request")]
    IdempotencyConflict,
    #[error("the charge would take the balance past its maximum")]
    BalanceLimit,
    /// The concert's line has been non-empty for 25 days on end (lua/lib/queue.lua).
    #[error("the concert's queue cannot take new entries until its line drains")]
    QueueFull,
    #[error("every seat of the concert is sold")]
    SoldOut,
    /// A queue setting out of range; the message names it.
    #[error("{0}")]
    InvalidSetting(String),
    #[error("the concert has no pre-queue")]
    NoPreQueue,
    #[error("the pre-queue has not opened yet")]
    NotOpened,
    #[error("the buyer is not in the concert's queue")]
    NotInQueue,
    /// The admin API's bearer token is missing or wrong.
    #[error("missing or wrong admin token")]
    AdminUnauthenticated,
    /// A bug or an unexpected backend answer: logged, never shown to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status for this error; the only place statuses are chosen.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            NotFound | ConcertNotFound | ScheduleNotFound | SeatNotFound | ReservationNotFound
            | NoPreQueue | NotInQueue => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            BadRequest(_) | InvalidAmount { .. } | InvalidSetting(_) => StatusCode::BAD_REQUEST,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Unavailable | QueueFull => StatusCode::SERVICE_UNAVAILABLE,
            InvalidToken | Unauthenticated | AdminUnauthenticated => StatusCode::UNAUTHORIZED,
            TokenNotActive | Forbidden => StatusCode::FORBIDDEN,
            SeatUnavailable | HoldLimit | HoldExpired | AlreadyConfirmed | NotHeld
            | IdempotencyConflict | BalanceLimit | SoldOut | NotOpened | PaymentInProgress => {
                StatusCode::CONFLICT
            }
            InsufficientBalance => StatusCode::PAYMENT_REQUIRED,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error.code` of the contract.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            NotFound => "NOT_FOUND",
            MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            RequestTimeout => "REQUEST_TIMEOUT",
            BadRequest(_) => "BAD_REQUEST",
            PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            RateLimited { .. } => "RATE_LIMITED",
            Unavailable => "UNAVAILABLE",
            InvalidToken => "INVALID_TOKEN",
            Unauthenticated => "UNAUTHENTICATED",
            TokenNotActive => "TOKEN_NOT_ACTIVE",
            Forbidden => "FORBIDDEN",
            ConcertNotFound => "CONCERT_NOT_FOUND",
            ScheduleNotFound => "SCHEDULE_NOT_FOUND",
            SeatNotFound => "SEAT_NOT_FOUND",
            SeatUnavailable => "SEAT_UNAVAILABLE",
            HoldLimit => "HOLD_LIMIT",
            ReservationNotFound => "RESERVATION_NOT_FOUND",
            HoldExpired => "HOLD_EXPIRED",
            AlreadyConfirmed => "ALREADY_CONFIRMED",
            NotHeld => "NOT_HELD",
            InsufficientBalance => "INSUFFICIENT_BALANCE",
            PaymentInProgress => "PAYMENT_IN_PROGRESS",
            InvalidAmount { .. } => "INVALID_AMOUNT",
            IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            BalanceLimit => "BALANCE_LIMIT",
            QueueFull => "QUEUE_FULL",
            SoldOut => "SOLD_OUT",
            InvalidSetting(_) => "INVALID_SETTING",
            NoPreQueue => "NO_PRE_QUEUE",
            NotOpened => "NOT_OPENED",
            NotInQueue => "NOT_IN_QUEUE",
            AdminUnauthenticated => "UNAUTHENTICATED",
            Internal(_) => "INTERNAL",
        }
    }

    /// The human-readable `error.message`; internal details never leave the server.
    pub fn message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Refused { .. } => ApiError::Unavailable,
            StoreError::Code { code, detail } => ApiError::Internal(anyhow::anyhow!(
                "redis answered an error the caller did not expect: {code} {detail}"
            )),
            StoreError::Bug(cause) => ApiError::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::ConcertNotFound => ApiError::ConcertNotFound,
            QueueError::QueueFull => ApiError::QueueFull,
            QueueError::TokenNotActive => ApiError::TokenNotActive,
            QueueError::SoldOut => ApiError::SoldOut,
            QueueError::InvalidSetting(text) => ApiError::InvalidSetting(text),
            QueueError::NoPreQueue => ApiError::NoPreQueue,
            QueueError::NotOpened => ApiError::NotOpened,
            QueueError::NotInQueue => ApiError::NotInQueue,
            QueueError::Store(store) => store.into(),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(err: BookingError) -> Self {
        use BookingError as B;
        match err {
            B::ScheduleNotFound => ApiError::ScheduleNotFound,
            B::SeatNotFound => ApiError::SeatNotFound,
            B::SeatUnavailable => ApiError::SeatUnavailable,
            B::HoldLimit => ApiError::HoldLimit,
            B::ReservationNotFound => ApiError::ReservationNotFound,
            B::HoldExpired => ApiError::HoldExpired,
            B::AlreadyConfirmed => ApiError::AlreadyConfirmed,
            B::NotHeld => ApiError::NotHeld,
            B::InsufficientBalance => ApiError::InsufficientBalance,
            B::PaymentInProgress => ApiError::PaymentInProgress,
            B::PaymentAbandoned => ApiError::Internal(anyhow::anyhow!("{err}")),
            B::InvalidAmount { max } => ApiError::InvalidAmount { max },
            B::IdempotencyConflict => ApiError::IdempotencyConflict,
            B::InvalidIdempotencyKey { .. } => ApiError::BadRequest(err.to_string()),
            B::BalanceLimit => ApiError::BalanceLimit,
            B::TokenNotActive => ApiError::TokenNotActive,
            B::Forbidden => ApiError::Forbidden,
            B::ChargeBudgetSpent { retry_after } => ApiError::RateLimited { retry_after },
            B::Store(store) => store.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::ConcertNotFound => ApiError::ConcertNotFound,
            CatalogError::Unavailable => ApiError::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_a_script_raises_maps_to_the_contracts_code() {
        for (code, err) in QueueError::SCRIPT_CODES {
            assert_eq!(ApiError::from(err.clone()).code(), *code);
        }
        for (code, err) in BookingError::SCRIPT_CODES {
            let expected = match *code {
                // Handled by the payment code (a new attempt); never a client's answer.
                "PAYMENT_ABANDONED" => "INTERNAL",
                code => code,
            };
            assert_eq!(ApiError::from(err.clone()).code(), expected);
        }
    }

    #[test]
    fn every_error_reply_in_lua_is_a_known_code() {
        let known: Vec<&str> = QueueError::SCRIPT_CODES
            .iter()
            .map(|(code, _)| *code)
            .chain(BookingError::SCRIPT_CODES.iter().map(|(code, _)| *code))
            .collect();
        let mut raised = 0;
        for dir in ["lua", "lua/lib"] {
            let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "lua") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("error_reply('").skip(1) {
                    let code: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    assert!(known.contains(&code.as_str()), "{code} in {path:?}");
                    raised += 1;
                }
            }
        }
        assert!(raised >= 15, "found only {raised} error replies under lua/");
    }

    #[test]
    fn redis_refusing_or_away_is_503_and_the_rest_hides_its_cause() {
        let refused = StoreError::Refused { code: "OOM".into() };
        assert_eq!(
            ApiError::from(refused).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let away = StoreError::Unavailable("timed out".into());
        assert_eq!(
            ApiError::from(away).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let odd = StoreError::Code {
            code: "WRONGTYPE".into(),
            detail: "secret detail".into(),
        };
        let err = ApiError::from(odd);
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message(), "internal error");
    }
}
