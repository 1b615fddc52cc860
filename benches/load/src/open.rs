//! The open model: requests at a fixed arrival rate, whatever the server's speed. Request
//! k is due at start + k / rate. A pacing thread (std sleep, about 0.1 ms precise, where
//! tokio's timer ticks in whole milliseconds) releases each due time into a queue; a free
//! connection takes the oldest and sends at once, and its latency is measured from the
//! due time. A stalled server therefore shows as latency rather than as fewer requests
//! (no coordinated omission). The lag from due time to send is recorded and reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, Mutex};

use super::client::Connection;
use super::mix::Weights;
use super::plan::Plan;
use super::record::Recorder;
use super::requests::{mix_call, send_recorded};
use super::session::Session;

/// Releases due times at `rate` per second from `start` until the window or the request
/// budget is over; dropping the sender then ends every worker.
fn pace(plan: Arc<Plan>, rate: u64, start: Instant, due: mpsc::UnboundedSender<Instant>) {
    let period_ns = 1_000_000_000f64 / rate.max(1) as f64;
    for slot in 0u64.. {
        let intended = start + Duration::from_nanos((slot as f64 * period_ns) as u64);
        if !plan.is_before_deadline(intended) || !plan.may_send() {
            return;
        }
        let now = Instant::now();
        if intended > now {
            std::thread::sleep(intended - now);
        }
        if due.send(intended).is_err() {
            return;
        }
    }
}

/// Runs the schedule at `rate` requests per second over the given connections.
pub async fn run_mix(
    connections: Vec<(Connection, Session)>,
    plan: Arc<Plan>,
    weights: Arc<Weights>,
    recorder: Recorder,
    rate: u64,
    start: Instant,
) {
    let (due_tx, due_rx) = mpsc::unbounded_channel();
    let due_rx = Arc::new(Mutex::new(due_rx));
    let pacer = {
        let plan = plan.clone();
        std::thread::spawn(move || pace(plan, rate, start, due_tx))
    };
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(n, (mut conn, session))| {
            let (plan, weights, recorder, due_rx) = (
                plan.clone(),
                weights.clone(),
                recorder.clone(),
                due_rx.clone(),
            );
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(n as u64);
                loop {
                    let next = due_rx.lock().await.recv().await;
                    let Some(intended) = next else { break };
                    recorder.send_lag(Instant::now().saturating_duration_since(intended));
                    let endpoint = weights.pick(&mut rng);
                    let call = mix_call(endpoint, &session, &plan, &mut rng);
                    send_recorded(&mut conn, &recorder, endpoint, call, intended).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
}
