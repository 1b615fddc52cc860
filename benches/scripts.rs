//! One criterion benchmark per Lua script: the round trip of EVALSHA through the engine's
//! own `Store` against the Redis at REDIS_URL (default redis://127.0.0.1:6379), under a key
//! prefix of its own that is deleted afterwards. Without a Redis it prints SKIPPED and exits 0.
//!
//!   cargo bench --bench scripts               # full run
//!   cargo bench --bench scripts -- --quick    # a short one
//!
//! Adding a script is one `fn(&mut Criterion, &RedisFixture)` below and one entry in
//! `SCRIPT_BENCHES`.

#[path = "../tests/helpers/mod.rs"]
mod helpers;
mod support;

use std::time::{Duration, Instant};

use concert_queue::queue::{Claims, TokenSigner};
use concert_queue::queue::{Queue, QueueSettings};
use criterion::Criterion;
use support::{bench_settings, print_skip, RedisFixture, CONCERT, PRICE, SCHEDULE, SEATS};

/// Every script bench, run in this order.
const SCRIPT_BENCHES: &[fn(&mut Criterion, &RedisFixture)] = &[
    issue_token_first_entry,
    issue_token_re_entry,
    queue_status_waiting,
    queue_status_active,
    activate_batch,
    activate_sweep,
    charge_wallet,
    seat_map,
    hold_seat,
    pay_reservation,
];

/// Queue depths at which a WAITING status poll is measured; BENCH_QUEUE_DEPTHS overrides
/// (for instance `1000,1000000`, the queue-depth target's two depths, on a Redis of its own).
fn queue_depths() -> Vec<u64> {
    std::env::var("BENCH_QUEUE_DEPTHS")
        .ok()
        .map(|raw| {
            raw.split(',')
                .filter_map(|d| d.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 100_000])
}

/// A new buyer joins a queue that already has people waiting (the common path under load);
/// the queue is emptied after every sample so it never grows past one sample's worth.
fn issue_token_first_entry(c: &mut Criterion, fx: &RedisFixture) {
    c.bench_function("issue_token/first_entry", |b| {
        b.iter_custom(|iters| {
            fx.fill_waiting(1_000_000_000, 1);
            let started = Instant::now();
            fx.rt.block_on(async {
                for _ in 0..iters {
                    fx.queue
                        .issue_token(fx.fresh_user(), CONCERT)
                        .await
                        .expect("issue_token");
                }
            });
            let elapsed = started.elapsed();
            fx.reset_queue();
            elapsed
        })
    });
}

/// A buyer who already waits asks again and gets the same token back.
fn issue_token_re_entry(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    fx.fill_waiting(1_000_000_000, 1);
    let user = fx.fresh_user();
    fx.rt
        .block_on(fx.queue.issue_token(user, CONCERT))
        .expect("issue_token");
    c.bench_function("issue_token/re_entry", |b| {
        b.to_async(&fx.rt).iter(|| async {
            fx.queue
                .issue_token(user, CONCERT)
                .await
                .expect("issue_token")
        })
    });
    fx.reset_queue();
}

/// A WAITING poll by the last buyer of a queue `depth` long (ZRANK is O(log N)).
fn queue_status_waiting(c: &mut Criterion, fx: &RedisFixture) {
    let mut group = c.benchmark_group("queue_status/waiting_at_depth");
    for depth in queue_depths() {
        fx.reset_queue();
        let first_seq = fx.fill_waiting(1, depth);
        let claims = Claims::new(CONCERT, depth, first_seq + depth - 1);
        group.bench_function(depth.to_string(), |b| {
            b.to_async(&fx.rt)
                .iter(|| async { fx.queue.status(&claims).await.expect("status") })
        });
    }
    group.finish();
    fx.reset_queue();
}

/// An ACTIVE buyer's poll.
fn queue_status_active(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    let issued = fx
        .rt
        .block_on(fx.queue.issue_token(fx.fresh_user(), CONCERT))
        .expect("issue_token");
    assert!(
        matches!(
            issued.state,
            concert_queue::queue::QueueState::Active { .. }
        ),
        "an empty queue with free slots admits at once"
    );
    c.bench_function("queue_status/active", |b| {
        b.to_async(&fx.rt)
            .iter(|| async { fx.queue.status(&issued.claims).await.expect("status") })
    });
    fx.reset_queue();
}

/// One activation tick that admits a batch of 1,000 (the engine's batch limit; the bucket
/// never runs dry); each iteration refills the queue and the bucket outside the timing.
fn activate_batch(c: &mut Criterion, fx: &RedisFixture) {
    const BATCH: u64 = 1_000;
    c.bench_function("activate/admit_1000", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                fx.reset_queue();
                fx.fill_waiting(1, BATCH);
                let started = Instant::now();
                let done = fx
                    .rt
                    .block_on(fx.queue.activate(CONCERT))
                    .expect("activate");
                timed += started.elapsed();
                assert_eq!(done.admitted, BATCH, "the whole batch is admitted");
            }
            timed
        })
    });
    fx.reset_queue();
}

/// One activation tick whose only work is the idle sweep's stretch: 100,000 waiting,
/// admission paused, the idle timeout on and nobody idle, so the tick visits its largest
/// stretch (1,000 entries) and removes nothing: the sweep's cost per tick.
fn activate_sweep(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    fx.fill_waiting(1, 100_000);
    let sweeper = Queue::new(
        fx.store.clone(),
        TokenSigner::new(b"bench-secret-of-sufficient-length"),
        QueueSettings {
            max_active: 0,
            idle_timeout: Duration::from_secs(120),
            ..bench_settings(0)
        },
    );
    c.bench_function("activate/sweep_1000", |b| {
        b.to_async(&fx.rt).iter(|| async {
            let done = sweeper.activate(CONCERT).await.expect("activate");
            assert_eq!(done.dropped_idle, 0, "nobody is idle");
            done
        })
    });
    fx.reset_queue();
}

/// A wallet charge (each iteration a new user); the outbox it appends to is emptied after
/// every sample.
fn charge_wallet(c: &mut Criterion, fx: &RedisFixture) {
    c.bench_function("charge_wallet", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            fx.rt.block_on(async {
                for _ in 0..iters {
                    fx.booking
                        .charge(fx.fresh_user(), PRICE, None)
                        .await
                        .expect("charge");
                }
            });
            let elapsed = started.elapsed();
            fx.run(redis::cmd("DEL").arg(fx.store.keys.outbox()));
            elapsed
        })
    });
}

/// The live seat map of a 50-seat schedule as an ACTIVE buyer sees it: 10 seats held by
/// other buyers (live holds), 10 sold, 30 available.
fn seat_map(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    fx.reset_seats();
    let viewer = fx.rt.block_on(async {
        for seat_no in 1..=10 {
            let holder = fx.active_buyer().await;
            fx.booking
                .hold_seat(&holder, SCHEDULE, seat_no)
                .await
                .expect("hold_seat");
        }
        fx.active_buyer().await
    });
    let sold = fx.store.keys.schedule(CONCERT, SCHEDULE).sold;
    let mut sell = redis::cmd("HSET");
    sell.arg(&sold);
    for seat_no in 11..=20 {
        sell.arg(seat_no).arg(format!("R{CONCERT}-sold{seat_no}"));
    }
    fx.run(&sell);
    c.bench_function("seat_map", |b| {
        b.to_async(&fx.rt).iter(|| async {
            let seats = fx
                .booking
                .seat_map(&viewer, SCHEDULE)
                .await
                .expect("seat_map");
            assert_eq!(seats.len(), SEATS as usize);
            seats
        })
    });
    fx.reset_queue();
    fx.reset_seats();
}

/// Holding an AVAILABLE seat with an ACTIVE token; the hold is cancelled (untimed) so the
/// seat is free again, and each iteration is a new buyer.
fn hold_seat(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    fx.reset_seats();
    c.bench_function("hold_seat", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            fx.rt.block_on(async {
                for i in 0..iters {
                    let buyer = fx.active_buyer().await;
                    let seat_no = 1 + i % SEATS;
                    let started = Instant::now();
                    let hold = fx
                        .booking
                        .hold_seat(&buyer, SCHEDULE, seat_no)
                        .await
                        .expect("hold_seat");
                    timed += started.elapsed();
                    fx.booking
                        .cancel(&buyer, &hold.reservation_id)
                        .await
                        .expect("cancel");
                }
            });
            fx.reset_queue();
            timed
        })
    });
    fx.reset_seats();
}

/// Paying a hold from the wallet (seat SOLD, outbox, ranking, token end in one script);
/// charging, joining and holding are untimed, and the seats are freed after each payment.
fn pay_reservation(c: &mut Criterion, fx: &RedisFixture) {
    fx.reset_queue();
    fx.reset_seats();
    c.bench_function("pay_reservation", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for i in 0..iters {
                fx.rt.block_on(async {
                    let buyer = fx.active_buyer().await;
                    fx.booking
                        .charge(buyer.user_id, PRICE, None)
                        .await
                        .expect("charge");
                    let hold = fx
                        .booking
                        .hold_seat(&buyer, SCHEDULE, 1 + i % SEATS)
                        .await
                        .expect("hold_seat");
                    let started = Instant::now();
                    fx.booking
                        .pay(&buyer, &hold.reservation_id)
                        .await
                        .expect("pay");
                    timed += started.elapsed();
                });
                if (i + 1) % SEATS == 0 {
                    fx.reset_seats();
                }
            }
            fx.reset_seats();
            fx.reset_queue();
            fx.run(redis::cmd("DEL").arg(fx.store.keys.outbox()));
            timed
        })
    });
}

fn main() {
    let fixture = match RedisFixture::connect("scripts", bench_settings(1_000_000)) {
        Ok(fixture) => fixture,
        Err(why) => {
            print_skip("script", &why);
            return;
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    for bench in SCRIPT_BENCHES {
        bench(&mut criterion, &fixture);
    }
    criterion.final_summary();
}
