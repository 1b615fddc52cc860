//! The pace of each WAITING token's status polls: every WAITING answer advises `pollAfterMs`
//! (src/queue/advice.rs), and a token that polls sooner than `POLL_MIN_INTERVAL_FACTOR`
//! times that gets 429 with `Retry-After`, decided here from a bounded in-process map (moka)
//! keyed by the token's (concert, user, seq), without a Redis round trip.
//!
//! Each server keeps its own map: a client whose polls a load balancer spreads over several
//! servers is checked per server (each sees its polls as further apart).

use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::queue::advice::MAX_POLL_AFTER;
use crate::queue::Claims;

/// Most tokens one server tracks; past it moka evicts the least useful entries, whose
/// tokens then go unchecked until their next answer (never wrongly refused).
pub const TRACKED_TOKENS: u64 = 1_000_000;

/// A token, as its claims name it.
type TokenKey = (u64, u64, u64);

fn key(claims: &Claims) -> TokenKey {
    (claims.concert_id, claims.user_id, claims.seq)
}

/// When a token was last answered WAITING, and the interval it was advised.
#[derive(Clone, Copy, Debug)]
struct Pace {
    at: Instant,
    advised: Duration,
}

/// The last WAITING answer of every token polling this server.
pub struct PollPacer {
    factor: f64,
    answered: Cache<TokenKey, Pace>,
}

impl PollPacer {
    /// Refuses polls sooner than `factor` times the advice; `None` when `factor` is 0.
    pub fn new(factor: f64) -> Option<Self> {
        (factor > 0.0).then(|| PollPacer {
            factor,
            // An entry older than the longest advice can refuse nothing (factor <= 1).
            answered: Cache::builder()
                .max_capacity(TRACKED_TOKENS)
                .time_to_live(MAX_POLL_AFTER)
                .build(),
        })
    }

    /// Whether the token may poll at `now`; otherwise how long until it may.
    pub fn admit(&self, claims: &Claims, now: Instant) -> Result<(), Duration> {
        let Some(last) = self.answered.get(&key(claims)) else {
            return Ok(());
        };
        let soonest = last.at + last.advised.mul_f64(self.factor);
        match soonest.checked_duration_since(now) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Records a WAITING answer at `at` advising `advised` until the next poll.
    pub fn answered_waiting(&self, claims: &Claims, at: Instant, advised: Duration) {
        self.answered.insert(key(claims), Pace { at, advised });
    }

    /// How many tokens are tracked (after moka's pending evictions and expiries run).
    pub fn len(&self) -> u64 {
        self.answered.run_pending_tasks();
        self.answered.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets a token that is no longer WAITING (ACTIVE or EXPIRED polls are not paced).
    pub fn forget(&self, claims: &Claims) {
        self.answered.invalidate(&key(claims));
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
}
