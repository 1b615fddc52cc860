//! Booking: live seat maps, seat holds, reservations, wallets, payments and rankings. Every
//! state change is one atomic Lua script (lua/hold_seat.lua, lua/pay_reservation.lua, ...);
//! reads are one round trip.

mod error;
mod holds;
pub mod payment;
mod ranking;
pub mod record;
pub mod reservation_id;
pub mod sweeper;
mod wallet;

use std::time::Duration;

use moka::future::Cache;

use crate::config::Config;
use crate::store::Store;
pub use error::BookingError;

pub use holds::{Hold, Reservation, ReservationStatus, Seat, SeatStatus};
pub use payment::{Begun, Debit, Payment, Settled, PAYING_GRACE};
pub use ranking::{RankBy, RankEntry};
pub use wallet::Charge;

/// How long a cancelled or expired reservation stays readable, and how long a charge's
/// `Idempotency-Key` is remembered (`restore` brings back the answers younger than this).
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The booking tunables, as the scripts take them.
#[derive(Clone, Debug)]
pub struct BookingSettings {
    pub holds_per_user: u64,
    pub hold_ttl: Duration,
    pub charge_max: u64,
    /// Charges one wallet takes per minute, across servers; 0: no budget.
    pub charges_per_user_per_min: u32,
    /// Idempotency-Key answers kept per user (the oldest evicted beyond).
    pub idempotency_keys_per_user: u32,
    /// Payments in three steps even on a single Redis (they always are on a cluster).
    pub payment_in_steps: bool,
}

impl BookingSettings {
    pub fn from_config(config: &Config) -> Self {
        BookingSettings {
            holds_per_user: config.holds_per_user,
            hold_ttl: config.hold_ttl,
            charge_max: config.charge_max,
            charges_per_user_per_min: config.charges_per_user_per_min,
            idempotency_keys_per_user: config.idempotency_keys_per_user,
            payment_in_steps: config.payment_steps == crate::config::PaymentSteps::Steps,
        }
    }
}

/// The booking operations over one store.
#[derive(Clone)]
pub struct Booking {
    store: Store,
    settings: BookingSettings,
    /// scheduleId -> concertId: catalog facts that never change, so found schedules are
    /// kept; unknown ones are asked again.
    schedule_concerts: Cache<u64, u64>,
}

impl Booking {
    pub fn new(store: Store, settings: BookingSettings) -> Self {
        Booking {
            store,
            settings,
            schedule_concerts: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
        }
    }

    pub fn settings(&self) -> &BookingSettings {
        &self.settings
    }

    /// The concert a schedule belongs to; 404 SCHEDULE_NOT_FOUND when there is none.
    pub async fn concert_of_schedule(&self, schedule_id: u64) -> Result<u64, BookingError> {
        let lookup = async {
            let found: Option<u64> = self
                .store
                .query(
                    redis::cmd("HGET")
                        .arg(self.store.keys.schedule_concerts())
                        .arg(schedule_id),
                )
                .await?;
            found.ok_or(BookingError::ScheduleNotFound)
        };
        self.schedule_concerts
            .try_get_with(schedule_id, lookup)
            .await
            .map_err(|shared| (*shared).clone())
    }
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}
