//! The process's log output: `RUST_LOG` filters (info by default), `LOG_FORMAT` picks
//! readable text or one JSON object per line. The access log's lines have the target
//! `concert_queue::access` (`RUST_LOG=info,concert_queue::access=off` drops them too).
//! The Redis Cluster client's own lines are off by default: it logs every reconnect
//! attempt, hundreds a second while a node is away, and the engine logs each failed call
//! itself (`RUST_LOG=info,redis=warn` shows them).

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,redis::cluster_handling=off";

/// Installs the global subscriber; call once, early.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
