//! Paying for a hold from the wallet: lua/pay_reservation.lua, all or nothing.

use super::{reservation_id, Booking, BookingError};
use crate::queue::Claims;
use crate::store::StoreError;

/// The answer to a payment; `created` is false when it repeats an earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: u64,
    pub balance: u64,
    pub created: bool,
    pub token_ended: bool,
}

impl Booking {
    /// Pays the token user's held reservation; paying a confirmed one again repeats the answer.
    #[tracing::instrument(name = "pay_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn pay(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Payment, BookingError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(BookingError::ReservationNotFound)?;
        // The concert's slot, the wallet's, the outbox's and the rankings': not one script
        // on a cluster (yet: the two-step payment of issue 14).
        self.store.require_single_node("payments are")?;
        let keys = &self.store.keys;
        let (created, payment_id, amount, balance, token_ended): (i64, String, u64, u64, i64) =
            self.store
                .invoke(
                    keys.payment(concert_id, reservation_id, claims.user_id)
                        .invoke(&self.store.scripts.pay_reservation)
                        .arg(claims.user_id)
                        .arg(claims.seq)
                        .arg(claims.concert_id)
                        .arg(keys.concert_tag(concert_id))
                        .arg(reservation_id)
                        .arg(concert_id),
                )
                .await?;
        if payment_id.is_empty() {
            return Err(StoreError::unexpected("pay_reservation", &payment_id).into());
        }
        Ok(Payment {
            payment_id,
            reservation_id: reservation_id.to_string(),
            amount,
            balance,
            created: created == 1,
            token_ended: token_ended == 1,
        })
    }
}
