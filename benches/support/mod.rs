//! Setup the script benches share: a `Store` and `Queue` over the Redis at REDIS_URL under
//! a key prefix of their own (deleted on drop), or the reason there is none to bench against.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use concert_queue::booking::{Booking, BookingSettings};
use concert_queue::queue::TokenSigner;
use concert_queue::queue::{Queue, QueueSettings};
use concert_queue::store::{line, Store};
use tokio::runtime::Runtime;

use crate::helpers::{delete_prefix, services, unique_prefix};

/// The concert every script bench works on.
pub const CONCERT: u64 = 1;
/// Its one schedule, of `SEATS` seats at `PRICE` won each.
pub const SCHEDULE: u64 = 1;
pub const SEATS: u64 = 50;
pub const PRICE: u64 = 100_000;

/// A Redis to bench against, cleaned up on drop.
pub struct RedisFixture {
    pub rt: Runtime,
    pub store: Store,
    pub queue: Queue,
    pub booking: Booking,
    pub redis_url: String,
    next_user: AtomicU64,
}

/// Queue settings for the benches: nobody is dropped for idling, and the admission bucket
/// (a quarter second of the rate) never runs dry, so admissions are bounded only by what
/// each bench asks for.
pub fn bench_settings(max_active: u64) -> QueueSettings {
    QueueSettings {
        max_active,
        admit_per_sec: 4_000_000,
        active_ttl: Duration::from_secs(300),
        idle_timeout: Duration::ZERO,
        admit_per_available_seat: 1.0,
        activation_tick: Duration::from_millis(100),
    }
}

impl RedisFixture {
    /// Connects under a fresh prefix; `Err` says why the benches must be skipped.
    pub fn connect(name: &str, settings: QueueSettings) -> Result<RedisFixture, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
        let redis_url = rt.block_on(services::redis_url());
        redis::Client::open(redis_url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .map_err(|e| format!("no Redis answers at {redis_url} ({e})"))?;
        let prefix = unique_prefix(&format!("bench-{name}"));
        let store = rt
            .block_on(Store::connect(
                &redis_url,
                &prefix,
                Duration::from_secs(5),
                0,
            ))
            .map_err(|e| format!("cannot connect to {redis_url}: {e:#}"))?;
        let queue = Queue::new(
            store.clone(),
            TokenSigner::new(b"bench-secret-of-sufficient-length"),
            settings,
        );
        let booking = Booking::new(
            store.clone(),
            BookingSettings {
                holds_per_user: 4,
                hold_ttl: Duration::from_secs(300),
                charge_max: 10_000_000,
                // The charge bench charges one wallet again and again: no budget.
                charges_per_user_per_min: 0,
                idempotency_keys_per_user: 100,
                payment_in_steps: false,
            },
        );
        let fixture = RedisFixture {
            rt,
            store,
            queue,
            booking,
            redis_url,
            next_user: AtomicU64::new(1),
        };
        fixture.seed_catalog();
        Ok(fixture)
    }

    /// Seeds one concert with one schedule of `SEATS` seats, the way `seed` does.
    fn seed_catalog(&self) {
        self.seed_concerts(1);
    }

    /// Seeds concerts 1 to `count`, each with one schedule (its id the concert's) of
    /// `SEATS` seats, the way `seed` does.
    pub fn seed_concerts(&self, count: u64) {
        use concert_queue::catalog::file::{CatalogFile as Catalog, Concert, Schedule, Seat};
        let concert = |id: u64| Concert {
            id,
            title: "bench".into(),
            artist: "bench".into(),
            venue: "bench".into(),
            schedules: vec![Schedule {
                id,
                starts_at: chrono::Utc::now(),
                seats: (1..=SEATS as u32)
                    .map(|seat_no| Seat {
                        seat_no,
                        grade: "R".into(),
                        price: PRICE,
                    })
                    .collect(),
            }],
        };
        let catalog = Catalog {
            concerts: (CONCERT..CONCERT + count).map(concert).collect(),
        };
        self.rt
            .block_on(concert_queue::catalog::seed::seed_redis(
                &self.store,
                &catalog,
            ))
            .unwrap_or_else(|e| panic!("seeding the bench catalog failed: {e:#}"));
    }

    /// Makes every seat of the schedule AVAILABLE again (its price list stays).
    pub fn reset_seats(&self) {
        let k = self.store.keys.schedule(CONCERT, SCHEDULE);
        self.run(
            redis::cmd("DEL")
                .arg(&k.held)
                .arg(&k.holds)
                .arg(&k.sold)
                .arg(&k.info),
        );
    }

    /// A fresh buyer with an ACTIVE token (the queue is empty and the bucket full).
    pub async fn active_buyer(&self) -> concert_queue::queue::Claims {
        let issued = self
            .queue
            .issue_token(self.fresh_user(), CONCERT)
            .await
            .expect("issue_token");
        assert!(
            matches!(
                issued.state,
                concert_queue::queue::QueueState::Active { .. }
            ),
            "an empty queue admits at once"
        );
        issued.claims
    }

    /// A user id no earlier call returned.
    pub fn fresh_user(&self) -> u64 {
        self.next_user.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs one command, panicking on failure (a bench cannot go on without its setup).
    pub fn run(&self, cmd: &redis::Cmd) {
        self.rt
            .block_on(self.store.query::<()>(cmd))
            .unwrap_or_else(|e| panic!("bench setup command failed: {e}"));
    }

    /// Empties the concert's queue (its record stays).
    pub fn reset_queue(&self) {
        let k = self.store.keys.queue(CONCERT);
        self.run(
            redis::cmd("DEL")
                .arg(&k.line)
                .arg(&k.active)
                .arg(&k.active_seq)
                .arg(&k.entries)
                .arg(&k.bucket)
                .arg(&k.stats),
        );
    }

    /// Puts `count` buyers (user ids from `first_user`) at the end of the waiting line
    /// directly, all seen now, with consecutive seqs as the issue script would give them
    /// (far faster than the script); returns the first one's seq.
    pub fn fill_waiting(&self, first_user: u64, count: u64) -> u64 {
        const CHUNK: u64 = 5_000;
        let k = self.store.keys.queue(CONCERT);
        let now = chrono::Utc::now();
        let now_slot = line::presence_slot(now.timestamp_millis() as u64);
        let now_us = now.timestamp_micros() as u64;
        let (base, last, waiting): (Option<u64>, Option<u64>, u64) = self
            .rt
            .block_on(
                self.store.pipeline(
                    redis::pipe()
                        .cmd("HGET")
                        .arg(&k.entries)
                        .arg("base")
                        .cmd("HGET")
                        .arg(&k.entries)
                        .arg("last")
                        .cmd("ZCARD")
                        .arg(&k.line),
                ),
            )
            .unwrap_or_else(|e| panic!("reading the line failed: {e}"));
        let first_seq = last.map_or(now_us, |last| (last + 1).max(now_us));
        let base = match base {
            Some(base) if waiting > 0 => base,
            _ => first_seq,
        };
        let mut start = 0;
        while start < count {
            let end = (start + CHUNK).min(count);
            let mut add = redis::cmd("ZADD");
            add.arg(&k.line);
            for i in start..end {
                add.arg(line::score(first_seq + i - base, now_slot))
                    .arg(first_user + i);
            }
            let mut pipe = redis::pipe();
            pipe.add_command(add).ignore();
            pipe.cmd("HSET")
                .arg(&k.entries)
                .arg("base")
                .arg(base)
                .arg("last")
                .arg(first_seq + end - 1)
                .ignore();
            self.rt
                .block_on(self.store.pipeline::<()>(&pipe))
                .unwrap_or_else(|e| panic!("filling the queue failed: {e}"));
            start = end;
        }
        first_seq
    }
}

impl Drop for RedisFixture {
    fn drop(&mut self) {
        delete_prefix(&self.redis_url, self.store.keys.prefix());
    }
}

/// Prints why the benches of `target` were skipped; the process still exits 0.
pub fn print_skip(target: &str, why: &str) {
    println!("SKIPPED: the {target} benches need Redis: {why}. Start it (scripts/services.sh) or set REDIS_URL.");
}
