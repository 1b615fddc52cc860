//! What a booking operation can end in besides success: the refusals the booking scripts
//! raise (each under the code the script spells), the checks made before any script runs,
//! or a failure of Redis itself.

use crate::store::StoreError;

#[derive(Clone, Debug, thiserror::Error)]
pub enum BookingError {
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
    /// Another request's payment of this reservation is between its steps (Redis
    /// Cluster): it ends within moments, confirmed or HELD again.
    #[error("a payment of this reservation is under way")]
    PaymentInProgress,
    /// A payment attempt the sweeper abandoned first (lua/void_debit.lua); the payment
    /// code begins a new one, so no client sees it.
    #[error("the payment attempt was abandoned")]
    PaymentAbandoned,
    #[error("amount must be between 1 and {max}")]
    InvalidAmount { max: u64 },
    #[error("the Idempotency-Key was already used with another request")]
    IdempotencyConflict,
    #[error("Idempotency-Key must be 1 to {max_len} visible ASCII characters")]
    InvalidIdempotencyKey { max_len: usize },
    #[error("the charge would take the balance past its maximum")]
    BalanceLimit,
    #[error("the queue token is not active for this concert")]
    TokenNotActive,
    #[error("this resource belongs to another user")]
    Forbidden,
    /// The wallet took its `CHARGES_PER_USER_PER_MIN`; the script says when the next fits.
    #[error("this wallet's charge budget is spent for now")]
    ChargeBudgetSpent { retry_after: std::time::Duration },
    #[error(transparent)]
    Store(StoreError),
}

impl BookingError {
    /// Every code the booking scripts raise, with the error it stands for.
    pub const SCRIPT_CODES: &'static [(&'static str, BookingError)] = &[
        ("SCHEDULE_NOT_FOUND", BookingError::ScheduleNotFound),
        ("SEAT_NOT_FOUND", BookingError::SeatNotFound),
        ("SEAT_UNAVAILABLE", BookingError::SeatUnavailable),
        ("HOLD_LIMIT", BookingError::HoldLimit),
        ("RESERVATION_NOT_FOUND", BookingError::ReservationNotFound),
        ("HOLD_EXPIRED", BookingError::HoldExpired),
        ("ALREADY_CONFIRMED", BookingError::AlreadyConfirmed),
        ("NOT_HELD", BookingError::NotHeld),
        ("INSUFFICIENT_BALANCE", BookingError::InsufficientBalance),
        ("PAYMENT_IN_PROGRESS", BookingError::PaymentInProgress),
        ("PAYMENT_ABANDONED", BookingError::PaymentAbandoned),
        ("IDEMPOTENCY_CONFLICT", BookingError::IdempotencyConflict),
        ("BALANCE_LIMIT", BookingError::BalanceLimit),
        ("TOKEN_NOT_ACTIVE", BookingError::TokenNotActive),
        ("FORBIDDEN", BookingError::Forbidden),
        (
            "RATE_LIMITED",
            BookingError::ChargeBudgetSpent {
                retry_after: std::time::Duration::ZERO,
            },
        ),
    ];
}

impl From<StoreError> for BookingError {
    fn from(err: StoreError) -> Self {
        // `RATE_LIMITED <ms> ...`: the wait comes with the refusal.
        if let StoreError::Code { code, detail } = &err {
            if code == "RATE_LIMITED" {
                let wait_ms = detail
                    .split_whitespace()
                    .next()
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .unwrap_or(1000);
                return BookingError::ChargeBudgetSpent {
                    retry_after: std::time::Duration::from_millis(wait_ms),
                };
            }
        }
        err.code()
            .and_then(|code| {
                BookingError::SCRIPT_CODES
                    .iter()
                    .find(|(known, _)| *known == code)
            })
            .map(|(_, mapped)| mapped.clone())
            .unwrap_or(BookingError::Store(err))
    }
}
