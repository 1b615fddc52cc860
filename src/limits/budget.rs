//! Each client's own budget for joining a queue (`CLIENT_RATE_LIMIT_PER_SEC`, burst
//! `CLIENT_RATE_LIMIT_BURST`): governor's keyed limiter, checked before the server-wide one,
//! so a client over its budget never draws on the budget everyone shares.
//!
//! Its memory stays bounded: a key whose state has refilled to a full burst is
//! indistinguishable from a new one, and a background sweep (`LimitsSweep`, every
//! [`SWEEP_EVERY`]) drops those with `retain_recent` and gives the room back with
//! `shrink_to_fit`. So the keys held are at most those seen within the refill time plus one
//! sweep interval (docs/performance.md measures a million).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::ClientKey;
use crate::app::App;

/// How often the sweep reclaims the state of clients that went quiet.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

type KeyedLimiter<C> =
    RateLimiter<ClientKey, DashMapStateStore<ClientKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Every client's budget on one server.
pub struct ClientBudget<C: Clock = DefaultClock> {
    limiter: KeyedLimiter<C>,
    clock: C,
}

impl ClientBudget {
    /// `per_sec` requests a second per client, `burst` at once; `None` when `per_sec` is 0
    /// (no per-client budget).
    pub fn new(per_sec: u32, burst: u32) -> Option<Self> {
        Self::with_clock(per_sec, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> ClientBudget<C> {
    /// The same on a clock of the caller's (tests drive a fake one).
    pub fn with_clock(per_sec: u32, burst: u32, clock: C) -> Option<Self> {
        let rate = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(ClientBudget {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
        })
    }

    /// Takes one request from `client`'s budget, or says how long until it may send again.
    pub fn check(&self, client: &ClientKey) -> Result<(), Duration> {
        self.limiter
            .check_key(client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the state of every client whose budget has refilled (it is as good as new)
    /// and returns the memory; returns how many clients are still held.
    pub fn reclaim(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }

    /// How many clients' states are held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// The background step that reclaims quiet clients' budgets and the poll pacer's stale
/// answers.
pub struct LimitsSweep(pub Arc<App>);

impl crate::periodic::Periodic for LimitsSweep {
    fn name(&self) -> &'static str {
        "limits sweep"
    }

    fn step(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), impl std::fmt::Display>> + Send {
        if let Some(budget) = self.0.client_budget() {
            let held = budget.reclaim();
            metrics::gauge!("client_budgets_held").set(held as f64);
        }
        if let Some(pacer) = self.0.poll_pacer() {
            let tracked = pacer.reclaim(std::time::Instant::now());
            metrics::gauge!("poll_pace_tokens_tracked").set(tracked as f64);
        }
        std::future::ready(Ok::<(), std::convert::Infallible>(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_client_over_its_budget_waits_and_others_do_not() {
        let clock = FakeRelativeClock::default();
        let budget = ClientBudget::with_clock(2, 3, clock.clone()).unwrap();
        let greedy = ClientKey::User(1);
        for _ in 0..3 {
            assert!(budget.check(&greedy).is_ok());
        }
        let wait = budget.check(&greedy).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "one request per 500 ms");
        assert!(
            budget.check(&ClientKey::User(2)).is_ok(),
            "another client is untouched"
        );
        clock.advance(Duration::from_millis(500));
        assert!(budget.check(&greedy).is_ok());
        assert!(ClientBudget::new(0, 10).is_none(), "0 turns the budget off");
    }

    /// A million distinct clients (the memory attack on a keyed limiter): all are held while
    /// their budgets refill, and every one is reclaimed once they have (asserted on the
    /// limiter's length, not on time; the bytes are measured by
    /// `examples/client_budget_memory.rs`, docs/performance.md).
    #[test]
    fn a_million_distinct_clients_are_reclaimed_once_their_budgets_refill() {
        let clock = FakeRelativeClock::default();
        let budget = ClientBudget::with_clock(2, 10, clock.clone()).unwrap();
        const CLIENTS: u64 = 1_000_000;
        for user in 1..=CLIENTS {
            assert!(budget.check(&ClientKey::User(user)).is_ok());
        }
        assert_eq!(budget.len(), CLIENTS as usize);
        // Each took one request, which comes back after 500 ms: 250 ms on, all are held.
        clock.advance(Duration::from_millis(250));
        assert_eq!(budget.reclaim(), CLIENTS as usize);
        // Once full again and one more interval on (retain_recent's margin), every budget is
        // as good as new: nothing is held.
        clock.advance(Duration::from_millis(750));
        assert_eq!(budget.reclaim(), 0);
        assert!(budget.is_empty());
        // A client seen again starts afresh, with its whole burst.
        for _ in 0..10 {
            assert!(budget.check(&ClientKey::User(7)).is_ok());
        }
        assert!(budget.check(&ClientKey::User(7)).is_err());
    }
}
