//! The soak's buyers (`--scenario soak`) against a real server: a buyer whose token is no
//! longer ACTIVE (lapsed, or ended by its payment) joins again and goes on, and its bookings
//! sell seats from a wallet charged at set-up. Counts are checked, never timings.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use concert_queue_load::client::{Call, Connection};
use concert_queue_load::session::{self, body_json};
use concert_queue_load::target::Target;
use concert_queue_load::{self as load, LoadArgs};
use support::TestServer;

const SEATS: u32 = 200;
const PRICE: u64 = 50_000;

fn catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("catalog.json");
    let seats: Vec<String> = (1..=SEATS)
        .map(|n| format!(r#"{{"seatNo": {n}, "price": {PRICE}}}"#))
        .collect();
    let json = format!(
        r#"{{"concerts": [{{"id": 1, "title": "t", "artist": "a", "venue": "v",
            "schedules": [{{"id": 1, "startsAt": "2027-01-01T00:00:00Z", "seats": [{}]}}]}}]}}"#,
        seats.join(",")
    );
    std::fs::write(&path, json).unwrap();
    path
}

fn soak_args(server: &TestServer, dir: &std::path::Path, extra: &[&str]) -> LoadArgs {
    let mut argv: Vec<String> = [
        "concert-queue-load",
        "--target",
        &server.base,
        "--scenario",
        "soak",
        "--users",
        "4",
        "--catalog",
        &catalog(dir).display().to_string(),
        "--html",
        &dir.join("report.html").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(extra.iter().map(|s| s.to_string()));
    LoadArgs::parse_from(argv)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(support::unique_prefix(name).replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn server(name: &str, active_ttl: Duration) -> TestServer {
    let server = TestServer::start_with(name, |c| c.active_ttl = active_ttl).await;
    server.add_concert(1);
    server.add_schedule(1, 1, SEATS, PRICE);
    server
}

/// The seats a new buyer sees SOLD on schedule 1.
async fn sold_seats(server: &TestServer) -> usize {
    let mut conn = Connection::new(Target::parse(&server.base).unwrap(), Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    let buyer = session::open(&mut conn, 9_000_000_001, 1, true, deadline).await;
    assert!(buyer.active, "a new buyer is admitted");
    let token = buyer.token.unwrap();
    let answer = conn
        .send(Call::get("/api/schedules/1/seats".into()).with_bearer(&token))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    body_json(&answer)["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_payment_ends_the_token_and_the_buyer_joins_again() {
    let server = server("soak-pay", Duration::from_secs(300)).await;
    let dir = tempdir("soak-pay");
    let summary = load::run(soak_args(
        &server,
        &dir,
        &[
            "--weights",
            "seats=1,status=1",
            "--bookings-per-sec",
            "1000",
            "--cancel-share",
            "0",
            "--max-requests",
            "300",
            "--seconds",
            "60",
        ],
    ))
    .await
    .unwrap();
    let soak = summary.soak;
    assert_eq!(summary.total.errors, 0, "{}", summary.text());
    assert!(soak.paid >= 10, "{}", summary.text());
    // A payment leaves the buyer no live hold, so its token ends: every buyer joined again
    // after each payment but (perhaps) its last, cut by the budget.
    assert!(soak.rejoins + 4 >= soak.paid, "{}", summary.text());
    let pay = summary
        .endpoints
        .iter()
        .find(|r| r.endpoint == "POST /api/payments")
        .unwrap();
    // Each wallet held ten seats' price: later payments found it empty (402), and the
    // buyer topped it up and paid.
    let paid_201 = pay
        .statuses
        .iter()
        .find(|(s, _)| *s == 201)
        .map(|(_, n)| *n);
    assert_eq!(paid_201, Some(soak.paid), "{}", summary.text());
    assert!(pay.statuses.iter().all(|(s, _)| *s == 201 || *s == 402));
    assert!(
        soak.top_ups > 0 && pay.refused == soak.top_ups,
        "{}",
        summary.text()
    );
    assert_eq!(sold_seats(&server).await as u64, soak.paid);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_token_is_renewed_and_no_seat_map_fails() {
    let server = server("soak-lapse", Duration::from_secs(1)).await;
    let dir = tempdir("soak-lapse");
    let summary = load::run(soak_args(
        &server,
        &dir,
        &[
            "--weights",
            "seats=3,status=1",
            "--bookings-per-sec",
            "0",
            "--seconds",
            "4",
        ],
    ))
    .await
    .unwrap();
    let seats = summary
        .endpoints
        .iter()
        .find(|r| r.endpoint == "GET /api/schedules/{id}/seats")
        .unwrap();
    // Tokens last 1 s and the window 4: each of the 4 buyers lost its token at least once,
    // was told so (a 403 or EXPIRED), joined again and saw seats again.
    assert!(summary.soak.rejoins >= 4, "{}", summary.text());
    assert_eq!(summary.total.errors, 0, "{}", summary.text());
    assert_eq!(seats.errors, 0);
    assert!(seats.ok > 0 && seats.statuses.iter().all(|(s, _)| *s == 200 || *s == 403));
    assert_eq!(summary.soak.paid, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
