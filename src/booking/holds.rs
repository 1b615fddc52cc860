//! Seat maps, holds and reservations: lua/seat_map.lua, lua/hold_seat.lua,
//! lua/cancel_reservation.lua, and a one-round-trip read of a reservation.

use std::collections::HashMap;

use super::record::ReservationRecord;
use super::{ms, reservation_id, Booking, BookingError, RETENTION};
use crate::queue::Claims;
use crate::store::StoreError;

/// A seat's live state, serialized as the contract spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Sold => "SOLD",
        }
    }
}

/// One seat of a seat map, serialized as the contract's seat object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_no: u64,
    pub price: u64,
    pub status: SeatStatus,
}

/// A hold: a new one, or the buyer's own live hold of that seat again (a retry).
#[derive(Clone, Debug)]
pub struct Hold {
    pub reservation_id: String,
    /// False when the seat was already this buyer's (live): the same hold, nothing written.
    pub created: bool,
    pub schedule_id: u64,
    pub seat_no: u64,
    pub price: u64,
    pub expires_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "HELD",
            ReservationStatus::Confirmed => "CONFIRMED",
            ReservationStatus::Expired => "EXPIRED",
            ReservationStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A reservation as its owner sees it; a lapsed hold reads EXPIRED.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub id: String,
    pub concert_id: u64,
    pub user_id: u64,
    pub schedule_id: u64,
    pub seat_no: u64,
    pub price: u64,
    pub status: ReservationStatus,
    pub held_at_ms: u64,
    pub expires_at_ms: u64,
    pub payment_id: Option<String>,
    pub confirmed_at_ms: Option<u64>,
}

impl Booking {
    /// Every seat of a schedule with its live status, for an ACTIVE token of its concert.
    #[tracing::instrument(name = "view_seat_map", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn seat_map(
        &self,
        claims: &Claims,
        schedule_id: u64,
    ) -> Result<Vec<Seat>, BookingError> {
        let concert_id = self.concert_of_token_schedule(claims, schedule_id).await?;
        let keys = self.store.keys.seat_map(concert_id, schedule_id);
        let reply: Vec<u64> = self
            .store
            .invoke(
                keys.invoke(&self.store.scripts.seat_map)
                    .arg(claims.user_id)
                    .arg(claims.seq),
            )
            .await?;
        if reply.len() % 3 != 0 {
            return Err(StoreError::unexpected("seat_map", &reply).into());
        }
        let mut seats: Vec<Seat> = reply
            .chunks_exact(3)
            .map(|c| Seat {
                seat_no: c[0],
                price: c[1],
                status: match c[2] {
                    0 => SeatStatus::Available,
                    1 => SeatStatus::Held,
                    _ => SeatStatus::Sold,
                },
            })
            .collect();
        seats.sort_by_key(|seat| seat.seat_no);
        Ok(seats)
    }

    /// The concert of a schedule, which must be the token's (403 TOKEN_NOT_ACTIVE otherwise).
    async fn concert_of_token_schedule(
        &self,
        claims: &Claims,
        schedule_id: u64,
    ) -> Result<u64, BookingError> {
        let concert_id = self.concert_of_schedule(schedule_id).await?;
        if concert_id != claims.concert_id {
            return Err(BookingError::TokenNotActive);
        }
        Ok(concert_id)
    }

    /// `(totalSeats, availableSeats)` of each schedule of one concert, live.
    pub async fn available_seats(
        &self,
        concert_id: u64,
        schedule_ids: &[u64],
    ) -> Result<Vec<(u64, u64)>, BookingError> {
        if schedule_ids.is_empty() {
            return Ok(Vec::new());
        }
        let invocation = self
            .store
            .keys
            .seat_counts(concert_id, schedule_ids)
            .invoke(&self.store.scripts.available_seats);
        let reply: Vec<u64> = self.store.invoke(&invocation).await?;
        if reply.len() != schedule_ids.len() * 2 {
            return Err(StoreError::unexpected("available_seats", &reply).into());
        }
        Ok(reply.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    /// Holds one seat for the token's user; a seat the user already holds (live) answers
    /// that hold again.
    #[tracing::instrument(name = "hold_seat", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn hold_seat(
        &self,
        claims: &Claims,
        schedule_id: u64,
        seat_no: u64,
    ) -> Result<Hold, BookingError> {
        let concert_id = self.concert_of_token_schedule(claims, schedule_id).await?;
        let keys = &self.store.keys;
        let mut invocation = keys
            .hold(concert_id, schedule_id, claims.user_id)
            .invoke(&self.store.scripts.hold_seat);
        invocation
            .arg(claims.user_id)
            .arg(claims.seq)
            .arg(keys.concert_tag(concert_id))
            .arg(concert_id)
            .arg(schedule_id)
            .arg(seat_no)
            .arg(ms(self.settings.hold_ttl))
            .arg(self.settings.holds_per_user)
            .arg(ms(RETENTION));
        let (reservation_id, price, expires_at_ms, created): (String, u64, u64, u8) =
            self.store.invoke(&invocation).await?;
        Ok(Hold {
            reservation_id,
            created: created == 1,
            schedule_id,
            seat_no,
            price,
            expires_at_ms,
        })
    }

    /// The reservation, for its owner only (any genuine token of theirs).
    #[tracing::instrument(name = "view_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn reservation(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Reservation, BookingError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(BookingError::ReservationNotFound)?;
        let key = self.store.keys.reservation(concert_id, reservation_id);
        let ((secs, micros), fields): ((u64, u64), HashMap<String, String>) = self
            .store
            .pipeline(redis::pipe().atomic().cmd("TIME").hgetall(&key))
            .await?;
        if fields.is_empty() {
            return Err(BookingError::ReservationNotFound);
        }
        let now_ms = secs * 1000 + micros / 1000;
        let reservation = ReservationRecord::from_fields(&fields)
            .and_then(|record| Reservation::from_record(record, now_ms))
            .ok_or_else(|| StoreError::unexpected("reservation hash", &fields))?;
        if reservation.user_id != claims.user_id {
            return Err(BookingError::Forbidden);
        }
        Ok(reservation)
    }

    /// Cancels a reservation of the token's user; a live hold frees its seat at once.
    #[tracing::instrument(name = "cancel_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn cancel(&self, claims: &Claims, reservation_id: &str) -> Result<(), BookingError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(BookingError::ReservationNotFound)?;
        let keys = &self.store.keys;
        let _released: i64 = self
            .store
            .invoke(
                self.store
                    .scripts
                    .cancel_reservation
                    .key(keys.reservation(concert_id, reservation_id))
                    .arg(claims.user_id)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(ms(RETENTION)),
            )
            .await?;
        Ok(())
    }
}

impl Reservation {
    /// The reservation a record stands for at `now_ms`: a HELD record whose time ran out
    /// reads EXPIRED; a PAYING one (a payment between its steps) reads HELD, its seat
    /// locked whatever its time.
    fn from_record(record: ReservationRecord, now_ms: u64) -> Option<Reservation> {
        let status = match record.status.as_str() {
            "HELD" if record.expires_ms > now_ms => ReservationStatus::Held,
            "PAYING" => ReservationStatus::Held,
            "HELD" | "EXPIRED" => ReservationStatus::Expired,
            "CONFIRMED" => ReservationStatus::Confirmed,
            "CANCELLED" => ReservationStatus::Cancelled,
            _ => return None,
        };
        Some(Reservation {
            id: record.id,
            concert_id: record.concert_id,
            user_id: record.user_id,
            schedule_id: record.schedule_id,
            seat_no: record.seat_no,
            price: record.price,
            status,
            held_at_ms: record.held_at_ms,
            expires_at_ms: record.expires_ms,
            payment_id: record.payment.as_ref().map(|p| p.payment_id.clone()),
            confirmed_at_ms: record.payment.as_ref().map(|p| p.confirmed_at_ms),
        })
    }
}
