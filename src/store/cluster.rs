//! The Redis Cluster connection, made afresh when it stops answering altogether. The cluster
//! client (redis-rs 1.8) can stall for good in its own recovery after a master dies: every
//! call then waits out the timeout, nothing is retried and nothing is logged, while a new
//! connection finds the promoted replica at once. So when no call has had an answer from
//! Redis (a value or an error reply) for a while, the next call that times out replaces the
//! connection (at most once per that while); calls in flight finish on the old one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;

/// How long without any answer makes a connection stalled: a failover keeps one master's
/// slots silent for a few seconds while the others answer, so only a silence of every
/// slot this long, and at least a few timeouts' worth, counts.
pub(super) fn stall_after(timeout: Duration) -> Duration {
    (timeout * 3).max(Duration::from_secs(5))
}

/// A cluster connection and what it takes to make it again.
pub(super) struct Cluster {
    client: ClusterClient,
    config: ClusterConfig,
    connection: RwLock<ClusterConnection>,
    stall: Duration,
    started: Instant,
    /// Milliseconds after `started` of the last answer from Redis.
    last_answer_ms: AtomicU64,
    /// Milliseconds after `started` of the last time the connection was made.
    made_ms: AtomicU64,
}

impl Cluster {
    /// A lazy connection (made in the background; the first calls wait for it).
    pub(super) fn connect(client: ClusterClient, config: ClusterConfig, stall: Duration) -> Self {
        let connection = client.get_pending_async_connection_with_config(config.clone());
        Cluster {
            client,
            config,
            connection: RwLock::new(connection),
            stall,
            started: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
            made_ms: AtomicU64::new(0),
        }
    }

    /// A handle on the current connection, for one call.
    pub(super) fn connection(&self) -> ClusterConnection {
        self.connection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Redis answered a call (a value or an error reply).
    pub(super) fn answered(&self) {
        self.answered_at(self.now_ms());
    }

    /// A call got no answer: when nothing has answered for the stall time, and the
    /// connection is older than that, it is made again. Returns whether it was.
    pub(super) fn no_answer(&self) -> bool {
        self.no_answer_at(self.now_ms())
    }

    fn answered_at(&self, now: u64) {
        self.last_answer_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn no_answer_at(&self, now: u64) -> bool {
        let stall = self.stall.as_millis() as u64;
        let silent = now.saturating_sub(self.last_answer_ms.load(Ordering::Relaxed));
        let made = self.made_ms.load(Ordering::Relaxed);
        if silent < stall || now.saturating_sub(made) < stall {
            return false;
        }
        // One caller makes it; the others go on with whichever connection they hold.
        if self
            .made_ms
            .compare_exchange(made, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let fresh = self
            .client
            .get_pending_async_connection_with_config(self.config.clone());
        *self
            .connection
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        metrics::counter!("store_cluster_reconnects_total").increment(1);
        tracing::warn!(
            silent_ms = silent,
            "no answer from any Redis Cluster node for a while: connecting to the cluster afresh"
        );
        true
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(stall: Duration) -> Cluster {
        // Nothing listens there; the connection is never asked anything.
        let client = redis::cluster::ClusterClientBuilder::new(vec!["redis://127.0.0.1:1"])
            .build()
            .unwrap();
        Cluster::connect(client, ClusterConfig::new(), stall)
    }

    #[tokio::test]
    async fn a_connection_is_made_again_only_after_a_silence_of_the_stall_time() {
        // Times in milliseconds after the connection was made; the stall time is 1,000.
        let cluster = cluster(Duration::from_secs(1));
        assert!(!cluster.no_answer_at(300), "new: not stalled yet");
        cluster.answered_at(1_200);
        assert!(!cluster.no_answer_at(1_500), "an answer 300 ms ago");
        assert!(
            cluster.no_answer_at(2_200),
            "silent for the stall time: made again"
        );
        assert!(!cluster.no_answer_at(2_300), "at most once per stall time");
        assert!(!cluster.no_answer_at(3_100), "made again 900 ms ago");
        assert!(cluster.no_answer_at(3_200), "still silent: made again");
        cluster.answered_at(3_500);
        assert!(!cluster.no_answer_at(4_400), "answered since");
        assert!(
            cluster.no_answer_at(4_500),
            "silent again for the stall time"
        );
    }

    #[test]
    fn the_stall_time_outlasts_a_failover_and_a_few_timeouts() {
        assert_eq!(
            stall_after(Duration::from_millis(500)),
            Duration::from_secs(5)
        );
        assert_eq!(stall_after(Duration::from_secs(3)), Duration::from_secs(9));
    }
}
