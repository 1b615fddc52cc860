//! Measures the heap the in-process fairness state takes (src/limits/): the per-client
//! budgets for N distinct clients (users, then IPv4 addresses) before and after the sweep
//! reclaims them, and the poll pacer tracking N tokens. A counting allocator wraps the
//! system's, so the figures are the bytes live on the heap, not RSS.
//!
//!   cargo run --release --example limits_memory -- 1000000

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use concert_queue::limits::{ClientBudget, ClientKey, PollPacer};
use concert_queue::queue::Claims;
use governor::clock::FakeRelativeClock;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn budgets(n: u64, what: &str, key: impl Fn(u64) -> ClientKey) {
    let base = live();
    let clock = FakeRelativeClock::default();
    let budget = ClientBudget::with_clock(2, 10, clock.clone()).expect("a budget");
    for i in 1..=n {
        let _ = budget.check(&key(i));
    }
    let filled = live() - base;
    clock.advance(Duration::from_secs(1));
    let held = budget.reclaim();
    let reclaimed = live() - base;
    println!(
        "client budgets, {n} distinct {what}: {filled} bytes ({:.1} MiB, {:.0} bytes per client); \
         after the sweep: {held} held, {reclaimed} bytes",
        mib(filled),
        filled as f64 / n as f64
    );
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("a number of clients"))
        .unwrap_or(1_000_000);
    budgets(n, "users", ClientKey::User);
    budgets(n, "IPv4 addresses", |i| {
        ClientKey::ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)))
    });

    let base = live();
    let pacer = PollPacer::new(0.5).expect("a pacer");
    let now = Instant::now();
    for user in 1..=n {
        pacer.answered_waiting(&Claims::new(1, user, user), now, Duration::from_secs(5));
    }
    let tracked = pacer.len();
    let filled = live() - base;
    println!(
        "poll pacer, {n} tokens: {tracked} tracked, {filled} bytes ({:.1} MiB, {:.0} bytes per token)",
        mib(filled),
        filled as f64 / n.max(1) as f64
    );
}
