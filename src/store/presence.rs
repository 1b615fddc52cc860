//! Who is running, and whether restore is: each server and flush worker announces itself
//! with a heartbeat key of a short TTL, refreshed by a background task, and reads the
//! maintenance marker `restore` sets, so that writes are refused while Redis is rebuilt
//! and `restore` refuses while anyone is alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Store, StoreError};

/// How long a heartbeat lives without a refresh: a process that died stops counting as
/// alive this long after its last beat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);
/// How often a process refreshes its heartbeat and reads the maintenance marker.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long the maintenance marker lives without a refresh (a restore that crashed stops
/// blocking writes after this long).
pub const MAINTENANCE_TTL: Duration = Duration::from_secs(30);

/// One process's heartbeat and its view of the maintenance marker.
#[derive(Clone)]
pub struct Presence {
    store: Store,
    key: String,
    maintenance: Arc<AtomicBool>,
}

impl Presence {
    /// A presence for `role` (`server`, `worker`) under a fresh id; nothing is written
    /// until [`Presence::beat`].
    pub fn new(store: Store, role: &str) -> Presence {
        let key = store.keys.alive(role, &uuid::Uuid::new_v4().to_string());
        Presence {
            store,
            key,
            maintenance: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether `restore` is running (as of the last beat): writes must be refused.
    pub fn in_maintenance(&self) -> bool {
        self.maintenance.load(Ordering::Relaxed)
    }

    /// Refreshes the heartbeat and reads the marker, in one round trip (two at once on a
    /// Redis Cluster, where the two keys live in different slots).
    pub async fn beat(&self) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(&self.key)
            .arg("1")
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64);
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.store.keys.maintenance());
        let marker: bool = if self.store.is_cluster() {
            let ((), marker) =
                futures::future::try_join(self.store.query(&set), self.store.query(&exists))
                    .await?;
            marker
        } else {
            let (_, marker): ((), bool) = self
                .store
                .pipeline(redis::pipe().add_command(set).add_command(exists))
                .await?;
            marker
        };
        let was = self.maintenance.swap(marker, Ordering::Relaxed);
        if marker != was {
            match marker {
                true => tracing::warn!("restore is running: writes are refused until it ends"),
                false => tracing::info!("restore has ended: writes are accepted again"),
            }
        }
        Ok(())
    }

    /// Beats every [`HEARTBEAT_EVERY`] until `stop` turns true, then removes the heartbeat.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        crate::periodic::run_every(HEARTBEAT_EVERY, stop, Beat(self.clone())).await;
        let _: Result<(), _> = self.store.query(redis::cmd("DEL").arg(&self.key)).await;
    }
}

struct Beat(Presence);

impl crate::periodic::Periodic for Beat {
    fn name(&self) -> &'static str {
        "heartbeat"
    }

    fn step(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), impl std::fmt::Display>> + Send {
        self.0.beat()
    }
}

/// The heartbeats alive now (their keys).
pub async fn alive(store: &Store) -> Result<Vec<String>, StoreError> {
    store.scan_keys(&store.keys.alive_pattern()).await
}

/// Sets the maintenance marker unless it is set already (another restore runs): whether
/// this call set it.
pub async fn begin_maintenance(store: &Store) -> Result<bool, StoreError> {
    let set: Option<String> = store
        .query(
            redis::cmd("SET")
                .arg(store.keys.maintenance())
                .arg("restore")
                .arg("NX")
                .arg("PX")
                .arg(MAINTENANCE_TTL.as_millis() as u64),
        )
        .await?;
    Ok(set.is_some())
}

/// Keeps the marker alive (call well within [`MAINTENANCE_TTL`]).
pub async fn extend_maintenance(store: &Store) -> Result<(), StoreError> {
    store
        .query(
            redis::cmd("PEXPIRE")
                .arg(store.keys.maintenance())
                .arg(MAINTENANCE_TTL.as_millis() as u64),
        )
        .await
        .map(|_: i64| ())
}

/// Removes the marker: writes are accepted again.
pub async fn end_maintenance(store: &Store) -> Result<(), StoreError> {
    store
        .query(redis::cmd("DEL").arg(store.keys.maintenance()))
        .await
        .map(|_: i64| ())
}
