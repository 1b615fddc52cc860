//! Status polls without a Redis round trip (STATUS_SNAPSHOT=on): each server keeps, per
//! concert, a snapshot taken every activation tick (lua/queue_snapshot.lua: the line's base
//! and rank checkpoints beyond the first STATUS_EXACT_POSITIONS, at most 1% apart) and
//! answers a WAITING poll far back from it, in process. Everything else asks Redis: a token
//! this server has not answered WAITING lately, one near the head, one the snapshot cannot
//! place (admitted, dropped, joined since), a pre-queue or sold-out concert, a stale
//! snapshot. The signs of life of the polls answered here are batched per concert and
//! recorded by the next tick's snapshot call, which names the buyers no longer in the line
//! so their next poll goes to Redis. A buyer's sign is sent at most once per quarter of the
//! concert's idle timeout (the idle drop needs no more, and each costs Redis a few
//! microseconds: docs/performance.md, section 13); a buyer evicted from the line is named
//! by the next snapshot call all the same (`q:evicted`). A position answered here is
//! an upper bound (the checkpoint at or behind the buyer), never above the last one this
//! server answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{Claims, QueueSettings, QueueState};

/// Gap between checkpoints, in per mille of the rank: positions far back are within 1%.
pub const CHECKPOINT_STEP_PER_MILLE: u64 = 10;
/// Most checkpoints per snapshot (with a 1% step from 1,000: a line of 10^6 needs ~700).
pub const MOST_CHECKPOINTS: u64 = 2000;
/// A snapshot older than this many ticks is not used (the ticker is failing).
const STALE_AFTER_TICKS: u32 = 3;
/// How often the buyers not heard from are forgotten (a walk over all of them).
const FORGET_EVERY: Duration = Duration::from_secs(5);
/// How often a buyer's sign of life is sent when the concert drops nobody as idle (it
/// still tells this server when the buyer has left the line).
const SIGN_EVERY_WITHOUT_IDLE_DROP: Duration = Duration::from_secs(30);

/// The least time between two signs of life of one buyer from this server: a quarter of
/// the idle timeout, so a buyer who polls is never dropped as idle.
fn sign_every(idle_timeout: Duration) -> Duration {
    if idle_timeout.is_zero() {
        SIGN_EVERY_WITHOUT_IDLE_DROP
    } else {
        idle_timeout / 4
    }
}

/// One concert's snapshot.
#[derive(Debug)]
pub struct Snapshot {
    taken: Instant,
    base: u64,
    idle_timeout: Duration,
    /// Admissions per second a wait is estimated with; `None`: admission is off.
    rate: Option<f64>,
    /// (rank, line offset) pairs, both ascending.
    checkpoints: Vec<(u64, u64)>,
}

impl Snapshot {
    /// The position of the entry at `offset` (an upper bound within 1%), or `None` when the
    /// snapshot cannot place it: ahead of the first checkpoint (near the head, or no longer
    /// in the line) or behind the last (joined since).
    fn position_of(&self, offset: u64) -> Option<u64> {
        let after = self.checkpoints.partition_point(|&(_, o)| o <= offset);
        let &(rank, at) = self.checkpoints.get(after.checked_sub(1)?)?;
        if at == offset {
            return Some(rank + 1);
        }
        self.checkpoints.get(after).map(|&(next, _)| next)
    }
}

/// What this server last answered a waiting buyer.
#[derive(Clone, Copy, Debug)]
struct Answered {
    seq: u64,
    position: u64,
    at: Instant,
    /// When this server last sent (or Redis itself recorded) the buyer's sign of life.
    signed: Instant,
}

/// The snapshots, the buyers this server answered WAITING, and the signs of life to record.
#[derive(Default)]
pub struct StatusSnapshots {
    snapshots: DashMap<u64, Arc<Snapshot>>,
    answered: DashMap<(u64, u64), Answered>,
    /// Per concert: user -> seq of the polls answered here since the last tick.
    presence: Mutex<HashMap<u64, HashMap<u64, u64>>>,
    /// When the buyers not heard from were last forgotten.
    forgotten_at: Mutex<Option<Instant>>,
}

/// A snapshot script's reply: usable, base, idle_ms, rate, gone users, checkpoints.
pub type SnapshotReply = (i64, u64, u64, String, Vec<u64>, Vec<u64>);

impl StatusSnapshots {
    /// Answers a poll from the snapshot when it safely can (see the module's text).
    pub fn answer(
        &self,
        claims: &Claims,
        settings: &QueueSettings,
        now: Instant,
    ) -> Option<QueueState> {
        let key = (claims.concert_id, claims.user_id);
        let last = *self.answered.get(&key)?;
        let snapshot = self.snapshots.get(&claims.concert_id)?.clone();
        let fresh = now.saturating_duration_since(snapshot.taken)
            < settings.activation_tick * STALE_AFTER_TICKS;
        let present = snapshot.idle_timeout.is_zero()
            || now.saturating_duration_since(last.at) < snapshot.idle_timeout / 2;
        if last.seq != claims.seq || !fresh || !present {
            return None;
        }
        let offset = claims.seq.checked_sub(snapshot.base)?;
        let position = snapshot.position_of(offset)?.min(last.position);
        let sign = now.saturating_duration_since(last.signed) >= sign_every(snapshot.idle_timeout);
        self.answered.insert(
            key,
            Answered {
                position,
                at: now,
                signed: if sign { now } else { last.signed },
                ..last
            },
        );
        if sign {
            self.presence
                .lock()
                .expect("the presence lock is never poisoned")
                .entry(claims.concert_id)
                .or_default()
                .insert(claims.user_id, claims.seq);
        }
        Some(QueueState::Waiting {
            position,
            estimated_wait_secs: snapshot
                .rate
                .map(|rate| (position as f64 / rate).ceil() as u64),
            idle_timeout: snapshot.idle_timeout,
        })
    }

    /// Remembers what Redis answered: a WAITING answer lets the next polls of that token be
    /// answered here; any other forgets the buyer. Returns the state to answer, its
    /// position never above the last one answered here.
    pub fn remember(&self, claims: &Claims, state: QueueState, now: Instant) -> QueueState {
        let key = (claims.concert_id, claims.user_id);
        let QueueState::Waiting {
            position,
            estimated_wait_secs,
            idle_timeout,
        } = state
        else {
            self.answered.remove(&key);
            return state;
        };
        let position = match self.answered.get(&key).map(|a| *a) {
            Some(last) if last.seq == claims.seq => position.min(last.position),
            _ => position,
        };
        // Redis's own status script recorded the sign of life of this poll.
        self.answered.insert(
            key,
            Answered {
                seq: claims.seq,
                position,
                at: now,
                signed: now,
            },
        );
        QueueState::Waiting {
            position,
            estimated_wait_secs,
            idle_timeout,
        }
    }

    /// The signs of life to record for `concert_id` (taken: the caller records them).
    pub fn take_presence(&self, concert_id: u64) -> Vec<(u64, u64)> {
        self.presence
            .lock()
            .expect("the presence lock is never poisoned")
            .remove(&concert_id)
            .map(|users| users.into_iter().collect())
            .unwrap_or_default()
    }

    /// Puts back signs of life a failed call did not record (newer ones win).
    pub fn restore_presence(&self, concert_id: u64, marks: Vec<(u64, u64)>) {
        if marks.is_empty() {
            return;
        }
        let mut presence = self
            .presence
            .lock()
            .expect("the presence lock is never poisoned");
        let users = presence.entry(concert_id).or_default();
        for (user, seq) in marks {
            users.entry(user).or_insert(seq);
        }
    }

    /// Keeps a snapshot script's reply for `concert_id`, taken at `taken`; forgets the
    /// buyers it says are gone, and (once per tick) those not answered for an idle timeout.
    pub fn refresh(&self, concert_id: u64, reply: SnapshotReply, taken: Instant) {
        let (usable, base, idle_ms, rate, gone, flat) = reply;
        for user in gone {
            self.answered.remove(&(concert_id, user));
        }
        if usable != 1 {
            self.snapshots.remove(&concert_id);
            return;
        }
        let checkpoints = flat.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        let idle_timeout = Duration::from_millis(idle_ms);
        self.snapshots.insert(
            concert_id,
            Arc::new(Snapshot {
                taken,
                base,
                idle_timeout,
                rate: rate.parse().ok().filter(|r: &f64| *r > 0.0),
                checkpoints,
            }),
        );
    }

    /// Forgets buyers this server has not answered for `older_than` (every few seconds at
    /// most: it walks them all).
    pub fn forget_silent(&self, older_than: Duration, now: Instant) {
        {
            let mut at = self
                .forgotten_at
                .lock()
                .expect("the forget lock is never poisoned");
            if at.is_some_and(|at| now.saturating_duration_since(at) < FORGET_EVERY) {
                return;
            }
            *at = Some(now);
        }
        self.answered
            .retain(|_, a| now.saturating_duration_since(a.at) < older_than);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(checkpoints: &[(u64, u64)]) -> Snapshot {
        Snapshot {
            taken: Instant::now(),
            base: 0,
            idle_timeout: Duration::ZERO,
            rate: Some(10.0),
            checkpoints: checkpoints.to_vec(),
        }
    }

    fn waiting(position: u64) -> QueueState {
        QueueState::Waiting {
            position,
            estimated_wait_secs: None,
            idle_timeout: Duration::from_secs(120),
        }
    }

    #[test]
    fn a_buyers_sign_of_life_is_sent_once_per_quarter_idle_timeout() {
        let snapshots = StatusSnapshots::default();
        let claims = Claims {
            concert_id: 7,
            user_id: 42,
            seq: 5_000,
            issued_at: 0,
        };
        let settings = QueueSettings {
            max_active: 10,
            admit_per_sec: 10,
            active_ttl: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(120),
            admit_per_available_seat: 1.0,
            activation_tick: Duration::from_millis(100),
        };
        let start = Instant::now();
        let reply = |base: u64| -> SnapshotReply {
            (
                1,
                base,
                120_000,
                "10".into(),
                vec![],
                vec![1000, 4000, 1010, 5000, 1020, 6000],
            )
        };
        // Redis answered the first poll (and recorded its sign of life itself).
        snapshots.remember(&claims, waiting(1005), start);
        let mut signs = 0;
        // A poll every 5 s for 2 minutes, each answered from a fresh snapshot.
        for i in 1..=24u32 {
            let now = start + Duration::from_secs(5) * i;
            snapshots.refresh(7, reply(0), now);
            let answer = snapshots.answer(&claims, &settings, now);
            assert!(
                matches!(answer, Some(QueueState::Waiting { .. })),
                "poll {i}: {answer:?}"
            );
            let taken = snapshots.take_presence(7);
            if !taken.is_empty() {
                assert_eq!(taken, vec![(42, 5_000)]);
                assert_eq!(i % 6, 0, "a sign every 30 s (120 s / 4), not at poll {i}");
                signs += 1;
            }
        }
        assert_eq!(signs, 4, "24 polls over 2 minutes, 4 signs of life");
    }

    #[test]
    fn places_an_entry_at_or_behind_its_checkpoint() {
        let s = snapshot(&[(1000, 5000), (1010, 5030), (1020, 5100)]);
        assert_eq!(s.position_of(5000), Some(1001), "on a checkpoint: exact");
        assert_eq!(
            s.position_of(5001),
            Some(1010),
            "between: the next checkpoint"
        );
        assert_eq!(s.position_of(5099), Some(1020));
        assert_eq!(s.position_of(5100), Some(1021), "the tail");
        assert_eq!(s.position_of(4999), None, "near the head: ask Redis");
        assert_eq!(s.position_of(5101), None, "joined since: ask Redis");
        assert_eq!(
            snapshot(&[]).position_of(1),
            None,
            "a short line: ask Redis"
        );
    }
}
