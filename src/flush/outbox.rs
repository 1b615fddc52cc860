//! The Redis side of the flush: the outbox stream read through the `flush` consumer
//! group, claims of entries dead workers left pending, acknowledgements, the
//! dead-letter stream, lag, and trimming below what every group acknowledged.

use std::collections::HashMap;

use anyhow::Context;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingCountReply,
    StreamPendingReply, StreamRangeReply, StreamReadReply,
};
use redis::Value;

use crate::store::Store;

/// The consumer group every flush worker reads through.
pub const GROUP: &str = "flush";

/// One outbox entry as read from the stream.
#[derive(Clone, Debug)]
pub struct RawEntry {
    /// The stream id (`<ms>-<seq>`).
    pub stream_id: String,
    pub fields: HashMap<String, Value>,
}

impl From<StreamId> for RawEntry {
    fn from(entry: StreamId) -> Self {
        RawEntry {
            stream_id: entry.id,
            fields: entry.map,
        }
    }
}

/// How far the `flush` group is behind the writers.
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

/// A parsed stream id; orders like Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamPos {
    pub ms: u64,
    pub seq: u64,
}

impl StreamPos {
    pub fn parse(id: &str) -> Option<StreamPos> {
        let (ms, seq) = id.split_once('-')?;
        Some(StreamPos {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id greater than this one.
    pub fn successor(self) -> StreamPos {
        match self.seq.checked_add(1) {
            Some(seq) => StreamPos { ms: self.ms, seq },
            None => StreamPos {
                ms: self.ms + 1,
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for StreamPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The outbox stream of one key prefix, seen by one consumer of the `flush` group.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    stream: String,
    dead: String,
    consumer: String,
}

impl Outbox {
    pub fn new(store: Store, consumer: impl Into<String>) -> Outbox {
        Outbox {
            stream: store.keys.outbox(),
            dead: store.keys.outbox_dead(),
            store,
            consumer: consumer.into(),
        }
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    pub fn dead_key(&self) -> &str {
        &self.dead
    }

    /// Creates the stream and the `flush` group reading it from the start, unless it exists.
    pub async fn ensure_group(&self) -> anyhow::Result<()> {
        let created: Result<(), _> = self
            .store
            .query(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM"),
            )
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            Err(err) => Err(err).context("creating the outbox consumer group"),
        }
    }

    /// Claims up to `count` entries other consumers left pending for longer than
    /// `min_idle_ms`, starting the scan at `cursor`; returns the entries and the next cursor.
    pub async fn claim_idle(
        &self,
        min_idle_ms: u64,
        cursor: &str,
        count: usize,
    ) -> anyhow::Result<(Vec<RawEntry>, String)> {
        let reply: StreamAutoClaimReply = self
            .store
            .query(
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(min_idle_ms)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(count),
            )
            .await
            .context("claiming idle outbox entries (XAUTOCLAIM)")?;
        if !reply.deleted_ids.is_empty() {
            tracing::warn!(
                ids = ?reply.deleted_ids,
                "pending outbox entries vanished from the stream (deleted outside the worker)"
            );
        }
        let entries = reply.claimed.into_iter().map(RawEntry::from).collect();
        Ok((entries, reply.next_stream_id))
    }

    /// Reads up to `count` entries never delivered to any consumer of the group.
    pub async fn read_new(&self, count: usize) -> anyhow::Result<Vec<RawEntry>> {
        let reply: Option<StreamReadReply> = self
            .store
            .query(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(count)
                    .arg("STREAMS")
                    .arg(&self.stream)
                    .arg(">"),
            )
            .await
            .context("reading new outbox entries (XREADGROUP)")?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(RawEntry::from)
            .collect())
    }

    /// Acknowledges entries both sinks have: they leave the group's pending list.
    pub async fn ack(&self, ids: &[&str]) -> anyhow::Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.store
            .query(redis::cmd("XACK").arg(&self.stream).arg(GROUP).arg(ids))
            .await
            .context("acknowledging outbox entries (XACK)")
    }

    /// How many times each entry was delivered (read or claimed) so far.
    pub async fn deliveries(&self, ids: &[&str]) -> anyhow::Result<HashMap<String, u64>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("XPENDING")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(*id)
                .arg(*id)
                .arg(1);
        }
        let replies: Vec<StreamPendingCountReply> = self
            .store
            .pipeline(&pipe)
            .await
            .context("reading delivery counts (XPENDING)")?;
        Ok(replies
            .into_iter()
            .flat_map(|r| r.ids)
            .map(|p| (p.id, p.times_delivered as u64))
            .collect())
    }

    /// Takes the entries again for this consumer, counting one more delivery each.
    pub async fn redeliver(&self, ids: &[&str]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let _: Vec<Value> = self
            .store
            .query(
                redis::cmd("XCLAIM")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(0)
                    .arg(ids),
            )
            .await
            .context("re-claiming failed outbox entries (XCLAIM)")?;
        Ok(())
    }

    /// Moves one entry to the dead-letter stream with the reason, acknowledging it in the
    /// same MULTI so it is either pending here or dead there, never lost between.
    pub async fn dead_letter(
        &self,
        entry: &RawEntry,
        reason: &str,
        deliveries: u64,
    ) -> anyhow::Result<()> {
        let mut fields = original_fields(&entry.fields);
        fields.push(("sourceId".into(), entry.stream_id.clone().into_bytes()));
        fields.push(("reason".into(), reason.as_bytes().to_vec()));
        fields.push(("deliveries".into(), deliveries.to_string().into_bytes()));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&self.dead)
            .arg("*")
            .arg(&fields)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&entry.stream_id)
            .ignore();
        let _: () = self
            .store
            .pipeline(&pipe)
            .await
            .context("moving an entry to the dead-letter stream")?;
        Ok(())
    }

    /// Moves every dead-letter entry back into the outbox (original `type`, `id`, `data`),
    /// one MULTI per entry; returns how many moved.
    pub async fn replay_dead(&self) -> anyhow::Result<u64> {
        let mut moved = 0;
        loop {
            let page: StreamRangeReply = self
                .store
                .query(
                    redis::cmd("XRANGE")
                        .arg(&self.dead)
                        .arg("-")
                        .arg("+")
                        .arg("COUNT")
                        .arg(100),
                )
                .await
                .context("reading the dead-letter stream")?;
            if page.ids.is_empty() {
                return Ok(moved);
            }
            for entry in page.ids {
                let fields = original_fields(&entry.map);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("XADD")
                    .arg(&self.stream)
                    .arg("*")
                    .arg(&fields)
                    .ignore()
                    .cmd("XDEL")
                    .arg(&self.dead)
                    .arg(&entry.id)
                    .ignore();
                let _: () = self
                    .store
                    .pipeline(&pipe)
                    .await
                    .context("moving a dead-letter entry back to the outbox")?;
                moved += 1;
            }
        }
    }

    /// Length of the dead-letter stream.
    pub async fn dead_len(&self) -> anyhow::Result<u64> {
        self.store
            .query(redis::cmd("XLEN").arg(&self.dead))
            .await
            .context("reading the dead-letter stream length")
    }

    /// The `flush` group's lag; see [`lag`].
    pub async fn lag(&self) -> anyhow::Result<Lag> {
        lag(&self.store).await
    }

    /// Trims the stream below the oldest entry some consumer group still needs (pending,
    /// or not delivered yet); returns how many entries went. Group positions only move
    /// forward, so a bound computed here stays safe until the XTRIM runs.
    pub async fn trim(&self) -> anyhow::Result<u64> {
        let groups = groups(&self.store, &self.stream).await?;
        let Some(groups) = groups else {
            return Ok(0);
        };
        if groups.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for group in &groups {
            pipe.cmd("XPENDING").arg(&self.stream).arg(&group.name);
        }
        let pending: Vec<StreamPendingReply> = self
            .store
            .pipeline(&pipe)
            .await
            .context("reading each group's oldest pending entry (XPENDING)")?;
        let mut bound: Option<StreamPos> = None;
        for (group, pending) in groups.iter().zip(pending) {
            let needed = match pending {
                StreamPendingReply::Data(data) if data.count > 0 => {
                    StreamPos::parse(&data.start_id)
                }
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
        self.store
            .query(
                redis::cmd("XTRIM")
                    .arg(&self.stream)
                    .arg("MINID")
                    .arg(bound.to_string()),
            )
            .await
            .context("trimming the outbox (XTRIM MINID)")
    }
}

/// The groups reading `stream`, or `None` when the stream does not exist.
async fn groups(
    store: &Store,
    stream: &str,
) -> anyhow::Result<Option<Vec<redis::streams::StreamInfoGroup>>> {
    let exists: bool = store
        .query(redis::cmd("EXISTS").arg(stream))
        .await
        .context("checking the outbox stream")?;
    if !exists {
        return Ok(None);
    }
    let reply: StreamInfoGroupsReply = store
        .query(redis::cmd("XINFO").arg("GROUPS").arg(stream))
        .await
        .context("reading the outbox consumer groups (XINFO GROUPS)")?;
    Ok(Some(reply.groups))
}

/// The `flush` group's lag on the outbox of `store`'s prefix: entries not acknowledged
/// and the age of the oldest, measured on the Redis clock (stream ids carry it).
/// Redis 7.0's XINFO GROUPS reports `lag` (undelivered entries) but may leave it nil;
/// then the stream length bounds it.
pub async fn lag(store: &Store) -> anyhow::Result<Lag> {
    let stream = store.keys.outbox();
    let Some(groups) = groups(store, &stream).await? else {
        return Ok(Lag::default());
    };
    let now_ms = store.now_ms().await.context("reading the Redis clock")?;
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
                .query(redis::cmd("XLEN").arg(&stream))
                .await
                .context("reading the outbox length")?;
            len.saturating_sub(pending)
        }
    };
    let mut oldest: Option<StreamPos> = None;
    if pending > 0 {
        let summary: StreamPendingReply = store
            .query(redis::cmd("XPENDING").arg(&stream).arg(GROUP))
            .await
            .context("reading the oldest pending outbox entry")?;
        if let StreamPendingReply::Data(data) = summary {
            oldest = StreamPos::parse(&data.start_id);
        }
    }
    if oldest.is_none() && undelivered > 0 {
        let first: StreamRangeReply = store
            .query(
                redis::cmd("XRANGE")
                    .arg(&stream)
                    .arg(format!("({last_delivered}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(1),
            )
            .await
            .context("reading the oldest undelivered outbox entry")?;
        oldest = first.ids.first().and_then(|e| StreamPos::parse(&e.id));
    }
    Ok(Lag {
        entries: pending + undelivered,
        pending,
        oldest_ms: oldest.map_or(0, |pos| now_ms.saturating_sub(pos.ms)),
    })
}

/// An entry's own fields (the dead-letter annotations left out), in a stable order.
fn original_fields(fields: &HashMap<String, Value>) -> Vec<(String, Vec<u8>)> {
    let mut own: Vec<(String, Vec<u8>)> = fields
        .iter()
        .filter(|(k, _)| !DEAD_LETTER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), value_bytes(v)))
        .collect();
    own.sort();
    own
}

/// Fields the dead-letter stream adds to an entry.
const DEAD_LETTER_FIELDS: [&str; 3] = ["sourceId", "reason", "deliveries"];

fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::BulkString(bytes) => bytes.clone(),
        Value::SimpleString(s) => s.clone().into_bytes(),
        other => format!("{other:?}").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::StreamPos;

    #[test]
    fn stream_ids_order_and_succeed_like_redis() {
        let a = StreamPos::parse("1700000000000-5").unwrap();
        let b = StreamPos::parse("1700000000001-0").unwrap();
        assert!(a < b);
        assert_eq!(a.successor().to_string(), "1700000000000-6");
        let last = StreamPos {
            ms: 7,
            seq: u64::MAX,
        };
        assert_eq!(last.successor().to_string(), "8-0");
        assert!(StreamPos::parse("nope").is_none());
    }
}
