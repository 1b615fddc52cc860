//! Paying for a hold from the wallet: lua/pay_reservation.lua, all or nothing.

use super::{reservation_id, unexpected, Booking};
use crate::error::ApiError;
use crate::token::Claims;

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
    pub async fn pay(&self, claims: &Claims, reservation_id: &str) -> Result<Payment, ApiError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(ApiError::ReservationNotFound)?;
        let keys = &self.store.keys;
        let queue = keys.queue(concert_id);
        let (created, payment_id, amount, balance, token_ended): (i64, String, u64, u64, i64) =
            self.store
                .invoke(
                    self.store
                        .scripts
                        .pay_reservation
                        .key(keys.reservation(concert_id, reservation_id))
                        .key(&queue.active)
                        .key(&queue.active_seq)
                        .key(keys.wallet(claims.user_id))
                        .key(keys.outbox())
                        .key(keys.ranking_sales())
                        .key(keys.ranking_soldout())
                        .key(keys.user_holds(concert_id, claims.user_id))
                        .arg(claims.user_id)
                        .arg(claims.seq)
                        .arg(claims.concert_id)
                        .arg(keys.concert_tag(concert_id))
                        .arg(reservation_id)
                        .arg(concert_id),
                )
                .await?;
        if payment_id.is_empty() {
            return Err(unexpected("pay_reservation", &payment_id));
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
