//! The closed model: N virtual users, each sending its next request as soon as the last
//! one answered (plus an optional think time), as JMeter's thread groups do.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::client::Connection;
use super::mix::Weights;
use super::plan::Plan;
use super::record::Recorder;
use super::requests::{mix_call, send_recorded};
use super::session::Session;

/// Runs every user's loop until the window or the request budget is over.
pub async fn run_mix(
    users: Vec<(Connection, Session)>,
    plan: Arc<Plan>,
    weights: Arc<Weights>,
    recorder: Recorder,
) {
    let tasks: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(n, (mut conn, session))| {
            let (plan, weights, recorder) = (plan.clone(), weights.clone(), recorder.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(n as u64);
                while plan.may_send() {
                    let endpoint = weights.pick(&mut rng);
                    let call = mix_call(endpoint, &session, &plan, &mut rng);
                    send_recorded(&mut conn, &recorder, endpoint, call, Instant::now()).await;
                    if !plan.think.is_zero() {
                        tokio::time::sleep(plan.think).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}
