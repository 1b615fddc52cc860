//! The request each mix endpoint sends for one virtual user, and sending it with the
//! result recorded.

use std::time::Instant;

use rand::Rng;

use super::client::{Call, Connection};
use super::endpoint::{Endpoint, Outcome};
use super::plan::Plan;
use super::record::Recorder;
use super::session::{token_call, Session};

/// The call `endpoint` makes for `session`. Token issuance enters a fresh user (a first
/// entry, the write path), into a random concert.
pub fn mix_call<'a>(
    endpoint: Endpoint,
    session: &'a Session,
    plan: &Plan,
    rng: &mut impl Rng,
) -> Call<'a> {
    let concert = plan.concert_by_id(session.concert_id);
    let bearer = |call: Call<'a>| match &session.token {
        Some(token) => call.with_bearer(token),
        None => call,
    };
    match endpoint {
        Endpoint::ConcertList => Call::get("/api/concerts".into()),
        Endpoint::ConcertDetail => Call::get(format!("/api/concerts/{}", concert.id)),
        Endpoint::Schedules => Call::get(format!("/api/concerts/{}/schedules", concert.id)),
        Endpoint::Seats => bearer(Call::get(format!(
            "/api/schedules/{}/seats",
            concert.schedule(rng)
        ))),
        Endpoint::QueueStatus => bearer(Call::get("/api/queue/status".into())),
        Endpoint::IssueToken => token_call(plan.fresh_user(), plan.concert(rng).id),
        Endpoint::Charge | Endpoint::Hold | Endpoint::Pay | Endpoint::Cancel => {
            unreachable!("booking-flow endpoints are refused by --weights")
        }
    }
}

/// Sends `call`, records it as `endpoint` with latency measured from `intended` (the
/// open model's scheduled send time; the actual send time in the closed model).
pub async fn send_recorded(
    conn: &mut Connection,
    recorder: &Recorder,
    endpoint: Endpoint,
    call: Call<'_>,
    intended: Instant,
) -> (Outcome, Option<super::client::Answer>) {
    let answer = conn.send(call).await;
    let ended = Instant::now();
    let outcome = recorder.record(
        endpoint,
        answer.as_ref().map(|a| a.status).map_err(|f| *f),
        ended.saturating_duration_since(intended),
        ended,
    );
    (outcome, answer.ok())
}

/// Sends `call` now and records it as `endpoint`, its answer judged by `judge` (a
/// scenario's own view of which answers are refusals) instead of `Endpoint::judge`.
pub async fn send_judged(
    conn: &mut Connection,
    recorder: &Recorder,
    endpoint: Endpoint,
    call: Call<'_>,
    judge: fn(Endpoint, u16) -> Outcome,
) -> (Outcome, Option<super::client::Answer>) {
    let sent = Instant::now();
    let answer = conn.send(call).await;
    let ended = Instant::now();
    let outcome = recorder.record_judged(
        endpoint,
        answer.as_ref().map(|a| a.status).map_err(|f| *f),
        ended.saturating_duration_since(sent),
        ended,
        judge,
    );
    (outcome, answer.ok())
}
