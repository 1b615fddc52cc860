//! The flash crowd (`--scenario flash`): `--buyers` buyers join one concert's queue, spread
//! evenly over `--join-seconds`, over a pool of `--users` keep-alive connections; each then
//! polls its status as `pollAfterMs` advises (honouring `Retry-After` after a 429) until
//! ACTIVE, EXPIRED or SOLD_OUT, and an admitted buyer leaves (its session lapses). Every
//! request lands in the route table (p99 per route) and in the buyer's timeline, which
//! src/flash_check.rs checks: no 5xx, admission in join order, no position going up, and
//! the estimated wait against the actual one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::client::{Answer, Call, Connection, Failure};
use crate::endpoint::Endpoint;
use crate::flash_check::{Observation, Seen, Timeline};
use crate::record::Recorder;
use crate::session::{body_json, token_call};
use crate::target::Target;

/// The poll interval when an answer gives no advice, and the pause after no answer.
const FALLBACK_PAUSE: Duration = Duration::from_secs(1);
/// Joins a buyer tries before it gives up joining.
const JOIN_TRIES: usize = 5;

/// What the scenario is asked to do.
#[derive(Clone, Debug)]
pub struct FlashSettings {
    pub buyers: u64,
    pub join_window: Duration,
    pub connections: usize,
    /// Longest a buyer waits for admission after joining.
    pub patience: Duration,
    pub concert_id: u64,
    pub first_user: u64,
}

/// Keep-alive connections the buyers take turns on.
struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Pool {
    fn new(target: &Target, timeout: Duration, size: usize) -> Pool {
        Pool {
            idle: Mutex::new(
                (0..size)
                    .map(|_| Connection::new(target.clone(), timeout))
                    .collect(),
            ),
            permits: Semaphore::new(size),
        }
    }

    /// Sends `call` on a free connection: the answer, when it was sent and when answered.
    async fn send(&self, call: Call<'_>) -> (Result<Answer, Failure>, Instant, Instant) {
        let _permit = self.permits.acquire().await.expect("never closed");
        let mut conn = self
            .idle
            .lock()
            .expect("pool lock")
            .pop()
            .expect("a permit means a free connection");
        let sent = Instant::now();
        let answer = conn.send(call).await;
        let received = Instant::now();
        self.idle.lock().expect("pool lock").push(conn);
        (answer, sent, received)
    }
}

/// One buyer's run, shared by its steps.
struct Buyer<'a> {
    pool: &'a Pool,
    recorder: &'a Recorder,
    start: Instant,
    timeline: Timeline,
}

impl Buyer<'_> {
    /// Sends one request, records it and adds it to the timeline; the JSON body when it
    /// got a 2xx, and the pause the answer asks for before the next request.
    async fn request(&mut self, endpoint: Endpoint, call: Call<'_>) -> (Value, Duration) {
        let (answer, sent, received) = self.pool.send(call).await;
        self.recorder.record(
            endpoint,
            answer.as_ref().map(|a| a.status).map_err(|f| *f),
            received - sent,
            received,
        );
        let (seen, body, pause) = match &answer {
            Ok(a) if (200..300).contains(&a.status) => {
                let body = body_json(a);
                let seen = seen_in(&body, a.status);
                let pause = body["pollAfterMs"]
                    .as_u64()
                    .map_or(FALLBACK_PAUSE, Duration::from_millis);
                (seen, body, pause)
            }
            Ok(a) if a.status >= 500 => (Seen::ServerError(a.status), Value::Null, FALLBACK_PAUSE),
            Ok(a) => {
                let pause = a.retry_after.map_or(FALLBACK_PAUSE, Duration::from_secs);
                (Seen::Refused(a.status), Value::Null, pause)
            }
            Err(_) => (Seen::NoAnswer, Value::Null, FALLBACK_PAUSE),
        };
        self.timeline.observations.push(Observation {
            sent_us: (sent - self.start).as_micros() as u64,
            received_us: (received - self.start).as_micros() as u64,
            seen,
            position: body["position"].as_u64(),
            wait_secs: body["estimatedWaitSeconds"].as_u64(),
            join: endpoint == Endpoint::IssueToken,
        });
        (body, pause)
    }

    fn last_seen(&self) -> Option<Seen> {
        self.timeline.observations.last().map(|o| o.seen)
    }
}

/// What a 2xx body says.
fn seen_in(body: &Value, status: u16) -> Seen {
    match body["status"].as_str() {
        Some("WAITING") => Seen::Waiting,
        Some("ACTIVE") => Seen::Active,
        Some("EXPIRED") => Seen::Expired,
        Some("PRE_QUEUE") => Seen::PreQueue,
        Some("SOLD_OUT") => Seen::SoldOut,
        _ => Seen::Refused(status),
    }
}

/// One buyer: joins, then polls as advised until the wait is over one way or another.
async fn one_buyer(
    pool: &Pool,
    recorder: &Recorder,
    start: Instant,
    user: u64,
    settings: &FlashSettings,
) -> Timeline {
    let mut buyer = Buyer {
        pool,
        recorder,
        start,
        timeline: Timeline {
            buyer: user,
            ..Timeline::default()
        },
    };
    let mut token = None;
    let mut pause = FALLBACK_PAUSE;
    for _ in 0..JOIN_TRIES {
        let (body, after) = buyer
            .request(Endpoint::IssueToken, token_call(user, settings.concert_id))
            .await;
        pause = after;
        if let Some(t) = body["token"].as_str() {
            token = Some(t.to_owned());
            break;
        }
        tokio::time::sleep(after).await;
    }
    let Some(token) = token else {
        return buyer.timeline;
    };
    let give_up = Instant::now() + settings.patience;
    while matches!(
        buyer.last_seen(),
        Some(
            Seen::Waiting
                | Seen::PreQueue
                | Seen::Refused(_)
                | Seen::ServerError(_)
                | Seen::NoAnswer
        )
    ) {
        if Instant::now() + pause > give_up {
            buyer.timeline.gave_up = true;
            break;
        }
        tokio::time::sleep(pause).await;
        let poll = Call::get("/api/queue/status".into()).with_bearer(&token);
        pause = buyer.request(Endpoint::QueueStatus, poll).await.1;
    }
    buyer.timeline
}

/// Runs the flash crowd against `target`; every buyer's timeline, in join order.
pub async fn run(
    target: &Target,
    timeout: Duration,
    recorder: Recorder,
    start: Instant,
    settings: FlashSettings,
) -> Vec<Timeline> {
    let pool = Arc::new(Pool::new(target, timeout, settings.connections.max(1)));
    let settings = Arc::new(settings);
    let every = settings.join_window.as_secs_f64() / settings.buyers.max(1) as f64;
    let mut buyers = Vec::with_capacity(settings.buyers as usize);
    for n in 0..settings.buyers {
        tokio::time::sleep_until((start + Duration::from_secs_f64(every * n as f64)).into()).await;
        let (pool, recorder, settings) = (pool.clone(), recorder.clone(), settings.clone());
        buyers.push(tokio::spawn(async move {
            let user = settings.first_user + n;
            one_buyer(&pool, &recorder, start, user, &settings).await
        }));
    }
    let mut timelines = Vec::with_capacity(buyers.len());
    for buyer in buyers {
        if let Ok(timeline) = buyer.await {
            timelines.push(timeline);
        }
    }
    timelines
}
