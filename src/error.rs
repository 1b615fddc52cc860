//! The one error type every HTTP handler returns, with its single status mapping.

use std::time::Duration;

use hyper::StatusCode;

/// Everything a request can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such route")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("too many requests; retry later")]
    RateLimited { retry_after: Duration },
    #[error("a backing service is unavailable; retry later")]
    Unavailable,
    #[error("missing, malformed or forged queue token")]
    InvalidToken,
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
    #[error("amount must be between 1 and {max}")]
    InvalidAmount { max: u64 },
    #[error("the Idempotency-Key was already used with another request")]
    IdempotencyConflict,
    #[error("the charge would take the balance past its maximum")]
    BalanceLimit,
    /// The concert's line has been non-empty for 25 days on end (lua/lib/queue.lua).
    #[error("the concert's queue cannot take new entries until its line drains")]
    QueueFull,
    /// A bug or an unexpected backend answer: logged, never shown to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status for this error; the only place statuses are chosen.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            NotFound | ConcertNotFound | ScheduleNotFound | SeatNotFound | ReservationNotFound => {
                StatusCode::NOT_FOUND
            }
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BadRequest(_) | InvalidAmount { .. } => StatusCode::BAD_REQUEST,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Unavailable | QueueFull => StatusCode::SERVICE_UNAVAILABLE,
            InvalidToken => StatusCode::UNAUTHORIZED,
            TokenNotActive | Forbidden => StatusCode::FORBIDDEN,
            SeatUnavailable | HoldLimit | HoldExpired | AlreadyConfirmed | NotHeld
            | IdempotencyConflict | BalanceLimit => StatusCode::CONFLICT,
            InsufficientBalance => StatusCode::PAYMENT_REQUIRED,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error.code` of the contract.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            BadRequest(_) => "BAD_REQUEST",
            PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            RateLimited { .. } => "RATE_LIMITED",
            Unavailable => "UNAVAILABLE",
            InvalidToken => "INVALID_TOKEN",
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
            InvalidAmount { .. } => "INVALID_AMOUNT",
            IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            BalanceLimit => "BALANCE_LIMIT",
            QueueFull => "QUEUE_FULL",
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

    /// A copy of this error, for the callers that shared one failed load of a cache.
    pub fn shared_copy(&self) -> ApiError {
        use ApiError::*;
        match self {
            NotFound => NotFound,
            MethodNotAllowed => MethodNotAllowed,
            BadRequest(message) => BadRequest(message.clone()),
            PayloadTooLarge(limit) => PayloadTooLarge(*limit),
            RateLimited { retry_after } => RateLimited {
                retry_after: *retry_after,
            },
            Unavailable => Unavailable,
            InvalidToken => InvalidToken,
            InvalidAmount { max } => InvalidAmount { max: *max },
            Internal(cause) => Internal(anyhow::anyhow!("{cause:#}")),
            other => ApiError::from_script_code(other.code())
                .unwrap_or_else(|| Internal(anyhow::anyhow!("{other}"))),
        }
    }

    /// Maps the error code a Lua script raised (`redis.error_reply('CODE ...')`) to its error.
    pub fn from_script_code(code: &str) -> Option<ApiError> {
        use ApiError::*;
        Some(match code {
            "CONCERT_NOT_FOUND" => ConcertNotFound,
            "SCHEDULE_NOT_FOUND" => ScheduleNotFound,
            "SEAT_NOT_FOUND" => SeatNotFound,
            "SEAT_UNAVAILABLE" => SeatUnavailable,
            "HOLD_LIMIT" => HoldLimit,
            "RESERVATION_NOT_FOUND" => ReservationNotFound,
            "HOLD_EXPIRED" => HoldExpired,
            "ALREADY_CONFIRMED" => AlreadyConfirmed,
            "NOT_HELD" => NotHeld,
            "INSUFFICIENT_BALANCE" => InsufficientBalance,
            "TOKEN_NOT_ACTIVE" => TokenNotActive,
            "FORBIDDEN" => Forbidden,
            "IDEMPOTENCY_CONFLICT" => IdempotencyConflict,
            "BALANCE_LIMIT" => BalanceLimit,
            "QUEUE_FULL" => QueueFull,
            _ => return None,
        })
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        if let Some(domain) = err.code().and_then(ApiError::from_script_code) {
            return domain;
        }
        if err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_timeout()
            || err.is_unrecoverable_error()
        {
            tracing::warn!(error = %err, "redis unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(anyhow::Error::new(err).context("redis command failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_code_maps_back_to_itself() {
        for code in [
            "CONCERT_NOT_FOUND",
            "SCHEDULE_NOT_FOUND",
            "SEAT_NOT_FOUND",
            "SEAT_UNAVAILABLE",
            "HOLD_LIMIT",
            "RESERVATION_NOT_FOUND",
            "HOLD_EXPIRED",
            "ALREADY_CONFIRMED",
            "NOT_HELD",
            "INSUFFICIENT_BALANCE",
            "TOKEN_NOT_ACTIVE",
            "FORBIDDEN",
            "IDEMPOTENCY_CONFLICT",
            "BALANCE_LIMIT",
            "QUEUE_FULL",
        ] {
            assert_eq!(ApiError::from_script_code(code).unwrap().code(), code);
        }
        assert!(ApiError::from_script_code("ERR").is_none());
    }

    #[test]
    fn a_shared_copy_keeps_code_and_status() {
        for err in [
            ApiError::ScheduleNotFound,
            ApiError::Unavailable,
            ApiError::BadRequest("x".into()),
            ApiError::Internal(anyhow::anyhow!("boom")),
        ] {
            let copy = err.shared_copy();
            assert_eq!(copy.code(), err.code());
            assert_eq!(copy.status(), err.status());
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::Internal(anyhow::anyhow!("secret detail"));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message(), "internal error");
    }
}
