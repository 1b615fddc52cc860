//! Prometheus metrics: one process-wide recorder, rendered by the server's `GET /metrics`
//! or served by the exporter's own listener in the flush worker.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, fine around the 1-20 ms where the hot path lives.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
        .expect("buckets are non-empty")
}

/// Installs the process's recorder with the exporter's own HTTP listener serving the
/// Prometheus text at `addr` (for processes without the API server: the flush worker).
/// Must run inside the Tokio runtime, before anything records.
pub fn serve(addr: SocketAddr) -> anyhow::Result<PrometheusHandle> {
    let (recorder, exporter) = builder()
        .with_http_listener(addr)
        .build()
        .with_context(|| format!("starting the metrics listener on {addr}"))?;
    let handle = recorder.handle();
    HANDLE
        .set(handle.clone())
        .map_err(|_| anyhow::anyhow!("the metrics recorder is already installed"))?;
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is already installed"))?;
    tokio::spawn(async move {
        if let Err(err) = exporter.await {
            tracing::error!(error = ?err, "the metrics listener stopped");
        }
    });
    Ok(handle)
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use, with its upkeep thread.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding application's);
            // then ours still renders what it records through the handle.
            let _ = metrics::set_global_recorder(recorder);
            keep_up(handle.clone());
            handle
        })
        .clone()
}

/// Histograms keep every raw sample until upkeep folds them into buckets, and
/// `build_recorder` (unlike `install`) runs no upkeep: without this thread a server that
/// is never scraped grows by 8 bytes per request (200 MB after a few million requests,
/// as the 730-user load run showed).
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(err) = spawned {
        tracing::error!(error = %err, "cannot start the metrics upkeep thread");
    }
}

/// One served request.
pub fn record_request(route: &'static str, status: u16, elapsed: Duration) {
    metrics::counter!("http_requests_total", "route" => route, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
}

/// One activation tick's outcome for one concert.
pub fn record_activation(concert_id: u64, activation: &crate::queue::Activation) {
    let concert = concert_id.to_string();
    metrics::gauge!("queue_waiting", "concert" => concert.clone()).set(activation.waiting as f64);
    metrics::gauge!("queue_active", "concert" => concert.clone()).set(activation.active as f64);
    metrics::counter!("queue_admissions_total", "concert" => concert.clone())
        .increment(activation.admitted);
    metrics::counter!("queue_expired_active_total", "concert" => concert.clone())
        .increment(activation.expired_active);
    metrics::counter!("queue_dropped_idle_total", "concert" => concert)
        .increment(activation.dropped_idle);
}
