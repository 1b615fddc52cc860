//! Paying for a hold from the wallet. On a single Redis one script does it all
//! (lua/pay_reservation.lua). On a Redis Cluster the wallet and the seat live in different
//! slots, so a payment runs in three steps, each one script in one slot: begin (the
//! reservation becomes PAYING, its seat locked), debit (the wallet pays, once per attempt),
//! confirm (the seat is SOLD); a refused debit aborts (HELD again). The sweeper
//! ([`Booking::settle_stuck_payments`]) finishes what a crash leaves between them.

use std::time::Duration;

use super::{ms, reservation_id, Booking, BookingError};
use crate::queue::Claims;
use crate::store::StoreError;

/// How long a payment in steps may stay PAYING before the sweeper settles it: far longer
/// than a live request takes between its steps. Settling early is safe all the same (a
/// late debit finds its tombstone), only less kind to a slow buyer.
pub const PAYING_GRACE: Duration = Duration::from_secs(30);

/// How long a PAYING seat stays locked at most in the seat map, should no sweeper settle
/// it (a seat whose payment is under way is never held by another buyer, lock or not).
const PAYING_LOCK: Duration = Duration::from_secs(600);

/// How long an attempt's debit record (or tombstone) is kept: far beyond any retry.
const DEBIT_RECORD_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

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

/// What step 1 of a payment in steps found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The reservation is PAYING under this attempt: debit, then confirm.
    Paying { attempt: u64, amount: u64 },
    /// It was paid already: the first answer.
    Confirmed(Payment),
}

/// What step 2 did: the debit's ledger entry and the balance after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debit {
    pub ledger_id: String,
    pub balance_after: u64,
}

/// What the sweeper did with one payment stuck PAYING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Its debit was taken: the sale is confirmed.
    Confirmed,
    /// No debit was taken (and now none can be): the reservation is HELD again.
    Abandoned,
    /// Nothing to do (another server settled it first).
    Nothing,
}

type PaymentReply = (i64, String, u64, u64, i64);

impl Booking {
    /// Pays the token user's held reservation; paying a confirmed one again repeats the
    /// answer. One script on a single Redis, three steps on a cluster (or when
    /// `PAYMENT_STEPS=steps`).
    #[tracing::instrument(name = "pay_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn pay(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Payment, BookingError> {
        if self.pays_in_steps() {
            return self.pay_in_steps(claims, reservation_id).await;
        }
        let concert_id = concert_of(reservation_id)?;
        let keys = &self.store.keys;
        let reply: PaymentReply = self
            .store
            .invoke(
                keys.payment(concert_id, reservation_id, claims.user_id)
                    .invoke_one_step(&self.store.scripts.pay_reservation)
                    .arg(claims.user_id)
                    .arg(claims.seq)
                    .arg(claims.concert_id)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(concert_id),
            )
            .await?;
        payment_of(reservation_id, reply, "pay_reservation")
    }

    /// Whether payments run in three steps here (a Redis Cluster, or `PAYMENT_STEPS=steps`);
    /// otherwise no reservation is ever PAYING and the sweeper has none to settle.
    pub fn pays_in_steps(&self) -> bool {
        self.settings.payment_in_steps || self.store.is_cluster()
    }

    /// The payment in three steps. A debit the sweeper voided first (the buyer's request
    /// was slower than [`PAYING_GRACE`]) begins once more under a new attempt.
    pub async fn pay_in_steps(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Payment, BookingError> {
        let mut tries = 0;
        loop {
            let (attempt, amount) = match self.begin_payment(claims, reservation_id).await? {
                Begun::Confirmed(payment) => return Ok(payment),
                Begun::Paying { attempt, amount } => (attempt, amount),
            };
            let debit = match self
                .debit_wallet(claims.user_id, reservation_id, attempt, amount)
                .await
            {
                Ok(debit) => debit,
                Err(BookingError::InsufficientBalance) => {
                    self.abort_payment(claims.user_id, reservation_id, attempt)
                        .await?;
                    return Err(BookingError::InsufficientBalance);
                }
                Err(BookingError::PaymentAbandoned) if tries == 0 => {
                    self.abort_payment(claims.user_id, reservation_id, attempt)
                        .await?;
                    tries += 1;
                    continue;
                }
                Err(err) => return Err(err),
            };
            return self
                .confirm_payment(claims.user_id, reservation_id, attempt, &debit)
                .await;
        }
    }

    /// Step 1, in the concert's slot: checks and marks the reservation PAYING.
    #[tracing::instrument(name = "begin_payment", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn begin_payment(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Begun, BookingError> {
        let concert_id = concert_of(reservation_id)?;
        let keys = &self.store.keys;
        let (kind, id, amount, balance): (String, String, u64, u64) = self
            .store
            .invoke(
                keys.payment(concert_id, reservation_id, claims.user_id)
                    .invoke_begin(&self.store.scripts.begin_payment)
                    .arg(claims.user_id)
                    .arg(claims.seq)
                    .arg(claims.concert_id)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(concert_id)
                    .arg(ms(PAYING_LOCK)),
            )
            .await?;
        match (kind.as_str(), id.parse::<u64>()) {
            ("paying", Ok(attempt)) => Ok(Begun::Paying { attempt, amount }),
            ("confirmed", _) => Ok(Begun::Confirmed(Payment {
                payment_id: id,
                reservation_id: reservation_id.to_string(),
                amount,
                balance,
                created: false,
                token_ended: false,
            })),
            _ => Err(StoreError::unexpected("begin_payment", &format!("{kind} {id}")).into()),
        }
    }

    /// Step 2, in the wallet's slot: takes `amount` for this attempt, once.
    #[tracing::instrument(name = "debit_wallet", skip(self))]
    pub async fn debit_wallet(
        &self,
        user_id: u64,
        reservation_id: &str,
        attempt: u64,
        amount: u64,
    ) -> Result<Debit, BookingError> {
        let keys = &self.store.keys;
        let (_created, ledger_id, balance_after): (i64, String, u64) = self
            .store
            .invoke(
                self.store
                    .scripts
                    .debit_wallet
                    .key(keys.wallet(user_id))
                    .key(keys.debit(user_id, reservation_id, attempt))
                    .arg(user_id)
                    .arg(amount)
                    .arg(ms(DEBIT_RECORD_TTL)),
            )
            .await?;
        Ok(Debit {
            ledger_id,
            balance_after,
        })
    }

    /// Step 3, in the concert's slot: sells the seat the attempt's debit paid for.
    #[tracing::instrument(name = "confirm_payment", skip(self, debit))]
    pub async fn confirm_payment(
        &self,
        user_id: u64,
        reservation_id: &str,
        attempt: u64,
        debit: &Debit,
    ) -> Result<Payment, BookingError> {
        let concert_id = concert_of(reservation_id)?;
        let keys = &self.store.keys;
        let reply: PaymentReply = self
            .store
            .invoke(
                keys.payment(concert_id, reservation_id, user_id)
                    .invoke_confirm(&self.store.scripts.confirm_payment)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(concert_id)
                    .arg(attempt)
                    .arg(&debit.ledger_id)
                    .arg(debit.balance_after),
            )
            .await?;
        payment_of(reservation_id, reply, "confirm_payment")
    }

    /// Undoes step 1 of an attempt that took no money: the reservation is HELD again.
    #[tracing::instrument(name = "abort_payment", skip(self))]
    pub async fn abort_payment(
        &self,
        user_id: u64,
        reservation_id: &str,
        attempt: u64,
    ) -> Result<bool, BookingError> {
        let concert_id = concert_of(reservation_id)?;
        let keys = &self.store.keys;
        let undone: i64 = self
            .store
            .invoke(
                keys.payment(concert_id, reservation_id, user_id)
                    .invoke_abort(&self.store.scripts.abort_payment)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(attempt),
            )
            .await?;
        Ok(undone == 1)
    }

    /// Settles the payments of one concert that have been PAYING for longer than
    /// `grace`: confirmed when their debit was taken, HELD again when not (the debit is
    /// voided first, so it can never be taken later). Returns what it did to each.
    #[tracing::instrument(name = "settle_stuck_payments", skip(self), level = "debug")]
    pub async fn settle_stuck_payments(
        &self,
        concert_id: u64,
        grace: Duration,
    ) -> Result<Vec<(String, Settled)>, BookingError> {
        let keys = &self.store.keys;
        let now_ms = self.store.now_ms().await?;
        let stuck: Vec<String> = self
            .store
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(keys.paying(concert_id))
                    .arg("-inf")
                    .arg(now_ms.saturating_sub(ms(grace)))
                    .arg("LIMIT")
                    .arg(0)
                    .arg(100),
            )
            .await?;
        let mut settled = Vec::with_capacity(stuck.len());
        for reservation_id in stuck {
            let outcome = self.settle_payment(concert_id, &reservation_id).await?;
            settled.push((reservation_id, outcome));
        }
        Ok(settled)
    }

    /// Settles one reservation's payment under way, whatever its age.
    pub async fn settle_payment(
        &self,
        concert_id: u64,
        reservation_id: &str,
    ) -> Result<Settled, BookingError> {
        let keys = &self.store.keys;
        let (status, user, attempt): (Option<String>, Option<u64>, Option<u64>) = self
            .store
            .query(
                redis::cmd("HMGET")
                    .arg(keys.reservation(concert_id, reservation_id))
                    .arg("status")
                    .arg("user")
                    .arg("payAttempt"),
            )
            .await?;
        let (Some(status), Some(user_id), Some(attempt)) = (status, user, attempt) else {
            // Gone: nothing to settle; forget it.
            self.forget_paying(concert_id, reservation_id).await?;
            return Ok(Settled::Nothing);
        };
        if status != "PAYING" {
            self.forget_paying(concert_id, reservation_id).await?;
            return Ok(Settled::Nothing);
        }
        let (kind, ledger_id, balance_after): (String, String, u64) = self
            .store
            .invoke(
                self.store
                    .scripts
                    .void_debit
                    .key(keys.debit(user_id, reservation_id, attempt))
                    .arg(ms(DEBIT_RECORD_TTL)),
            )
            .await?;
        match kind.as_str() {
            "debited" => {
                let debit = Debit {
                    ledger_id,
                    balance_after,
                };
                match self
                    .confirm_payment(user_id, reservation_id, attempt, &debit)
                    .await
                {
                    Ok(payment) if payment.created => Ok(Settled::Confirmed),
                    Ok(_) | Err(BookingError::PaymentAbandoned) => Ok(Settled::Nothing),
                    Err(err) => Err(err),
                }
            }
            "void" => {
                let undone = self.abort_payment(user_id, reservation_id, attempt).await?;
                Ok(if undone {
                    Settled::Abandoned
                } else {
                    Settled::Nothing
                })
            }
            _ => Err(StoreError::unexpected("void_debit", &kind).into()),
        }
    }

    /// Drops a reservation that is no longer PAYING from its concert's `paying` set.
    async fn forget_paying(
        &self,
        concert_id: u64,
        reservation_id: &str,
    ) -> Result<(), BookingError> {
        let _: i64 = self
            .store
            .query(
                redis::cmd("ZREM")
                    .arg(self.store.keys.paying(concert_id))
                    .arg(reservation_id),
            )
            .await?;
        Ok(())
    }
}

fn concert_of(reservation_id: &str) -> Result<u64, BookingError> {
    reservation_id::concert_of(reservation_id).ok_or(BookingError::ReservationNotFound)
}

fn payment_of(
    reservation_id: &str,
    (created, payment_id, amount, balance, token_ended): PaymentReply,
    script: &str,
) -> Result<Payment, BookingError> {
    if payment_id.is_empty() {
        return Err(StoreError::unexpected(script, &payment_id).into());
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
