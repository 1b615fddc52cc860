//! The waiting queue: issuing tokens, reporting status and admitting buyers, each one
//! atomic Lua script (lua/issue_token.lua, lua/queue_status.lua, lua/activate.lua); the
//! signed queue tokens; the activation ticker every server runs; the pre-queue's draw and
//! opening; the operator's settings and figures (admin.rs); status polls answered from a
//! per-concert snapshot (snapshot.rs).

pub mod admin;
pub mod advice;
pub mod draw;
mod error;
pub mod fairness;
pub mod opening;
pub mod snapshot;
pub mod ticker;
pub mod token;

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;

use crate::config::Config;
use crate::store::{QueueKeys, Store, StoreError};
use draw::Draw;
pub use error::QueueError;
use snapshot::{SnapshotReply, StatusSnapshots};
pub use token::{Claims, TokenSigner};

/// Most lapsed or admitted buyers one activation tick handles per concert, and the longest
/// stretch of the line its idle sweep visits.
const ACTIVATION_BATCH: u64 = 1000;

/// With no idle timeout, how long the snapshot remembers a buyer it no longer hears from.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// How many times a call is made again when the script asks for the current draw.
const DRAW_ATTEMPTS: usize = 3;

/// The queue's tunables from the environment: the defaults of every concert without its
/// own (lua/lib/queue.lua queue_settings reads the concert's first), as ARGV 1 to 5 of
/// every queue script.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub max_active: u64,
    pub admit_per_sec: u64,
    pub active_ttl: Duration,
    pub idle_timeout: Duration,
    /// Most ACTIVE buyers per AVAILABLE seat.
    pub admit_per_available_seat: f64,
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
            admit_per_available_seat: config.admit_per_available_seat,
            activation_tick: config.activation_tick,
        }
    }

    /// The admission bucket holds a quarter second of admissions (at least one), enough to
    /// cover the gap between ticks without letting a burst outrun the rate (computed in
    /// lua/lib/queue.lua from the rate in force; here for tools and benches).
    pub fn bucket_capacity(&self) -> u64 {
        (self.admit_per_sec / 4).max(1)
    }

    /// Adds ARGV 1 to 5 of every queue script: the defaults.
    fn push_defaults(&self, invocation: &mut redis::ScriptInvocation<'_>) {
        invocation
            .arg(self.max_active)
            .arg(self.admit_per_sec)
            .arg(self.active_ttl.as_millis() as u64)
            .arg(self.idle_timeout.as_millis() as u64)
            .arg(self.admit_per_available_seat.to_string());
    }
}

/// Where a token stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueState {
    Waiting {
        position: u64,
        /// `None` when admission is switched off altogether.
        estimated_wait_secs: Option<u64>,
        /// The concert's idle timeout in force (its own setting, else the environment's;
        /// zero: never), which bounds the poll advice.
        idle_timeout: Duration,
    },
    Active {
        expires_at_ms: u64,
    },
    Expired,
    /// In the pre-queue, before `opensAt`: no position yet.
    PreQueue {
        opens_at_ms: u64,
    },
    /// WAITING or PRE_QUEUE when the concert's last seat sold.
    SoldOut,
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
    /// A pre-queue's entries are still to move into the line (src/queue/opening.rs).
    pub opening: bool,
}

/// The queue operations over one store.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    signer: TokenSigner,
    settings: QueueSettings,
    /// Each concert's pre-queue draw as last read (a draw never changes; a script that
    /// sees another epoch asks for the current one).
    draws: Cache<u64, Arc<Draw>>,
    /// With STATUS_SNAPSHOT=on: the snapshots WAITING polls far back are answered from, and
    /// the first positions always asked of Redis.
    snapshots: Option<(Arc<StatusSnapshots>, u64)>,
}

impl Queue {
    pub fn new(store: Store, signer: TokenSigner, settings: QueueSettings) -> Self {
        Queue {
            store,
            signer,
            settings,
            draws: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            snapshots: None,
        }
    }

    /// The queue answering WAITING polls beyond the first `exact_positions` from the
    /// per-concert snapshot the ticker refreshes (STATUS_SNAPSHOT=on).
    pub fn with_status_snapshot(mut self, exact_positions: u64) -> Self {
        self.snapshots = Some((Arc::default(), exact_positions.max(1)));
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Enters `user_id` into the concert's queue (its pre-queue before `opensAt`), or
    /// returns the live token it already has (a waiter silent past the idle timeout has
    /// none: it enters again at the back).
    #[tracing::instrument(name = "issue_queue_token", skip(self))]
    pub async fn issue_token(
        &self,
        user_id: u64,
        concert_id: u64,
    ) -> Result<IssuedToken, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let script = &self.store.scripts.issue_token;
        let reply: Vec<i64> = self
            .with_draw(concert_id, |draw| {
                let mut invocation = keys.invoke(script);
                self.settings.push_defaults(&mut invocation);
                invocation.arg(user_id);
                push_draw(&mut invocation, draw, user_id);
                invocation
            })
            .await?;
        let [status, created, seq, position, wait, at] = reply[..] else {
            return Err(StoreError::unexpected("issue_token", &reply).into());
        };
        let claims = Claims::new(concert_id, user_id, seq as u64);
        let state = match status {
            0 => waiting(position, wait, at),
            1 => QueueState::Active {
                expires_at_ms: at as u64,
            },
            2 => QueueState::PreQueue {
                opens_at_ms: at as u64,
            },
            _ => return Err(StoreError::unexpected("issue_token", &reply).into()),
        };
        Ok(IssuedToken {
            token: self.signer.sign(&claims),
            claims,
            created: created == 1,
            state,
        })
    }

    /// Where the token's holder stands; a WAITING answer also records the poll as presence.
    /// With the snapshot on, a WAITING token far back is answered from it (its sign of life
    /// recorded by the next tick), anything else by Redis.
    #[tracing::instrument(name = "poll_queue_status", skip(self))]
    pub async fn status(&self, claims: &Claims) -> Result<QueueState, QueueError> {
        let Some((snapshots, _)) = &self.snapshots else {
            return self.status_from_redis(claims).await;
        };
        if let Some(state) = snapshots.answer(claims, &self.settings, Instant::now()) {
            return Ok(state);
        }
        let state = self.status_from_redis(claims).await?;
        Ok(snapshots.remember(claims, state, Instant::now()))
    }

    /// Where the token's holder stands, as Redis says (lua/queue_status.lua).
    async fn status_from_redis(&self, claims: &Claims) -> Result<QueueState, QueueError> {
        let keys = self.store.keys.queue(claims.concert_id);
        let script = &self.store.scripts.queue_status;
        let reply: Vec<i64> = self
            .with_draw(claims.concert_id, |draw| {
                let mut invocation = keys.invoke(script);
                self.settings.push_defaults(&mut invocation);
                invocation.arg(claims.user_id).arg(claims.seq);
                push_draw(&mut invocation, draw, claims.user_id);
                invocation
            })
            .await?;
        match reply[..] {
            [0, position, wait, idle_ms] => Ok(waiting(position, wait, idle_ms)),
            [1, expires] => Ok(QueueState::Active {
                expires_at_ms: expires as u64,
            }),
            [2] => Ok(QueueState::Expired),
            [4, opens_at] => Ok(QueueState::PreQueue {
                opens_at_ms: opens_at as u64,
            }),
            [5] => Ok(QueueState::SoldOut),
            _ => Err(StoreError::unexpected("queue_status", &reply).into()),
        }
    }

    /// Runs a script that may need the concert's draw: first with the draw this server
    /// knows (if any); when the script answers that it needs the current one (a first
    /// element 3, or the string `DRAW`), reads it from Redis and runs the script again.
    pub(crate) async fn with_draw<'s, T: redis::FromRedisValue + NeedsDraw>(
        &self,
        concert_id: u64,
        invocation: impl Fn(Option<&Draw>) -> redis::ScriptInvocation<'s>,
    ) -> Result<T, QueueError> {
        let mut draw = self.draws.get(&concert_id).await;
        for _ in 0..DRAW_ATTEMPTS {
            let reply: T = self.store.invoke(&invocation(draw.as_deref())).await?;
            if !reply.needs_draw() {
                return Ok(reply);
            }
            draw = Some(self.read_draw(concert_id).await?);
        }
        Err(StoreError::bug(anyhow::anyhow!(
            "concert {concert_id}: the scripts kept asking for another draw"
        ))
        .into())
    }

    /// Reads the concert's current draw from Redis and remembers it.
    async fn read_draw(&self, concert_id: u64) -> Result<Arc<Draw>, QueueError> {
        let (epoch, seed): (Option<String>, Option<String>) = self
            .store
            .query(
                redis::cmd("HMGET")
                    .arg(self.store.keys.queue(concert_id).life)
                    .arg(draw::EPOCH_FIELD)
                    .arg(draw::SEED_FIELD),
            )
            .await?;
        let (Some(epoch), Some(seed)) = (epoch, seed.as_deref().and_then(draw::parse_hex32)) else {
            return Err(StoreError::bug(anyhow::anyhow!(
                "concert {concert_id}: a script asked for the draw, and there is none"
            ))
            .into());
        };
        let draw = Arc::new(Draw { epoch, seed });
        self.draws.insert(concert_id, draw.clone()).await;
        Ok(draw)
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

    /// Refreshes this server's snapshot of each of `concert_ids` and records the signs of
    /// life of the polls it answered since the last tick: one pipelined call of
    /// lua/queue_snapshot.lua. Signs of life a failed call did not record are kept for the
    /// next one. Nothing to do with the snapshot off.
    pub async fn refresh_snapshots(&self, concert_ids: &[u64]) -> Result<(), QueueError> {
        let Some((snapshots, exact)) = &self.snapshots else {
            return Ok(());
        };
        let keys: Vec<_> = concert_ids
            .iter()
            .map(|&id| self.store.keys.queue(id))
            .collect();
        let presence: Vec<_> = concert_ids
            .iter()
            .map(|&id| snapshots.take_presence(id))
            .collect();
        let invocations: Vec<_> = keys
            .iter()
            .zip(&presence)
            .map(|(keys, marks)| {
                let mut invocation = keys.invoke(&self.store.scripts.queue_snapshot);
                self.settings.push_defaults(&mut invocation);
                invocation
                    .arg(*exact)
                    .arg(snapshot::CHECKPOINT_STEP_PER_MILLE)
                    .arg(snapshot::MOST_CHECKPOINTS);
                for (user, seq) in marks {
                    invocation.arg(*user).arg(*seq);
                }
                invocation
            })
            .collect();
        let taken = Instant::now();
        let replies = match self
            .store
            .invoke_pipelined::<SnapshotReply>(&invocations)
            .await
        {
            Ok(replies) => replies,
            Err(err) => {
                for (&id, marks) in concert_ids.iter().zip(presence) {
                    snapshots.restore_presence(id, marks);
                }
                return Err(err.into());
            }
        };
        let mut first_error = None;
        for ((&id, reply), marks) in concert_ids.iter().zip(replies).zip(presence) {
            match reply {
                Ok(reply) => snapshots.refresh(id, reply, taken),
                Err(err) => {
                    snapshots.restore_presence(id, marks);
                    first_error = first_error.or(Some(err.into()));
                }
            }
        }
        let idle = self.settings.idle_timeout;
        snapshots.forget_silent(if idle.is_zero() { FORGET_AFTER } else { idle }, taken);
        first_error.map_or(Ok(()), Err)
    }

    /// The activate script's invocation for one concert's queue keys.
    fn activation(&self, keys: &QueueKeys) -> redis::ScriptInvocation<'_> {
        let mut invocation = keys.invoke_with_outbox(&self.store.scripts.activate);
        self.settings.push_defaults(&mut invocation);
        invocation
            .arg(ACTIVATION_BATCH)
            .arg(self.settings.activation_tick.as_millis() as u64);
        invocation
    }

    /// The `pollAfterMs` advice of a WAITING or PRE_QUEUE state at `now_ms` (Unix ms; none
    /// for the others).
    pub fn poll_after(&self, state: &QueueState, now_ms: u64) -> Option<Duration> {
        match state {
            QueueState::Waiting {
                estimated_wait_secs,
                idle_timeout,
                ..
            } => Some(advice::poll_after(*estimated_wait_secs, *idle_timeout)),
            QueueState::PreQueue { opens_at_ms } => {
                Some(advice::poll_before_opening(*opens_at_ms, now_ms))
            }
            _ => None,
        }
    }

    /// The state the token's concert-scoped checks need: ACTIVE or not.
    pub async fn require_active(&self, claims: &Claims) -> Result<u64, QueueError> {
        match self.status_from_redis(claims).await? {
            QueueState::Active { expires_at_ms } => Ok(expires_at_ms),
            _ => Err(QueueError::TokenNotActive),
        }
    }
}

fn parse_activation(reply: &[u64]) -> Result<Activation, QueueError> {
    let [admitted, expired_active, dropped_idle, waiting, active, opening] = reply[..] else {
        return Err(StoreError::unexpected("activate", &reply).into());
    };
    Ok(Activation {
        admitted,
        expired_active,
        dropped_idle,
        waiting,
        active,
        opening: opening == 1,
    })
}

/// Adds a script's last two ARGV: the draw's epoch and the user's HMAC under its seed
/// ('' and '' when this server knows no draw for the concert).
fn push_draw(invocation: &mut redis::ScriptInvocation<'_>, draw: Option<&Draw>, user_id: u64) {
    match draw {
        Some(draw) => invocation.arg(&draw.epoch).arg(draw.place_of(user_id)),
        None => invocation.arg("").arg(""),
    };
}

/// A script answer that may ask for the concert's current draw instead.
pub(crate) trait NeedsDraw {
    fn needs_draw(&self) -> bool;
}

impl NeedsDraw for Vec<i64> {
    fn needs_draw(&self) -> bool {
        self.first() == Some(&3)
    }
}

impl NeedsDraw for Vec<String> {
    fn needs_draw(&self) -> bool {
        self.first().is_some_and(|s| s == "DRAW")
    }
}

fn waiting(position: i64, wait: i64, idle_timeout_ms: i64) -> QueueState {
    QueueState::Waiting {
        position: position as u64,
        estimated_wait_secs: u64::try_from(wait).ok(),
        idle_timeout: Duration::from_millis(u64::try_from(idle_timeout_ms).unwrap_or(0)),
    }
}
