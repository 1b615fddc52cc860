//! The parts of a request that never leave the process: token signing and verification,
//! JSON encoding of a 50-seat map, and routing.
//!
//!   cargo bench --bench pure               # full run
//!   cargo bench --bench pure -- --quick    # a short one

use std::hint::black_box;

use concert_queue::booking::{Seat, SeatStatus};
use concert_queue::http::reservations::SeatMapView;
use concert_queue::http::router::resolve;
use concert_queue::queue::{Claims, TokenSigner};
use criterion::{criterion_group, criterion_main, Criterion};
use hyper::Method;

/// A 50-seat map like the seed catalog's schedules: a third held or sold.
fn fifty_seats() -> Vec<Seat> {
    (1..=50u64)
        .map(|seat_no| Seat {
            seat_no,
            price: if seat_no <= 10 { 165_000 } else { 99_000 },
            status: match seat_no % 6 {
                0 => SeatStatus::Sold,
                3 => SeatStatus::Held,
                _ => SeatStatus::Available,
            },
        })
        .collect()
}

fn token_signing(c: &mut Criterion) {
    let signer = TokenSigner::new(b"bench-secret-of-sufficient-length");
    let claims = Claims::new(7, 4_242_424, 1_764_000_000_123_456);
    let token = signer.sign(&claims);
    c.bench_function("token/sign", |b| b.iter(|| signer.sign(black_box(&claims))));
    c.bench_function("token/verify", |b| {
        b.iter(|| signer.verify(black_box(&token)))
    });
    let forged = token.replacen("v1.7.", "v1.8.", 1);
    c.bench_function("token/verify_forged", |b| {
        b.iter(|| signer.verify(black_box(&forged)))
    });
}

fn seat_map_encoding(c: &mut Criterion) {
    // Exactly what GET /api/schedules/{id}/seats encodes (src/http/reservations.rs).
    let seats = fifty_seats();
    let available_seats = seats
        .iter()
        .filter(|s| s.status == SeatStatus::Available)
        .count();
    let map = SeatMapView {
        schedule_id: 3,
        available_seats,
        seats: &seats,
    };
    c.bench_function("json/seat_map_50", |b| {
        b.iter(|| serde_json::to_vec(black_box(&map)).expect("encodes"))
    });
}

fn routing(c: &mut Criterion) {
    let requests = [
        (Method::POST, "/api/queue/token"),
        (Method::GET, "/api/queue/status"),
        (Method::GET, "/api/concerts/7/schedules"),
        (Method::GET, "/no/such/route"),
    ];
    let mut group = c.benchmark_group("router/resolve");
    for (method, path) in &requests {
        group.bench_function(format!("{method} {path}"), |b| {
            b.iter(|| resolve(black_box(method), black_box(path)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, token_signing, seat_map_encoding, routing);
criterion_main!(benches);
