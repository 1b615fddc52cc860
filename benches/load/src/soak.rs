//! The soak's buyers (`--scenario soak`, closed model): the seed mix (`--weights`) played by
//! virtual users who stay buyers for as long as the run lasts, as real ones would.
//!
//! - A buyer whose token is no longer ACTIVE (the seat map answers 403, a status poll
//!   answers EXPIRED) joins the queue again (a new token), and while it waits its seat-map
//!   draws are status polls (it cannot see seats), until a poll answers ACTIVE.
//! - Bookings at `--bookings-per-sec` over the whole run, each by the next ACTIVE buyer whose
//!   turn it is: a seat map, a hold on an AVAILABLE seat, then payment from the wallet
//!   charged at set-up (topped up on 402), or, for `--cancel-share` of them, cancelling the
//!   hold. A payment ends the buyer's token (no live hold left), so it joins again.
//!
//! The expected answers of such a life count as refusals, not errors: a lapsed token's 403,
//! a taken seat's 409, an empty wallet's 402. Every request is recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::client::{Call, Connection};
use super::endpoint::{Endpoint, Outcome};
use super::mix::Weights;
use super::plan::Plan;
use super::record::Recorder;
use super::requests::{mix_call, send_judged};
use super::session::{body_json, token_call, Session};

/// Seats tried when another buyer holds the chosen one first.
const HOLD_ATTEMPTS: usize = 3;

/// Settings of the soak's buyers.
#[derive(Clone, Copy, Debug)]
pub struct SoakSettings {
    /// Bookings (hold, then pay or cancel) per second over all buyers.
    pub bookings_per_sec: f64,
    /// Share of bookings that cancel the hold instead of paying (0 to 1).
    pub cancel_share: f64,
    /// Won charged to each buyer's wallet at set-up, and again when a payment answers 402.
    pub wallet: u64,
}

/// The soak's judgement of an answer: what a buyer's life brings is a refusal.
pub fn judge(endpoint: Endpoint, status: u16) -> Outcome {
    match (endpoint, status) {
        (Endpoint::Seats, 403) | (Endpoint::Pay, 402) => Outcome::Refused,
        _ => endpoint.judge(status),
    }
}

/// Hands out bookings at a fixed rate from the window's start: one is due each period.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    per_sec: f64,
    taken: AtomicU64,
}

impl Pacer {
    pub fn new(start: Instant, per_sec: f64) -> Pacer {
        Pacer {
            start,
            per_sec,
            taken: AtomicU64::new(0),
        }
    }

    /// Takes a booking when one is due at `now`.
    pub fn take(&self, now: Instant) -> bool {
        if self.per_sec <= 0.0 {
            return false;
        }
        let allowed = (now.saturating_duration_since(self.start).as_secs_f64() * self.per_sec)
            .floor() as u64
            + 1;
        self.taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t < allowed).then_some(t + 1)
            })
            .is_ok()
    }
}

/// Charges every buyer's wallet before the window opens (not recorded).
pub async fn charge_wallets(users: &mut [(Connection, Session)], wallet: u64) -> usize {
    let charged = users.iter_mut().map(|(conn, session)| async move {
        let answer = conn.send(charge_call(session.user_id, wallet)).await;
        matches!(answer, Ok(a) if a.status == 200)
    });
    futures::future::join_all(charged)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count()
}

fn charge_call(user: u64, amount: u64) -> Call<'static> {
    crate::identity::signed_in(
        Call::post(
            format!("/api/users/{user}/balance/charge"),
            json!({ "amount": amount }).to_string(),
        ),
        user,
    )
}

/// Runs every buyer until the window or the request budget is over.
pub async fn run(
    users: Vec<(Connection, Session)>,
    plan: Arc<Plan>,
    weights: Arc<Weights>,
    recorder: Recorder,
    settings: SoakSettings,
    pacer: Arc<Pacer>,
) {
    let tasks: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(n, (conn, session))| {
            let mut buyer = Buyer {
                conn,
                session,
                plan: plan.clone(),
                recorder: recorder.clone(),
                rng: StdRng::seed_from_u64(n as u64),
            };
            let (weights, pacer) = (weights.clone(), pacer.clone());
            tokio::spawn(async move { buyer.live(&weights, &pacer, &settings).await })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// One virtual buyer: its connection, identity and token, and what it needs to act.
struct Buyer {
    conn: Connection,
    session: Session,
    plan: Arc<Plan>,
    recorder: Recorder,
    rng: StdRng,
}

/// A step could not be sent: the window or the request budget is over.
struct Closed;

impl Buyer {
    async fn live(&mut self, weights: &Weights, pacer: &Pacer, settings: &SoakSettings) {
        while self.plan.is_open() {
            let step = if self.session.active && pacer.take(Instant::now()) {
                self.book(settings).await
            } else {
                self.draw(weights).await
            };
            if step.is_err() {
                break;
            }
            if !self.plan.think.is_zero() {
                tokio::time::sleep(self.plan.think).await;
            }
        }
    }

    /// Sends one request if the budget allows; its status (0: no answer) and JSON body.
    async fn send(&mut self, endpoint: Endpoint, call: Call<'_>) -> Result<(u16, Value), Closed> {
        if !self.plan.may_send() {
            return Err(Closed);
        }
        let (_, answer) = send_judged(&mut self.conn, &self.recorder, endpoint, call, judge).await;
        Ok(answer
            .map(|a| (a.status, body_json(&a)))
            .unwrap_or((0, Value::Null)))
    }

    /// One draw of the mix; a seat map only while ACTIVE.
    async fn draw(&mut self, weights: &Weights) -> Result<(), Closed> {
        match weights.pick(&mut self.rng) {
            Endpoint::QueueStatus => self.poll().await,
            Endpoint::Seats if !self.session.active => self.poll().await,
            Endpoint::Seats => {
                let schedule = self
                    .plan
                    .concert_by_id(self.session.concert_id)
                    .schedule(&mut self.rng);
                self.seat_map(schedule).await.map(|_| ())
            }
            endpoint => {
                let call = mix_call(endpoint, &self.session, &self.plan, &mut self.rng);
                let owned = owned(call);
                self.send(endpoint, owned).await.map(|_| ())
            }
        }
    }

    /// A status poll; EXPIRED (or a token the server no longer knows) means joining again.
    async fn poll(&mut self) -> Result<(), Closed> {
        let Some(token) = self.session.token.clone() else {
            return self.rejoin().await;
        };
        let call = Call::get("/api/queue/status".into()).with_bearer(&token);
        let (status, body) = self.send(Endpoint::QueueStatus, call).await?;
        match (status, body["status"].as_str()) {
            (200, Some("ACTIVE")) => self.session.active = true,
            (200, Some("EXPIRED")) | (401, _) => return self.rejoin().await,
            (200, _) => self.session.active = false,
            _ => {}
        }
        Ok(())
    }

    /// Joins the buyer's concert again (a new token), counted as a re-join.
    async fn rejoin(&mut self) -> Result<(), Closed> {
        self.session.active = false;
        self.recorder.soak(|c| c.rejoins += 1);
        let call = token_call(self.session.user_id, self.session.concert_id);
        let (status, body) = self.send(Endpoint::IssueToken, call).await?;
        if status == 200 || status == 201 {
            self.session.token = body["token"].as_str().map(str::to_owned);
            self.session.active = body["status"] == "ACTIVE";
        } else if status == 409 {
            // Sold out: the buyer turns to another concert (the soak sizes bookings so that
            // none sells out, so this is rare).
            self.session.concert_id = self.plan.concert(&mut self.rng).id;
            self.session.token = None;
        }
        Ok(())
    }

    /// A seat map of `schedule`: its AVAILABLE seats, or None when the token was refused
    /// (then the buyer has joined again) or the answer was not a seat map.
    async fn seat_map(&mut self, schedule: u64) -> Result<Option<Vec<u64>>, Closed> {
        let token = self.session.token.clone().unwrap_or_default();
        let call = Call::get(format!("/api/schedules/{schedule}/seats")).with_bearer(&token);
        let (status, body) = self.send(Endpoint::Seats, call).await?;
        if status == 403 {
            self.rejoin().await?;
            return Ok(None);
        }
        Ok((status == 200).then(|| available_seats(&body)))
    }

    /// One booking: a seat map, a hold, then payment or cancellation.
    async fn book(&mut self, settings: &SoakSettings) -> Result<(), Closed> {
        let schedule = self
            .plan
            .concert_by_id(self.session.concert_id)
            .schedule(&mut self.rng);
        let Some(available) = self.seat_map(schedule).await? else {
            return Ok(());
        };
        let token = self.session.token.clone().unwrap_or_default();
        let seats: Vec<u64> = available
            .choose_multiple(&mut self.rng, HOLD_ATTEMPTS)
            .copied()
            .collect();
        for seat_no in seats {
            let hold = Call::post(
                "/api/reservations".into(),
                json!({"scheduleId": schedule, "seatNo": seat_no}).to_string(),
            )
            .with_bearer(&token);
            let (status, held) = self.send(Endpoint::Hold, hold).await?;
            match status {
                200 | 201 => {}
                409 => continue,
                403 => return self.rejoin().await,
                _ => return Ok(()),
            }
            let Some(reservation) = held["reservationId"].as_str().map(str::to_owned) else {
                return Ok(());
            };
            return if self.rng.random_bool(settings.cancel_share.clamp(0.0, 1.0)) {
                self.cancel(&reservation, &token).await
            } else {
                self.pay(&reservation, &token, settings.wallet).await
            };
        }
        self.recorder.soak(|c| c.no_seat += 1);
        Ok(())
    }

    async fn cancel(&mut self, reservation: &str, token: &str) -> Result<(), Closed> {
        let call = Call::delete(format!("/api/reservations/{reservation}")).with_bearer(token);
        let (status, _) = self.send(Endpoint::Cancel, call).await?;
        if status == 204 {
            self.recorder.soak(|c| c.cancelled += 1);
        }
        Ok(())
    }

    /// Pays; on 402 tops the wallet up and pays once more. A payment ends the token.
    async fn pay(&mut self, reservation: &str, token: &str, wallet: u64) -> Result<(), Closed> {
        for attempt in 0..2 {
            let call = Call::post(
                "/api/payments".into(),
                json!({ "reservationId": reservation }).to_string(),
            )
            .with_bearer(token);
            let (status, _) = self.send(Endpoint::Pay, call).await?;
            match status {
                200 | 201 => {
                    self.recorder.soak(|c| c.paid += 1);
                    // The server ends the token with the buyer's last live hold; the next
                    // status poll tells.
                    self.session.active = false;
                    return Ok(());
                }
                402 if attempt == 0 => {
                    self.recorder.soak(|c| c.top_ups += 1);
                    let user = self.session.user_id;
                    self.send(Endpoint::Charge, charge_call(user, wallet))
                        .await?;
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }
}

/// The call with no borrow left (the mix's calls borrow the session's token).
fn owned(call: Call<'_>) -> Call<'static> {
    let bearer = call.bearer.map(|b| b.into_owned());
    Call {
        method: call.method,
        path: call.path,
        bearer: bearer.map(std::borrow::Cow::Owned),
        json: call.json,
        forwarded_for: call.forwarded_for,
    }
}

/// The seat numbers a seat map shows AVAILABLE.
pub fn available_seats(seat_map: &Value) -> Vec<u64> {
    seat_map["seats"]
        .as_array()
        .map(|seats| {
            seats
                .iter()
                .filter(|s| s["status"] == "AVAILABLE")
                .filter_map(|s| s["seatNo"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_pacer_hands_out_one_booking_per_period() {
        let start = Instant::now();
        let pacer = Pacer::new(start, 2.0);
        assert!(pacer.take(start), "the first is due at once");
        assert!(!pacer.take(start + Duration::from_millis(400)));
        assert!(pacer.take(start + Duration::from_millis(500)));
        assert!(!pacer.take(start + Duration::from_millis(900)));
        // A backlog is made up, one take at a time.
        assert!(pacer.take(start + Duration::from_millis(2000)));
        assert!(pacer.take(start + Duration::from_millis(2000)));
        assert!(pacer.take(start + Duration::from_millis(2000)));
        assert!(!pacer.take(start + Duration::from_millis(2000)));
        assert!(!Pacer::new(start, 0.0).take(start + Duration::from_secs(9)));
    }

    #[test]
    fn a_buyers_life_is_refused_not_failed() {
        assert_eq!(judge(Endpoint::Seats, 403), Outcome::Refused);
        assert_eq!(judge(Endpoint::Pay, 402), Outcome::Refused);
        assert_eq!(judge(Endpoint::Hold, 409), Outcome::Refused);
        assert_eq!(judge(Endpoint::Cancel, 204), Outcome::Ok);
        assert_eq!(judge(Endpoint::Seats, 500), Outcome::Error);
        assert_eq!(judge(Endpoint::Pay, 403), Outcome::Error);
    }

    #[test]
    fn only_available_seats_are_offered() {
        let map = json!({"seats": [
            {"seatNo": 1, "status": "SOLD"}, {"seatNo": 2, "status": "AVAILABLE"},
            {"seatNo": 3, "status": "HELD"}, {"seatNo": 4, "status": "AVAILABLE"}]});
        assert_eq!(available_seats(&map), vec![2, 4]);
        assert!(available_seats(&Value::Null).is_empty());
    }
}
