//! Wallets: balances in Redis, charged by lua/charge_wallet.lua with an optional
//! `Idempotency-Key`, a charge budget per wallet and a bounded number of remembered keys.

use super::{ms, Booking, BookingError, RETENTION};
use crate::config::MAX_BALANCE;

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// The answer to a charge; `created` is false when an `Idempotency-Key` repeated it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    pub balance: u64,
    pub created: bool,
}

impl Booking {
    /// The user's balance; 0 for a user never charged.
    pub async fn balance(&self, user_id: u64) -> Result<u64, BookingError> {
        let balance: Option<u64> = self
            .store
            .query(
                redis::cmd("HGET")
                    .arg(self.store.keys.wallet(user_id))
                    .arg("balance"),
            )
            .await?;
        Ok(balance.unwrap_or(0))
    }

    /// Adds `amount` (1 to CHARGE_MAX) to the wallet, once per `idempotency_key`, within
    /// the wallet's charge budget.
    #[tracing::instrument(name = "charge_wallet", skip(self))]
    pub async fn charge(
        &self,
        user_id: u64,
        amount: u64,
        idempotency_key: Option<&str>,
    ) -> Result<Charge, BookingError> {
        if !(1..=self.settings.charge_max).contains(&amount) {
            return Err(BookingError::InvalidAmount {
                max: self.settings.charge_max,
            });
        }
        if let Some(key) = idempotency_key {
            check_idempotency_key(key)?;
        }
        let mut invocation = self
            .store
            .keys
            .charge(user_id, idempotency_key)
            .invoke(&self.store.scripts.charge_wallet);
        invocation
            .arg(user_id)
            .arg(amount)
            .arg(MAX_BALANCE)
            .arg(idempotency_key.unwrap_or(""))
            .arg(ms(RETENTION))
            .arg(self.settings.charges_per_user_per_min)
            .arg(self.settings.idempotency_keys_per_user);
        let (created, balance): (i64, u64) = self.store.invoke(&invocation).await?;
        Ok(Charge {
            balance,
            created: created == 1,
        })
    }
}

/// 1 to 200 visible ASCII characters.
fn check_idempotency_key(key: &str) -> Result<(), BookingError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(BookingError::InvalidIdempotencyKey {
            max_len: MAX_IDEMPOTENCY_KEY_LEN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::check_idempotency_key;

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert!(check_idempotency_key("order-42:retry").is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(200)).is_ok());
        assert!(check_idempotency_key(&"k".repeat(201)).is_err());
        assert!(check_idempotency_key("caf\u{e9}").is_err());
    }
}
