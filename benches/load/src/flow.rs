//! The booking flow, closed model: each virtual user repeats charge, join, poll until
//! ACTIVE, view seats, hold an available seat, pay, each time as a new buyer. Every step
//! is recorded; a flow ends early, and is counted as such, when a step fails or the
//! schedule is sold out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::client::{Call, Connection};
use super::endpoint::{Endpoint, Outcome};
use super::plan::Plan;
use super::record::Recorder;
use super::requests::send_recorded;
use super::session::{body_json, token_call};

/// Pause between status polls while WAITING.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Seats tried when another buyer holds the chosen one first.
const HOLD_ATTEMPTS: usize = 3;

/// Settings of the flow.
#[derive(Clone, Copy, Debug)]
pub struct FlowSettings {
    /// Won charged to each new buyer before joining.
    pub charge_amount: u64,
    /// Longest wait for ACTIVE before the flow gives up.
    pub admission_limit: Duration,
}

enum FlowEnd {
    Completed,
    SoldOut,
    Failed,
    /// The window closed (or the budget ran out) before the flow could finish.
    Cut,
}

/// Runs `users` virtual users through the flow until the window or budget is over.
pub async fn run(
    users: usize,
    make: impl Fn() -> Connection,
    plan: Arc<Plan>,
    recorder: Recorder,
    settings: FlowSettings,
) {
    let tasks: Vec<_> = (0..users)
        .map(|n| {
            let (plan, recorder, mut conn) = (plan.clone(), recorder.clone(), make());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(n as u64);
                while plan.is_open() {
                    let end = one_flow(&mut conn, &plan, &recorder, &settings, &mut rng).await;
                    recorder.flow(|counts| match end {
                        FlowEnd::Completed => counts.completed += 1,
                        FlowEnd::SoldOut => counts.sold_out += 1,
                        FlowEnd::Failed => counts.failed += 1,
                        FlowEnd::Cut => counts.cut += 1,
                    });
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// Sends one step if the window and budget allow: its outcome and JSON body, or how the
/// flow ends (Cut when it may not send, Failed when the step failed).
async fn step(
    conn: &mut Connection,
    plan: &Plan,
    recorder: &Recorder,
    endpoint: Endpoint,
    call: Call<'_>,
) -> Result<(Outcome, Value), FlowEnd> {
    if !plan.may_send() {
        return Err(FlowEnd::Cut);
    }
    let (outcome, answer) = send_recorded(conn, recorder, endpoint, call, Instant::now()).await;
    let body = answer.as_ref().map(body_json).unwrap_or(Value::Null);
    match outcome {
        Outcome::Error => Err(FlowEnd::Failed),
        _ => Ok((outcome, body)),
    }
}

/// One buyer's whole flow; every early end (`Err`) is as telling as the full one.
async fn one_flow(
    conn: &mut Connection,
    plan: &Plan,
    recorder: &Recorder,
    settings: &FlowSettings,
    rng: &mut StdRng,
) -> FlowEnd {
    attempt(conn, plan, recorder, settings, rng)
        .await
        .unwrap_or_else(|end| end)
}

async fn attempt(
    conn: &mut Connection,
    plan: &Plan,
    recorder: &Recorder,
    settings: &FlowSettings,
    rng: &mut StdRng,
) -> Result<FlowEnd, FlowEnd> {
    let user = plan.fresh_user();
    let concert = plan.concert(rng).clone();
    let schedule = concert.schedule(rng);
    let charge = crate::identity::signed_in(
        Call::post(
            format!("/api/users/{user}/balance/charge"),
            json!({"amount": settings.charge_amount}).to_string(),
        ),
        user,
    );
    step(conn, plan, recorder, Endpoint::Charge, charge).await?;
    let join = token_call(user, concert.id);
    let (_, joined) = step(conn, plan, recorder, Endpoint::IssueToken, join).await?;
    let token = joined["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or(FlowEnd::Failed)?;
    let mut active = joined["status"] == "ACTIVE";
    let give_up = Instant::now() + settings.admission_limit;
    while !active {
        if !plan.is_open() {
            return Err(FlowEnd::Cut);
        }
        if Instant::now() >= give_up {
            return Err(FlowEnd::Failed);
        }
        tokio::time::sleep(POLL_EVERY).await;
        let poll = Call::get("/api/queue/status".into()).with_bearer(&token);
        let (_, status) = step(conn, plan, recorder, Endpoint::QueueStatus, poll).await?;
        match status["status"].as_str() {
            Some("ACTIVE") => active = true,
            Some("WAITING") => {}
            _ => return Err(FlowEnd::Failed),
        }
    }
    let seats = Call::get(format!("/api/schedules/{schedule}/seats")).with_bearer(&token);
    let (_, seat_map) = step(conn, plan, recorder, Endpoint::Seats, seats).await?;
    let available: Vec<u64> = seat_map["seats"]
        .as_array()
        .map(|seats| {
            seats
                .iter()
                .filter(|s| s["status"] == "AVAILABLE")
                .filter_map(|s| s["seatNo"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    for seat_no in available.choose_multiple(rng, HOLD_ATTEMPTS) {
        let hold = Call::post(
            "/api/reservations".into(),
            json!({"scheduleId": schedule, "seatNo": seat_no}).to_string(),
        )
        .with_bearer(&token);
        let (outcome, held) = step(conn, plan, recorder, Endpoint::Hold, hold).await?;
        if outcome == Outcome::Refused {
            continue;
        }
        let reservation = held["reservationId"].as_str().ok_or(FlowEnd::Failed)?;
        let pay = Call::post(
            "/api/payments".into(),
            json!({"reservationId": reservation}).to_string(),
        )
        .with_bearer(&token);
        step(conn, plan, recorder, Endpoint::Pay, pay).await?;
        return Ok(FlowEnd::Completed);
    }
    Ok(FlowEnd::SoldOut)
}
