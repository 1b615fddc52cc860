//! The pace of each WAITING token's status polls: every WAITING answer advises `pollAfterMs`
//! (src/queue/advice.rs), and a token that polls sooner than `POLL_MIN_INTERVAL_FACTOR`
//! times that gets 429 with `Retry-After`, decided here from an in-process map keyed by the
//! token's (concert, user, seq), without a Redis round trip.
//!
//! The map is bounded: an entry older than the longest advice can refuse nothing, and the
//! background sweep (src/limits/budget.rs's, every 10 s) drops those; past
//! [`TRACKED_TOKENS`] a new token is not tracked (it goes unchecked, never wrongly refused).
//! A DashMap rather than a cache with per-entry bookkeeping: about 100 bytes a token
//! instead of about 300 (docs/performance.md).
//!
//! Each server keeps its own map: a client whose polls a load balancer spreads over several
//! servers is checked per server (each sees its polls as further apart).

use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::queue::advice::MAX_POLL_AFTER;
use crate::queue::Claims;

/// Most tokens one server tracks.
pub const TRACKED_TOKENS: usize = 1_000_000;

/// A token, as its claims name it.
type TokenKey = (u64, u64, u64);

fn key(claims: &Claims) -> TokenKey {
    (claims.concert_id, claims.user_id, claims.seq)
}

/// When a token was last answered WAITING, and the interval it was advised (ms).
#[derive(Clone, Copy, Debug)]
struct Pace {
    at: Instant,
    advised_ms: u32,
}

/// The last WAITING answer of every token polling this server.
pub struct PollPacer {
    factor: f64,
    answered: DashMap<TokenKey, Pace>,
}

impl PollPacer {
    /// Refuses polls sooner than `factor` times the advice; `None` when `factor` is 0.
    pub fn new(factor: f64) -> Option<Self> {
        (factor > 0.0).then(|| PollPacer {
            factor,
            answered: DashMap::new(),
        })
    }

    /// Whether the token may poll at `now`; otherwise how long until it may.
    pub fn admit(&self, claims: &Claims, now: Instant) -> Result<(), Duration> {
        let Some(last) = self.answered.get(&key(claims)).map(|entry| *entry) else {
            return Ok(());
        };
        let gap = Duration::from_millis(u64::from(last.advised_ms)).mul_f64(self.factor);
        match (last.at + gap).checked_duration_since(now) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Records a WAITING answer at `at` advising `advised` until the next poll.
    pub fn answered_waiting(&self, claims: &Claims, at: Instant, advised: Duration) {
        let key = key(claims);
        if self.answered.len() >= TRACKED_TOKENS && !self.answered.contains_key(&key) {
            return;
        }
        let advised_ms = u32::try_from(advised.as_millis()).unwrap_or(u32::MAX);
        self.answered.insert(key, Pace { at, advised_ms });
    }

    /// Forgets a token that is no longer WAITING (ACTIVE or EXPIRED polls are not paced).
    pub fn forget(&self, claims: &Claims) {
        self.answered.remove(&key(claims));
    }

    /// Drops the tokens whose last answer is older than the longest advice (they can
    /// refuse nothing) and returns the memory; returns how many are still tracked.
    pub fn reclaim(&self, now: Instant) -> usize {
        self.answered
            .retain(|_, pace| now.saturating_duration_since(pace.at) < MAX_POLL_AFTER);
        self.answered.shrink_to_fit();
        self.answered.len()
    }

    /// How many tokens are tracked.
    pub fn len(&self) -> usize {
        self.answered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_sooner_than_the_factor_times_the_advice_wait() {
        let pacer = PollPacer::new(0.5).unwrap();
        let token = Claims::new(1, 42, 1_000_000);
        let start = Instant::now();
        assert!(pacer.admit(&token, start).is_ok(), "a token never answered");
        pacer.answered_waiting(&token, start, Duration::from_secs(4));
        let early = start + Duration::from_millis(1500);
        assert_eq!(pacer.admit(&token, early), Err(Duration::from_millis(500)));
        assert!(pacer.admit(&token, start + Duration::from_secs(2)).is_ok());
        let other = Claims::new(1, 42, 2_000_000);
        assert!(
            pacer.admit(&other, early).is_ok(),
            "another entry of the user"
        );
        pacer.forget(&token);
        assert!(pacer.admit(&token, early).is_ok());
        assert!(PollPacer::new(0.0).is_none(), "0 turns it off");
    }

    #[test]
    fn answers_older_than_the_longest_advice_are_reclaimed() {
        let pacer = PollPacer::new(1.0).unwrap();
        let start = Instant::now();
        for user in 1..=1000 {
            pacer.answered_waiting(&Claims::new(1, user, user), start, MAX_POLL_AFTER);
        }
        let recent = Claims::new(1, 5000, 5000);
        pacer.answered_waiting(&recent, start + Duration::from_secs(20), MAX_POLL_AFTER);
        assert_eq!(pacer.reclaim(start + Duration::from_secs(10)), 1001);
        assert_eq!(
            pacer.reclaim(start + MAX_POLL_AFTER),
            1,
            "only the recent one"
        );
        assert!(pacer.admit(&recent, start + MAX_POLL_AFTER).is_err());
    }
}
