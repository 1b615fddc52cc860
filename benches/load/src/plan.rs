//! What a run works on: the catalog's concerts and schedules (the same file `seed` loads),
//! fresh user ids, the measured window and the request budget that bound every loop.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::catalog::Catalog;

/// One concert and its schedules.
#[derive(Clone, Debug)]
pub struct ConcertPlan {
    pub id: u64,
    pub schedules: Vec<u64>,
}

/// Shared by every virtual user of a run.
#[derive(Debug)]
pub struct Plan {
    pub concerts: Vec<ConcertPlan>,
    /// The dearest seat of the catalog, in won: what the booking flow charges by default.
    pub highest_price: u64,
    next_user: AtomicU64,
    remaining: AtomicU64,
    deadline: Instant,
    stopped: AtomicBool,
    pub think: Duration,
}

impl Plan {
    /// Reads the catalog and fixes the window: `deadline` ends every loop, and so do
    /// having sent `max_requests` and `stop`.
    pub fn new(
        catalog: &Path,
        first_user: u64,
        max_requests: u64,
        deadline: Instant,
        think: Duration,
    ) -> anyhow::Result<Plan> {
        let catalog = Catalog::read(catalog)?;
        let concerts: Vec<ConcertPlan> = catalog
            .concerts
            .iter()
            .map(|c| ConcertPlan {
                id: c.id,
                schedules: c.schedules.iter().map(|s| s.id).collect(),
            })
            .filter(|c| !c.schedules.is_empty())
            .collect();
        anyhow::ensure!(
            !concerts.is_empty(),
            "the catalog has no concert with a schedule"
        );
        let highest_price = catalog
            .concerts
            .iter()
            .flat_map(|c| &c.schedules)
            .flat_map(|s| &s.seats)
            .map(|seat| seat.price)
            .max()
            .unwrap_or(1);
        Ok(Plan {
            concerts,
            highest_price,
            next_user: AtomicU64::new(first_user),
            remaining: AtomicU64::new(max_requests),
            deadline,
            stopped: AtomicBool::new(false),
            think,
        })
    }

    /// A user id no other request of this run used.
    pub fn fresh_user(&self) -> u64 {
        self.next_user.fetch_add(1, Ordering::Relaxed)
    }

    pub fn concert(&self, rng: &mut impl Rng) -> &ConcertPlan {
        self.concerts.choose(rng).expect("at least one concert")
    }

    pub fn concert_by_id(&self, id: u64) -> &ConcertPlan {
        self.concerts
            .iter()
            .find(|c| c.id == id)
            .unwrap_or(&self.concerts[0])
    }

    /// Whether the window is still open: before the deadline and not stopped (Ctrl-C).
    pub fn is_open(&self) -> bool {
        Instant::now() < self.deadline && !self.stopped.load(Ordering::Relaxed)
    }

    /// Closes the window now: every loop ends after its request in flight.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether `instant` falls inside the window's planned length.
    pub fn is_before_deadline(&self, instant: Instant) -> bool {
        instant < self.deadline
    }

    /// Takes one request from the budget; false once the window or the budget is over.
    pub fn may_send(&self) -> bool {
        self.is_open()
            && self
                .remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// A first user id unlikely to collide with an earlier run's (so a token request is a
/// first entry, not a re-entry): the clock in seconds, spread out, below 2^53.
pub fn default_first_user() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs % 1_000_000) * 10_000_000 + 1
}

impl ConcertPlan {
    pub fn schedule(&self, rng: &mut impl Rng) -> u64 {
        *self.schedules.choose(rng).expect("at least one schedule")
    }
}
