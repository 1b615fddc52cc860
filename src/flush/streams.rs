//! The outbox streams one worker drains: listed from the concerts every few seconds (new
//! concerts bring new streams), each new one given the `flush` group, and grouped for
//! reading: all in one XREADGROUP on a single Redis, the streams of one slot together on
//! a Redis Cluster (a command there stays within one slot).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::cluster_routing::Slot;

use super::outbox::Outbox;

/// How often the list of streams is refreshed.
const LIST_EVERY: Duration = Duration::from_secs(3);

/// The streams as last listed, with their groups ensured.
#[derive(Default)]
pub(super) struct StreamList {
    streams: Vec<Arc<str>>,
    reads: Vec<Vec<Arc<str>>>,
    listed: Option<Instant>,
}

impl StreamList {
    /// Streams already listed (and their groups ensured), read as `cluster` says.
    pub(super) fn listed(streams: Vec<Arc<str>>, cluster: bool) -> StreamList {
        StreamList {
            reads: reads(&streams, cluster),
            streams,
            listed: Some(Instant::now()),
        }
    }

    /// Lists the streams again when due (or when never listed, or forgotten); the new
    /// ones get the `flush` group before they are read.
    pub(super) async fn refresh(&mut self, outbox: &Outbox) -> anyhow::Result<()> {
        if self.listed.is_some_and(|t| t.elapsed() < LIST_EVERY) {
            return Ok(());
        }
        let listed = outbox.streams().await?;
        let known: HashSet<&Arc<str>> = self.streams.iter().collect();
        let new: Vec<Arc<str>> = listed
            .iter()
            .filter(|s| !known.contains(s))
            .cloned()
            .collect();
        outbox.ensure_groups(&new).await?;
        if !new.is_empty() && self.listed.is_some() {
            tracing::info!(
                new = new.len(),
                streams = listed.len(),
                "new outbox streams to drain"
            );
        }
        *self = StreamList::listed(listed, outbox.store().is_cluster());
        Ok(())
    }

    /// Makes the next refresh list the streams whatever the time.
    pub(super) fn list_now(&mut self) {
        self.listed = None;
    }

    /// Forgets the list, so the next refresh ensures every group again (after a stream
    /// lost its group: Redis lost its data).
    pub(super) fn forget(&mut self) {
        *self = StreamList::default();
    }

    pub(super) fn streams(&self) -> &[Arc<str>] {
        &self.streams
    }

    /// The streams in the groups one XREADGROUP each reads.
    pub(super) fn reads(&self) -> &[Vec<Arc<str>>] {
        &self.reads
    }
}

/// `streams` grouped for reading: all together on a single Redis, by slot on a cluster.
fn reads(streams: &[Arc<str>], cluster: bool) -> Vec<Vec<Arc<str>>> {
    if !cluster {
        return match streams.is_empty() {
            true => Vec::new(),
            false => vec![streams.to_vec()],
        };
    }
    let mut by_slot: HashMap<Slot, usize> = HashMap::new();
    let mut out: Vec<Vec<Arc<str>>> = Vec::new();
    for stream in streams {
        let at = *by_slot
            .entry(Slot::for_key(stream.as_bytes()))
            .or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
        out[at].push(stream.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keys;

    #[test]
    fn a_single_redis_reads_every_stream_at_once_a_cluster_one_slot_at_a_time() {
        let keys = Keys::new("cq");
        let streams: Vec<Arc<str>> = keys
            .outbox_streams([7, 9])
            .into_iter()
            .map(Arc::from)
            .collect();
        let single = reads(&streams, false);
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].len(), streams.len());
        let cluster = reads(&streams, true);
        assert_eq!(cluster.iter().map(Vec::len).sum::<usize>(), streams.len());
        for group in &cluster {
            let slot = Slot::for_key(group[0].as_bytes());
            assert!(group.iter().all(|s| Slot::for_key(s.as_bytes()) == slot));
        }
        assert!(
            cluster.len() > 60,
            "64 buckets and 2 concerts spread over slots"
        );
    }
}
