//! How far the `flush` group is behind over every outbox stream (entries and pending
//! summed, the oldest age the largest), the dead letters waiting, and trimming each
//! stream below what every group reading it acknowledged. Each stream is asked on its
//! own, all at once (one slot each on a Redis Cluster).

use anyhow::Context;
use futures::future::try_join_all;
use redis::streams::{
    StreamInfoGroup, StreamInfoGroupsReply, StreamPendingReply, StreamRangeReply,
};

use super::outbox::{StreamPos, GROUP};
use crate::store::{Keys, Store};

/// How far the `flush` group is behind the writers, over every outbox stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    /// Entries not yet acknowledged: delivered and pending, or not delivered yet.
    pub entries: u64,
    /// Of those, delivered to a worker and not acknowledged.
    pub pending: u64,
    /// Age in milliseconds of the oldest entry not yet acknowledged (0 when none).
    pub oldest_ms: u64,
}

impl Lag {
    pub fn seconds(&self) -> f64 {
        self.oldest_ms as f64 / 1000.0
    }
}

/// One stream's part of the lag.
#[derive(Clone, Copy, Debug, Default)]
struct StreamLag {
    entries: u64,
    pending: u64,
    oldest: Option<StreamPos>,
}

/// The `flush` group's lag over every outbox stream of `store`'s prefix (the concerts
/// listed now); see [`lag_of`].
pub async fn lag(store: &Store) -> anyhow::Result<Lag> {
    let concerts = store
        .concert_ids()
        .await
        .context("listing the concerts for their outbox streams")?;
    lag_of(store, &store.keys.outbox_streams(concerts)).await
}

/// The `flush` group's lag over `streams`: entries not acknowledged and pending entries
/// summed, and the age of the oldest on the Redis clock (stream ids carry it).
pub async fn lag_of(store: &Store, streams: &[impl AsRef<str>]) -> anyhow::Result<Lag> {
    let parts = try_join_all(streams.iter().map(|s| stream_lag(store, s.as_ref()))).await?;
    let mut total = StreamLag::default();
    for part in parts {
        total.entries += part.entries;
        total.pending += part.pending;
        total.oldest = match (total.oldest, part.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let oldest_ms = match total.oldest {
        Some(pos) => {
            let now_ms = store.now_ms().await.context("reading the Redis clock")?;
            now_ms.saturating_sub(pos.ms)
        }
        None => 0,
    };
    Ok(Lag {
        entries: total.entries,
        pending: total.pending,
        oldest_ms,
    })
}

/// One stream's lag. Redis 7.0's XINFO GROUPS reports `lag` (undelivered entries) but
/// may leave it nil; then the stream length bounds it.
async fn stream_lag(store: &Store, stream: &str) -> anyhow::Result<StreamLag> {
    let Some(groups) = groups(store, stream).await? else {
        return Ok(StreamLag::default());
    };
    let group = groups.into_iter().find(|g| g.name == GROUP);
    let (pending, last_delivered) = match &group {
        Some(g) => (g.pending as u64, g.last_delivered_id.clone()),
        None => (0, "0-0".to_string()),
    };
    let undelivered = match group.as_ref().and_then(|g| g.lag) {
        Some(lag) => lag as u64,
        // Unknown (deleted entries inside the unread part, or no group yet): the stream
        // length less what is pending is an upper bound, exact once trimmed.
        None => {
            let len: u64 = store
                .query(redis::cmd("XLEN").arg(stream))
                .await
                .with_context(|| format!("reading the length of {stream}"))?;
            len.saturating_sub(pending)
        }
    };
    let mut oldest: Option<StreamPos> = None;
    if pending > 0 {
        let summary: StreamPendingReply = store
            .query(redis::cmd("XPENDING").arg(stream).arg(GROUP))
            .await
            .with_context(|| format!("reading the oldest pending entry of {stream}"))?;
        if let StreamPendingReply::Data(data) = summary {
            oldest = StreamPos::parse(&data.start_id);
        }
    }
    if oldest.is_none() && undelivered > 0 {
        let first: StreamRangeReply = store
            .query(
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(format!("({last_delivered}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(1),
            )
            .await
            .with_context(|| format!("reading the oldest undelivered entry of {stream}"))?;
        oldest = first.ids.first().and_then(|e| StreamPos::parse(&e.id));
    }
    Ok(StreamLag {
        entries: pending + undelivered,
        pending,
        oldest,
    })
}

/// The dead letters beside `streams`, counted together.
pub async fn dead_len_of(store: &Store, streams: &[impl AsRef<str>]) -> anyhow::Result<u64> {
    let cmds: Vec<redis::Cmd> = streams
        .iter()
        .map(|stream| {
            redis::cmd("XLEN")
                .arg(Keys::dead_letters(stream.as_ref()))
                .take()
        })
        .collect();
    let lengths = try_join_all(cmds.iter().map(|cmd| store.query::<u64>(cmd)))
        .await
        .context("reading the dead-letter stream lengths")?;
    Ok(lengths.into_iter().sum())
}

/// Trims each of `streams` below the oldest entry some consumer group of it still needs
/// (pending, or not delivered yet); returns how many entries went in all.
pub async fn trim_of(store: &Store, streams: &[impl AsRef<str>]) -> anyhow::Result<u64> {
    let trimmed = try_join_all(streams.iter().map(|s| trim_stream(store, s.as_ref()))).await?;
    Ok(trimmed.into_iter().sum())
}

/// Trims one stream. Group positions only move forward, so a bound computed here stays
/// safe until the XTRIM runs.
async fn trim_stream(store: &Store, stream: &str) -> anyhow::Result<u64> {
    let Some(groups) = groups(store, stream).await? else {
        return Ok(0);
    };
    if groups.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for group in &groups {
        pipe.cmd("XPENDING").arg(stream).arg(&group.name);
    }
    let pending: Vec<StreamPendingReply> = store
        .pipeline(&pipe)
        .await
        .with_context(|| format!("reading each group's oldest pending entry of {stream}"))?;
    let mut bound: Option<StreamPos> = None;
    for (group, pending) in groups.iter().zip(pending) {
        let needed = match pending {
            StreamPendingReply::Data(data) if data.count > 0 => StreamPos::parse(&data.start_id),
            _ => StreamPos::parse(&group.last_delivered_id).map(StreamPos::successor),
        };
        let Some(needed) = needed else {
            return Ok(0);
        };
        bound = Some(bound.map_or(needed, |b| b.min(needed)));
    }
    let Some(bound) = bound else {
        return Ok(0);
    };
    store
        .query(
            redis::cmd("XTRIM")
                .arg(stream)
                .arg("MINID")
                .arg(bound.to_string()),
        )
        .await
        .with_context(|| format!("trimming {stream} (XTRIM MINID)"))
}

/// The groups reading `stream`, or `None` when the stream does not exist.
async fn groups(store: &Store, stream: &str) -> anyhow::Result<Option<Vec<StreamInfoGroup>>> {
    let exists: bool = store
        .query(redis::cmd("EXISTS").arg(stream))
        .await
        .with_context(|| format!("checking the outbox stream {stream}"))?;
    if !exists {
        return Ok(None);
    }
    let reply: StreamInfoGroupsReply = store
        .query(redis::cmd("XINFO").arg("GROUPS").arg(stream))
        .await
        .with_context(|| format!("reading the consumer groups of {stream} (XINFO GROUPS)"))?;
    Ok(Some(reply.groups))
}
