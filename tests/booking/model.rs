//! A seeded randomized model test: random sequences of join, hold, cancel, expire, charge,
//! pay and read, applied both to the engine and to a plain in-memory model, which must agree
//! on every answer and, at every checkpoint, on every seat, balance and reservation.
//! `MODEL_SEED` and `MODEL_STEPS` reproduce or lengthen a run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const USERS: u64 = 6;
const VIEWER: u64 = 99;
const HOLD_LIMIT: u64 = 2;
/// (concert, schedule, seats, price)
const SCHEDULES: &[(u64, u64, u64, u64)] = &[(1, 10, 12, 1000), (1, 11, 8, 2500), (2, 20, 10, 700)];

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Held,
    Confirmed { body: Value },
    Expired,
    Cancelled,
}

#[derive(Clone, Debug)]
struct Reservation {
    user: u64,
    concert: u64,
    schedule: u64,
    seat: u64,
    price: u64,
    status: Status,
}

#[derive(Default)]
struct Model {
    /// (user, concert) -> (token, active)
    tokens: HashMap<(u64, u64), (String, bool)>,
    /// (schedule, seat) -> reservation id holding or owning it
    taken: HashMap<(u64, u64), String>,
    reservations: BTreeMap<String, Reservation>,
    balances: HashMap<u64, u64>,
}

impl Model {
    fn concert_of(schedule: u64) -> u64 {
        SCHEDULES.iter().find(|s| s.1 == schedule).unwrap().0
    }

    fn live_holds(&self, user: u64, pred: impl Fn(&Reservation) -> bool) -> usize {
        self.reservations
            .values()
            .filter(|r| r.user == user && r.status == Status::Held && pred(r))
            .count()
    }

    fn seat_status(&self, schedule: u64, seat: u64) -> &'static str {
        match self
            .taken
            .get(&(schedule, seat))
            .map(|id| &self.reservations[id].status)
        {
            Some(Status::Held) => "HELD",
            Some(Status::Confirmed { .. }) => "SOLD",
            _ => "AVAILABLE",
        }
    }

    fn end_hold(&mut self, id: &str, status: Status) {
        let r = self.reservations.get_mut(id).unwrap();
        r.status = status;
        let key = (r.schedule, r.seat);
        if self.taken.get(&key).map(String::as_str) == Some(id) {
            self.taken.remove(&key);
        }
    }

    /// Any token of the user (for the reads that accept any genuine token of the owner).
    fn any_token(&self, user: u64) -> Option<String> {
        [1, 2]
            .iter()
            .find_map(|c| self.tokens.get(&(user, *c)).map(|(t, _)| t.clone()))
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_agrees_with_a_plain_model_on_random_histories() {
    let seed: u64 = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_125);
    let steps: usize = std::env::var("MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    eprintln!("model test: MODEL_SEED={seed} MODEL_STEPS={steps}");
    let server = TestServer::start("model", |c| {
        c.queue_max_active = 10_000;
        c.queue_admit_per_sec = 1_000_000;
        c.holds_per_user = HOLD_LIMIT;
        c.hold_ttl = Duration::from_secs(600);
        c.hold_sweep_interval = Duration::from_millis(50);
        c.admit_per_available_seat = 1_000_000.0;
    })
    .await;
    // Schedules 12 and 21 are never touched: each concert keeps seats AVAILABLE, so the
    // inventory never pauses admission nor closes the queue (tests/booking/inventory.rs
    // covers those); joins are admitted at once, as the model says.
    let concerts = vec![
        concert(1, &[(10, 12, 1000), (11, 8, 2500), (12, 1, 1000)]),
        concert(2, &[(20, 10, 700), (21, 1, 700)]),
    ];
    server.seed(&catalog(concerts)).await;
    let viewers = [
        server.active_token(VIEWER, 1).await,
        server.active_token(VIEWER, 2).await,
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();

    for step in 0..steps {
        let user = rng.random_range(1..=USERS);
        let what = rng.random_range(0..100);
        let context = format!("seed {seed} step {step} user {user} action {what}");
        match what {
            0..=14 => join(&server, &mut model, user, rng.random_range(1..=2), &context).await,
            15..=44 => {
                let &(_, schedule, seats, _) = &SCHEDULES[rng.random_range(0..SCHEDULES.len())];
                let seat = rng.random_range(1..=seats + 1);
                let concert = if rng.random_bool(0.9) {
                    Model::concert_of(schedule)
                } else {
                    3 - Model::concert_of(schedule)
                };
                hold(
                    &server, &mut model, user, concert, schedule, seat, seats, &context,
                )
                .await;
            }
            45..=54 => {
                if let Some(id) = pick(&mut rng, &model, user) {
                    cancel(&server, &mut model, user, &id, &context).await;
                }
            }
            55..=62 => {
                let held: Vec<String> = model
                    .reservations
                    .iter()
                    .filter(|(_, r)| r.status == Status::Held)
                    .map(|(id, _)| id.clone())
                    .collect();
                if !held.is_empty() {
                    let id = held[rng.random_range(0..held.len())].clone();
                    let r = model.reservations[&id].clone();
                    server.lapse_hold(r.concert, r.schedule, r.user, &id).await;
                    model.end_hold(&id, Status::Expired);
                }
            }
            63..=74 => {
                let amount = rng.random_range(1..=3000);
                let (status, body) = server.charge(user, amount).await;
                assert_eq!(status, 200, "{context}: {body}");
                let balance = model.balances.entry(user).or_default();
                *balance += amount;
                assert_eq!(body["balance"].as_u64(), Some(*balance), "{context}");
            }
            75..=94 => {
                if let Some(id) = pick(&mut rng, &model, user) {
                    pay(&server, &mut model, user, &id, &context).await;
                }
            }
            _ => {
                if let Some(id) = pick(&mut rng, &model, user) {
                    read(&server, &model, user, &id, &context).await;
                }
            }
        }
        if step % 100 == 99 || step + 1 == steps {
            check_everything(&server, &model, &viewers, &context).await;
        }
    }
    let sold = model
        .reservations
        .values()
        .filter(|r| matches!(r.status, Status::Confirmed { .. }))
        .count();
    eprintln!(
        "model test: {} reservations, {sold} sold",
        model.reservations.len()
    );
    assert!(sold > 0, "the history exercised payments");
}

/// A reservation to act on: mostly the user's own, sometimes anyone's.
fn pick(rng: &mut StdRng, model: &Model, user: u64) -> Option<String> {
    let own: Vec<&String> = model
        .reservations
        .iter()
        .filter(|(_, r)| r.user == user)
        .map(|(id, _)| id)
        .collect();
    if !own.is_empty() && rng.random_bool(0.85) {
        return Some(own[rng.random_range(0..own.len())].clone());
    }
    let all: Vec<&String> = model.reservations.keys().collect();
    (!all.is_empty()).then(|| all[rng.random_range(0..all.len())].clone())
}

async fn join(server: &TestServer, model: &mut Model, user: u64, concert: u64, context: &str) {
    let (status, body) = server.join(user, concert).await;
    assert!(status == 200 || status == 201, "{context}: {body}");
    assert_eq!(body["status"], "ACTIVE", "{context}: admitted at once");
    let token = body["token"].as_str().unwrap().to_string();
    match model.tokens.get(&(user, concert)) {
        Some((old, true)) => {
            assert_eq!(
                (status, &token),
                (200, old),
                "{context}: re-entry keeps the token"
            )
        }
        _ => assert_eq!(status, 201, "{context}: a new entry"),
    }
    model.tokens.insert((user, concert), (token, true));
}

#[allow(clippy::too_many_arguments)]
async fn hold(
    server: &TestServer,
    model: &mut Model,
    user: u64,
    concert: u64,
    schedule: u64,
    seat: u64,
    seats: u64,
    context: &str,
) {
    let Some((token, active)) = model.tokens.get(&(user, concert)).cloned() else {
        return;
    };
    let (status, body) = server.hold(&token, schedule, seat).await;
    let own_hold = model
        .taken
        .get(&(schedule, seat))
        .filter(|id| {
            let r = &model.reservations[*id];
            r.user == user && r.status == Status::Held
        })
        .cloned();
    let expected = if !active || concert != Model::concert_of(schedule) {
        Err((403, "TOKEN_NOT_ACTIVE"))
    } else if seat > seats {
        Err((404, "SEAT_NOT_FOUND"))
    } else if let Some(id) = own_hold {
        // A retry of one's own live hold: 200 with that hold, nothing changes.
        assert_eq!(
            (status, body["reservationId"].as_str()),
            (200, Some(id.as_str())),
            "{context}: re-hold {schedule}/{seat}"
        );
        return;
    } else if model.seat_status(schedule, seat) != "AVAILABLE" {
        Err((409, "SEAT_UNAVAILABLE"))
    } else if model.live_holds(user, |r| r.schedule == schedule) as u64 >= HOLD_LIMIT {
        Err((409, "HOLD_LIMIT"))
    } else {
        Ok(())
    };
    match expected {
        Err((want_status, want_code)) => {
            assert_eq!(
                (status, code(&body)),
                (want_status, want_code),
                "{context}: hold {schedule}/{seat}"
            )
        }
        Ok(()) => {
            assert_eq!(status, 201, "{context}: hold {schedule}/{seat}: {body}");
            let id = body["reservationId"].as_str().unwrap().to_string();
            let price = SCHEDULES.iter().find(|s| s.1 == schedule).unwrap().3;
            assert_eq!(body["price"].as_u64(), Some(price), "{context}");
            assert!(
                !model.reservations.contains_key(&id),
                "{context}: ids are never reused"
            );
            model.taken.insert((schedule, seat), id.clone());
            model.reservations.insert(
                id,
                Reservation {
                    user,
                    concert,
                    schedule,
                    seat,
                    price,
                    status: Status::Held,
                },
            );
        }
    }
}

async fn cancel(server: &TestServer, model: &mut Model, user: u64, id: &str, context: &str) {
    let Some(token) = model.any_token(user) else {
        return;
    };
    let (status, body) = server.cancel(&token, id).await;
    let r = model.reservations[id].clone();
    if r.user != user {
        assert_eq!(
            (status, code(&body)),
            (403, "FORBIDDEN"),
            "{context}: cancel {id}"
        );
    } else if matches!(r.status, Status::Confirmed { .. }) {
        assert_eq!(
            (status, code(&body)),
            (409, "ALREADY_CONFIRMED"),
            "{context}: cancel {id}"
        );
    } else {
        assert_eq!(status, 204, "{context}: cancel {id}: {body}");
        if r.status == Status::Held {
            model.end_hold(id, Status::Cancelled);
        }
    }
}

async fn pay(server: &TestServer, model: &mut Model, user: u64, id: &str, context: &str) {
    let r = model.reservations[id].clone();
    let own = model.tokens.get(&(user, r.concert)).cloned();
    let Some((token, active)) = own.or_else(|| model.any_token(user).map(|t| (t, false))) else {
        return;
    };
    let (status, body) = server.pay(&token, id).await;
    let balance = model.balances.get(&user).copied().unwrap_or(0);
    let refusal = if r.user != user {
        Some((403, "FORBIDDEN"))
    } else if let Status::Confirmed { body: first } = &r.status {
        assert_eq!(
            (status, &body),
            (200, first),
            "{context}: a repeated payment"
        );
        return;
    } else if !active {
        Some((403, "TOKEN_NOT_ACTIVE"))
    } else if r.status == Status::Cancelled {
        Some((409, "NOT_HELD"))
    } else if r.status == Status::Expired {
        Some((409, "HOLD_EXPIRED"))
    } else if balance < r.price {
        Some((402, "INSUFFICIENT_BALANCE"))
    } else {
        None
    };
    if let Some((want_status, want_code)) = refusal {
        assert_eq!(
            (status, code(&body)),
            (want_status, want_code),
            "{context}: pay {id}"
        );
        return;
    }
    assert_eq!(status, 201, "{context}: pay {id}: {body}");
    let after = balance - r.price;
    assert_eq!(body["amount"].as_u64(), Some(r.price), "{context}");
    assert_eq!(body["balance"].as_u64(), Some(after), "{context}");
    model.balances.insert(user, after);
    model.reservations.get_mut(id).unwrap().status = Status::Confirmed { body };
    if model.live_holds(user, |other| other.concert == r.concert) == 0 {
        model.tokens.get_mut(&(user, r.concert)).unwrap().1 = false;
    }
}

async fn read(server: &TestServer, model: &Model, user: u64, id: &str, context: &str) {
    let Some(token) = model.any_token(user) else {
        return;
    };
    let (status, body) = server.reservation(&token, id).await;
    let r = &model.reservations[id];
    if r.user != user {
        assert_eq!(
            (status, code(&body)),
            (403, "FORBIDDEN"),
            "{context}: read {id}"
        );
    } else {
        assert_eq!(status, 200, "{context}: read {id}");
        assert_eq!(
            body["status"].as_str(),
            Some(status_name(&r.status)),
            "{context}: read {id}"
        );
    }
}

fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Held => "HELD",
        Status::Confirmed { .. } => "CONFIRMED",
        Status::Expired => "EXPIRED",
        Status::Cancelled => "CANCELLED",
    }
}

/// Every seat, balance, reservation and token, engine against model.
async fn check_everything(
    server: &TestServer,
    model: &Model,
    viewers: &[String; 2],
    context: &str,
) {
    for &(concert, schedule, seats, price) in SCHEDULES {
        let (status, map) = server.seats(&viewers[concert as usize - 1], schedule).await;
        assert_eq!(status, 200, "{context}: {map}");
        let listed = map["seats"].as_array().unwrap();
        assert_eq!(listed.len() as u64, seats);
        for seat in listed {
            let no = seat["seatNo"].as_u64().unwrap();
            assert_eq!(seat["price"].as_u64(), Some(price));
            assert_eq!(
                seat["status"].as_str(),
                Some(model.seat_status(schedule, no)),
                "{context}: seat {schedule}/{no}"
            );
        }
    }
    for user in 1..=USERS {
        let want = model.balances.get(&user).copied().unwrap_or(0);
        assert_eq!(
            server.balance(user).await,
            want,
            "{context}: balance of {user}"
        );
        for concert in [1, 2] {
            if let Some((token, active)) = model.tokens.get(&(user, concert)) {
                let state = server.status(token).await;
                let want = if *active { "ACTIVE" } else { "EXPIRED" };
                assert_eq!(
                    state["status"], want,
                    "{context}: token of {user} for {concert}"
                );
            }
        }
    }
    for (id, r) in &model.reservations {
        let token = model.any_token(r.user).unwrap();
        let (status, body) = server.reservation(&token, id).await;
        assert_eq!(status, 200, "{context}: {id}");
        assert_eq!(
            body["status"].as_str(),
            Some(status_name(&r.status)),
            "{context}: {id}"
        );
        assert_eq!(body["seatNo"].as_u64(), Some(r.seat));
    }
}
