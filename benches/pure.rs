//! The parts of a request that never leave the process: token signing and verification,
//! JSON encoding of a 50-seat map, and routing.
//!
//!   cargo bench --bench pure               # full run
//!   cargo bench --bench pure -- --quick    # a short one

use std::hint::black_box;

use concert_queue::booking::{Seat, SeatStatus};
use concert_queue::http::router::resolve;
use concert_queue::token::{Claims, TokenSigner};
use criterion::{criterion_group, criterion_main, Criterion};
use hyper::Method;
use serde::Serialize;
use serde_json::{json, Value};

/// A seat as `GET /api/schedules/{id}/seats` shows it (docs: the HTTP contract).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatView {
    seat_no: u32,
    price: u64,
    status: &'static str,
}

/// The body of `GET /api/schedules/{id}/seats`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatMapView {
    schedule_id: u64,
    available_seats: u32,
    seats: Vec<SeatView>,
}

/// A 50-seat map like the seed catalog's schedules: a third held or sold.
fn fifty_seat_map() -> SeatMapView {
    let seats: Vec<SeatView> = (1..=50)
        .map(|seat_no| SeatView {
            seat_no,
            price: if seat_no <= 10 { 165_000 } else { 99_000 },
            status: match seat_no % 6 {
                0 => "SOLD",
                3 => "HELD",
                _ => "AVAILABLE",
            },
        })
        .collect();
    let available_seats = seats.iter().filter(|s| s.status == "AVAILABLE").count() as u32;
    SeatMapView {
        schedule_id: 3,
        available_seats,
        seats,
    }
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
    let map = fifty_seat_map();
    c.bench_function("json/seat_map_50", |b| {
        b.iter(|| serde_json::to_vec(black_box(&map)).expect("encodes"))
    });
    // What GET /api/schedules/{id}/seats does today (src/http/reservations.rs): a
    // `serde_json::Value` per seat built with `json!`, then encoded.
    let seats: Vec<Seat> = map
        .seats
        .iter()
        .map(|s| Seat {
            seat_no: s.seat_no as u64,
            price: s.price,
            status: match s.status {
                "SOLD" => SeatStatus::Sold,
                "HELD" => SeatStatus::Held,
                _ => SeatStatus::Available,
            },
        })
        .collect();
    c.bench_function("json/seat_map_50_via_value", |b| {
        b.iter(|| {
            let views: Vec<Value> = black_box(&seats)
                .iter()
                .map(
                    |s| json!({"seatNo": s.seat_no, "price": s.price, "status": s.status.as_str()}),
                )
                .collect();
            serde_json::to_vec(
                &json!({"scheduleId": 3, "availableSeats": map.available_seats, "seats": views}),
            )
            .expect("encodes")
        })
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
