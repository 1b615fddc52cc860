//! The waiting queue: issuing tokens, reporting status and admitting buyers, each one
//! atomic Lua script (lua/issue_token.lua, lua/queue_status.lua, lua/activate.lua); the
//! signed queue tokens; the activation ticker every server runs.

pub mod advice;
mod error;
pub mod ticker;
pub mod token;

use std::time::Duration;

use crate::config::Config;
use crate::store::{QueueKeys, Store, StoreError};
pub use error::QueueError;
pub use token::{Claims, TokenSigner};

/// Most lapsed or admitted buyers one activation tick handles per concert, and the longest
/// stretch of the line its idle sweep visits.
const ACTIVATION_BATCH: u64 = 1000;

/// The queue's tunables, as the scripts take them.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub max_active: u64,
    pub admit_per_sec: u64,
    pub active_ttl: Duration,
    pub idle_timeout: Duration,
    /// How often the activation ticker runs; the idle sweep sizes its stretch by it.
    pub activation_tick: Duration,
}

impl QueueSettings {
    pub fn from_config(config: &Config) -> Self {
        QueueSettings {
            max_active: config.queue_max_active,
            admit_per_sec: config.queue_admit_per_sec,
            active_ttl: config.active_ttl,
            idle_timeout: config.wait_idle_timeout,
            activation_tick: config.activation_tick,
        }
    }

    /// The admission bucket holds a quarter second of admissions (at least one), enough to
    /// cover the gap between ticks without letting a burst outrun the rate.
    pub fn bucket_capacity(&self) -> u64 {
        (self.admit_per_sec / 4).max(1)
    }

    fn ttl_ms(&self) -> u64 {
        self.active_ttl.as_millis() as u64
    }
}

/// Where a token stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueState {
    Waiting {
        position: u64,
        /// `None` when admission is switched off altogether.
        estimated_wait_secs: Option<u64>,
    },
    Active {
        expires_at_ms: u64,
    },
    Expired,
}

/// The answer to a token request.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
    pub created: bool,
    pub state: QueueState,
}

/// What one activation tick did to one concert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activation {
    pub admitted: u64,
    pub expired_active: u64,
    pub dropped_idle: u64,
    pub waiting: u64,
    pub active: u64,
}

/// The queue operations over one store.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    signer: TokenSigner,
    settings: QueueSettings,
}

impl Queue {
    pub fn new(store: Store, signer: TokenSigner, settings: QueueSettings) -> Self {
        Queue {
            store,
            signer,
            settings,
        }
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Enters `user_id` into the concert's queue, or returns the live token it already has
    /// (a waiter silent past the idle timeout has none: it enters again at the back).
    #[tracing::instrument(name = "issue_queue_token", skip(self))]
    pub async fn issue_token(
        &self,
        user_id: u64,
        concert_id: u64,
    ) -> Result<IssuedToken, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let s = &self.settings;
        let reply: Vec<i64> = self
            .store
            .invoke(
                keys.invoke(&self.store.scripts.issue_token)
                    .arg(user_id)
                    .arg(s.max_active)
                    .arg(s.admit_per_sec)
                    .arg(s.ttl_ms())
                    .arg(s.bucket_capacity())
                    .arg(s.idle_timeout.as_millis() as u64),
            )
            .await?;
        let [status, created, seq, position, wait, expires] = reply[..] else {
            return Err(StoreError::unexpected("issue_token", &reply).into());
        };
        let claims = Claims::new(concert_id, user_id, seq as u64);
        let state = match status {
            0 => waiting(position, wait),
            _ => QueueState::Active {
                expires_at_ms: expires as u64,
            },
        };
        Ok(IssuedToken {
            token: self.signer.sign(&claims),
            claims,
            created: created == 1,
            state,
        })
    }

    /// Where the token's holder stands; a WAITING answer also records the poll as presence.
    #[tracing::instrument(name = "poll_queue_status", skip(self))]
    pub async fn status(&self, claims: &Claims) -> Result<QueueState, QueueError> {
        let keys = self.store.keys.queue(claims.concert_id);
        let s = &self.settings;
        let reply: Vec<i64> = self
            .store
            .invoke(
                keys.invoke(&self.store.scripts.queue_status)
                    .arg(claims.user_id)
                    .arg(claims.seq)
                    .arg(s.admit_per_sec)
                    .arg(s.max_active)
                    .arg(s.ttl_ms())
                    .arg(s.idle_timeout.as_millis() as u64),
            )
            .await?;
        match reply[..] {
            [0, position, wait] => Ok(waiting(position, wait)),
            [1, expires] => Ok(QueueState::Active {
                expires_at_ms: expires as u64,
            }),
            [2] => Ok(QueueState::Expired),
            _ => Err(StoreError::unexpected("queue_status", &reply).into()),
        }
    }

    /// One activation tick for one concert.
    #[tracing::instrument(name = "admit_waiting_buyers", skip(self), level = "debug")]
    pub async fn activate(&self, concert_id: u64) -> Result<Activation, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let reply: Vec<u64> = self.store.invoke(&self.activation(&keys)).await?;
        parse_activation(&reply)
    }

    /// One activation tick for each of `concert_ids`, as one explicit pipeline of
    /// EVALSHAs (one round trip for all); each concert gets its own outcome.
    pub async fn activate_pipelined(
        &self,
        concert_ids: &[u64],
    ) -> Result<Vec<Result<Activation, QueueError>>, QueueError> {
        let keys: Vec<_> = concert_ids
            .iter()
            .map(|&id| self.store.keys.queue(id))
            .collect();
        let invocations: Vec<_> = keys.iter().map(|k| self.activation(k)).collect();
        let replies = self
            .store
            .invoke_pipelined::<Vec<u64>>(&invocations)
            .await?;
        Ok(replies
            .into_iter()
            .map(|reply| {
                reply
                    .map_err(QueueError::from)
                    .and_then(|r| parse_activation(&r))
            })
            .collect())
    }

    /// The activate script's invocation for one concert's queue keys.
    fn activation(&self, keys: &QueueKeys) -> redis::ScriptInvocation<'_> {
        let s = &self.settings;
        let mut invocation = keys.invoke(&self.store.scripts.activate);
        invocation
            .arg(s.max_active)
            .arg(s.admit_per_sec)
            .arg(s.ttl_ms())
            .arg(s.idle_timeout.as_millis() as u64)
            .arg(s.bucket_capacity())
            .arg(ACTIVATION_BATCH)
            .arg(s.activation_tick.as_millis() as u64);
        invocation
    }

    /// The `pollAfterMs` advice of a WAITING state (none for the others).
    pub fn poll_after(&self, state: &QueueState) -> Option<Duration> {
        match state {
            QueueState::Waiting {
                estimated_wait_secs,
                ..
            } => Some(advice::poll_after(
                *estimated_wait_secs,
                self.settings.idle_timeout,
            )),
            _ => None,
        }
    }

    /// The state the token's concert-scoped checks need: ACTIVE or not.
    pub async fn require_active(&self, claims: &Claims) -> Result<u64, QueueError> {
        match self.status(claims).await? {
            QueueState::Active { expires_at_ms } => Ok(expires_at_ms),
            _ => Err(QueueError::TokenNotActive),
        }
    }
}

fn parse_activation(reply: &[u64]) -> Result<Activation, QueueError> {
    let [admitted, expired_active, dropped_idle, waiting, active] = reply[..] else {
        return Err(StoreError::unexpected("activate", &reply).into());
    };
    Ok(Activation {
        admitted,
        expired_active,
        dropped_idle,
        waiting,
        active,
    })
}

fn waiting(position: i64, wait: i64) -> QueueState {
    QueueState::Waiting {
        position: position as u64,
        estimated_wait_secs: u64::try_from(wait).ok(),
    }
}
