//! The Redis side of the flush: every outbox stream of the prefix (the global one of
//! earlier releases, each concert's, each wallet bucket's) read through the `flush`
//! consumer group, claims of entries dead workers left pending, acknowledgements and dead
//! letters, each on the entry's own stream. Lag and trimming are in lag.rs.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use futures::future::{join_all, try_join_all};
use redis::cluster_routing::Slot;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamRangeReply, StreamReadReply,
};
use redis::Value;

use crate::store::{Keys, Store};

/// The consumer group every flush worker reads through, on every outbox stream.
pub const GROUP: &str = "flush";

/// One outbox entry as read from its stream.
#[derive(Clone, Debug)]
pub struct RawEntry {
    /// The stream it came from: its acknowledgement, claims and dead letter go there.
    pub stream: Arc<str>,
    /// The stream id (`<ms>-<seq>`).
    pub stream_id: String,
    pub fields: HashMap<String, Value>,
}

impl RawEntry {
    pub fn new(stream: Arc<str>, entry: StreamId) -> Self {
        RawEntry {
            stream,
            stream_id: entry.id,
            fields: entry.map,
        }
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

/// The outbox streams of one key prefix, seen by one consumer of the `flush` group.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    consumer: String,
}

impl Outbox {
    pub fn new(store: Store, consumer: impl Into<String>) -> Outbox {
        Outbox {
            store,
            consumer: consumer.into(),
        }
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every outbox stream there is now: the global one, each concert's (the set at
    /// [`Keys::concerts`]), each wallet bucket's.
    pub async fn streams(&self) -> anyhow::Result<Vec<Arc<str>>> {
        let concerts = self
            .store
            .concert_ids()
            .await
            .context("listing the concerts for their outbox streams")?;
        Ok(self
            .store
            .keys
            .outbox_streams(concerts)
            .into_iter()
            .map(Arc::from)
            .collect())
    }

    /// Creates each stream and its `flush` group reading from the start, unless they
    /// exist (all at once).
    pub async fn ensure_groups(&self, streams: &[Arc<str>]) -> anyhow::Result<()> {
        let cmds: Vec<redis::Cmd> = streams
            .iter()
            .map(|stream| {
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&**stream)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .take()
            })
            .collect();
        let created = join_all(cmds.iter().map(|cmd| self.store.query::<()>(cmd))).await;
        for (stream, outcome) in streams.iter().zip(created) {
            match outcome {
                Ok(()) => {}
                Err(err) if err.code() == Some("BUSYGROUP") => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("creating the consumer group of {stream}"))
                }
            }
        }
        Ok(())
    }

    /// Lists every outbox stream and makes sure each has its `flush` group; returns them.
    pub async fn ensure_group(&self) -> anyhow::Result<Vec<Arc<str>>> {
        let streams = self.streams().await?;
        self.ensure_groups(&streams).await?;
        Ok(streams)
    }

    /// Of `streams`, those whose group has an entry pending longer than `min_idle_ms`,
    /// each with the first such id (XPENDING IDLE, every stream at once).
    pub async fn first_idle(
        &self,
        streams: &[Arc<str>],
        min_idle_ms: u64,
    ) -> anyhow::Result<Vec<(Arc<str>, String)>> {
        let cmds: Vec<redis::Cmd> = streams
            .iter()
            .map(|stream| {
                redis::cmd("XPENDING")
                    .arg(&**stream)
                    .arg(GROUP)
                    .arg("IDLE")
                    .arg(min_idle_ms)
                    .arg("-")
                    .arg("+")
                    .arg(1)
                    .take()
            })
            .collect();
        let replies = try_join_all(
            cmds.iter()
                .map(|cmd| self.store.query::<StreamPendingCountReply>(cmd)),
        )
        .await
        .context("looking for idle pending outbox entries (XPENDING IDLE)")?;
        Ok(streams
            .iter()
            .zip(replies)
            .filter_map(|(stream, reply)| {
                let first = reply.ids.into_iter().next()?;
                Some((stream.clone(), first.id))
            })
            .collect())
    }

    /// Claims up to `count` entries of `stream` other consumers left pending for longer
    /// than `min_idle_ms`, scanning from `start`.
    pub async fn claim_idle(
        &self,
        stream: &Arc<str>,
        min_idle_ms: u64,
        start: &str,
        count: usize,
    ) -> anyhow::Result<Vec<RawEntry>> {
        let reply: StreamAutoClaimReply = self
            .store
            .query(
                redis::cmd("XAUTOCLAIM")
                    .arg(&**stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(min_idle_ms)
                    .arg(start)
                    .arg("COUNT")
                    .arg(count),
            )
            .await
            .with_context(|| format!("claiming idle entries of {stream} (XAUTOCLAIM)"))?;
        if !reply.deleted_ids.is_empty() {
            tracing::warn!(
                %stream,
                ids = ?reply.deleted_ids,
                "pending outbox entries vanished from the stream (deleted outside the worker)"
            );
        }
        Ok(reply
            .claimed
            .into_iter()
            .map(|entry| RawEntry::new(stream.clone(), entry))
            .collect())
    }

    /// Reads up to `count` entries per stream never delivered to any consumer of the
    /// group: one XREADGROUP per list of `reads` (all the streams in one on a single Redis,
    /// the streams of one slot in one on a Redis Cluster), every one at once. When some
    /// reads fail and others succeed, the entries read are returned (they are this
    /// consumer's now) and the failure shows at the next read.
    pub async fn read_new(
        &self,
        reads: &[Vec<Arc<str>>],
        count: usize,
    ) -> anyhow::Result<Vec<RawEntry>> {
        self.read_group(reads, count, ">")
            .await
            .context("reading new outbox entries (XREADGROUP)")
    }

    /// Reads up to `count` entries per stream already delivered to this very consumer
    /// and still pending (XREADGROUP from id 0): entries whose delivery it never saw (the
    /// answer to its read was lost, or came after its timeout), which no other worker
    /// would claim before the claim idle time.
    pub async fn read_own_pending(
        &self,
        reads: &[Vec<Arc<str>>],
        count: usize,
    ) -> anyhow::Result<Vec<RawEntry>> {
        self.read_group(reads, count, "0")
            .await
            .context("reading this consumer's pending outbox entries (XREADGROUP 0)")
    }

    async fn read_group(
        &self,
        reads: &[Vec<Arc<str>>],
        count: usize,
        from: &str,
    ) -> anyhow::Result<Vec<RawEntry>> {
        let options = redis::streams::StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(count);
        let cmds: Vec<redis::Cmd> = reads
            .iter()
            .map(|streams| {
                let ids = vec![from; streams.len()];
                let keys: Vec<&str> = streams.iter().map(|s| &**s).collect();
                redis::Cmd::xread_options(&keys, &ids, &options)
            })
            .collect();
        let replies = join_all(
            cmds.iter()
                .map(|cmd| self.store.query::<Option<StreamReadReply>>(cmd)),
        )
        .await;
        let mut entries = Vec::new();
        let mut failed = None;
        for (streams, reply) in reads.iter().zip(replies) {
            match reply {
                Ok(reply) => {
                    for key in reply.into_iter().flat_map(|r| r.keys) {
                        let stream = streams
                            .iter()
                            .find(|s| ***s == *key.key)
                            .cloned()
                            .unwrap_or_else(|| Arc::from(key.key.as_str()));
                        entries.extend(
                            key.ids
                                .into_iter()
                                .map(|e| RawEntry::new(stream.clone(), e)),
                        );
                    }
                }
                Err(err) => {
                    failed.get_or_insert(err);
                }
            }
        }
        match failed {
            Some(err) if entries.is_empty() => Err(err.into()),
            Some(err) => {
                tracing::warn!(error = %err, read = entries.len(), "some outbox streams could not be read");
                Ok(entries)
            }
            None => Ok(entries),
        }
    }

    /// Acknowledges entries both sinks have, each on its stream: they leave the group's
    /// pending lists. Returns how many were still pending.
    pub async fn ack(&self, entries: &[&RawEntry]) -> anyhow::Result<u64> {
        let cmds: Vec<redis::Cmd> = by_stream(entries)
            .into_iter()
            .map(|(stream, ids)| redis::cmd("XACK").arg(&*stream).arg(GROUP).arg(ids).take())
            .collect();
        let acked = try_join_all(cmds.iter().map(|cmd| self.store.query::<u64>(cmd)))
            .await
            .context("acknowledging outbox entries (XACK)")?;
        Ok(acked.into_iter().sum())
    }

    /// How many times each entry was delivered (read or claimed) so far, by (stream, id);
    /// entries no longer pending are absent.
    pub async fn deliveries(
        &self,
        entries: &[&RawEntry],
    ) -> anyhow::Result<HashMap<(Arc<str>, String), u64>> {
        let cmds: Vec<redis::Cmd> = entries
            .iter()
            .map(|entry| {
                redis::cmd("XPENDING")
                    .arg(&*entry.stream)
                    .arg(GROUP)
                    .arg(&entry.stream_id)
                    .arg(&entry.stream_id)
                    .arg(1)
                    .take()
            })
            .collect();
        let replies = try_join_all(
            cmds.iter()
                .map(|cmd| self.store.query::<StreamPendingCountReply>(cmd)),
        )
        .await
        .context("reading delivery counts (XPENDING)")?;
        Ok(entries
            .iter()
            .zip(replies)
            .flat_map(|(entry, reply)| {
                reply
                    .ids
                    .into_iter()
                    .map(|p| ((entry.stream.clone(), p.id), p.times_delivered as u64))
            })
            .collect())
    }

    /// Takes the entries again for this consumer, counting one more delivery each.
    pub async fn redeliver(&self, entries: &[&RawEntry]) -> anyhow::Result<()> {
        let cmds: Vec<redis::Cmd> = by_stream(entries)
            .into_iter()
            .map(|(stream, ids)| {
                redis::cmd("XCLAIM")
                    .arg(&*stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(0)
                    .arg(ids)
                    .take()
            })
            .collect();
        try_join_all(cmds.iter().map(|cmd| self.store.query::<Vec<Value>>(cmd)))
            .await
            .context("re-claiming failed outbox entries (XCLAIM)")?;
        Ok(())
    }

    /// Moves one entry to its stream's dead-letter stream with the reason, acknowledging
    /// it in the same MULTI so it is either pending here or dead there, never lost
    /// between. (The global stream of earlier releases has its dead letters in another
    /// slot: on a Redis Cluster the two happen in turn, the dead letter first, so a crash
    /// between leaves the entry pending, to be dead-lettered again.)
    pub async fn dead_letter(
        &self,
        entry: &RawEntry,
        reason: &str,
        deliveries: u64,
    ) -> anyhow::Result<()> {
        let dead = Keys::dead_letters(&entry.stream);
        let mut fields = original_fields(&entry.fields);
        fields.push(("sourceId".into(), entry.stream_id.clone().into_bytes()));
        fields.push(("reason".into(), reason.as_bytes().to_vec()));
        fields.push(("deliveries".into(), deliveries.to_string().into_bytes()));
        let mut add = redis::cmd("XADD");
        add.arg(&dead).arg("*").arg(&fields);
        let mut ack = redis::cmd("XACK");
        ack.arg(&*entry.stream).arg(GROUP).arg(&entry.stream_id);
        self.in_turn_or_atomically(&entry.stream, &dead, add, ack)
            .await
            .context("moving an entry to the dead-letter stream")
    }

    /// Moves every dead-letter entry of every outbox stream back into its stream
    /// (original `type`, `id`, `data`), one MULTI per entry; returns how many moved.
    pub async fn replay_dead(&self) -> anyhow::Result<u64> {
        let mut moved = 0;
        for stream in self.streams().await? {
            moved += self.replay_dead_of(&stream).await?;
        }
        Ok(moved)
    }

    async fn replay_dead_of(&self, stream: &str) -> anyhow::Result<u64> {
        let dead = Keys::dead_letters(stream);
        let mut moved = 0;
        loop {
            let page: StreamRangeReply = self
                .store
                .query(
                    redis::cmd("XRANGE")
                        .arg(&dead)
                        .arg("-")
                        .arg("+")
                        .arg("COUNT")
                        .arg(100),
                )
                .await
                .with_context(|| format!("reading the dead-letter stream {dead}"))?;
            if page.ids.is_empty() {
                return Ok(moved);
            }
            for entry in page.ids {
                let mut add = redis::cmd("XADD");
                add.arg(stream).arg("*").arg(original_fields(&entry.map));
                let mut del = redis::cmd("XDEL");
                del.arg(&dead).arg(&entry.id);
                self.in_turn_or_atomically(stream, &dead, add, del)
                    .await
                    .context("moving a dead-letter entry back to the outbox")?;
                moved += 1;
            }
        }
    }

    /// Runs `first` then `second` (on `a` and `b`) in one MULTI when both keys share a
    /// slot or Redis is a single node, else one after the other.
    async fn in_turn_or_atomically(
        &self,
        a: &str,
        b: &str,
        first: redis::Cmd,
        second: redis::Cmd,
    ) -> Result<(), crate::store::StoreError> {
        if self.store.is_cluster() && Slot::for_key(a) != Slot::for_key(b) {
            self.store.query::<Value>(&first).await?;
            self.store.query::<Value>(&second).await?;
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(first)
            .ignore()
            .add_command(second)
            .ignore();
        self.store.pipeline(&pipe).await
    }

    /// Length of every dead-letter stream, summed.
    pub async fn dead_len(&self) -> anyhow::Result<u64> {
        super::lag::dead_len_of(&self.store, &self.streams().await?).await
    }

    /// The `flush` group's lag over every stream; see [`super::lag::lag`].
    pub async fn lag(&self) -> anyhow::Result<super::Lag> {
        super::lag::lag(&self.store).await
    }

    /// Trims every stream below what every group reading it still needs; returns how
    /// many entries went. See [`super::lag::trim_of`].
    pub async fn trim(&self) -> anyhow::Result<u64> {
        super::lag::trim_of(&self.store, &self.streams().await?).await
    }
}

/// The ids of `entries` by stream, streams in order of first appearance.
fn by_stream<'a>(entries: &[&'a RawEntry]) -> Vec<(Arc<str>, Vec<&'a str>)> {
    let mut out: Vec<(Arc<str>, Vec<&'a str>)> = Vec::new();
    for entry in entries {
        match out.iter_mut().find(|(s, _)| *s == entry.stream) {
            Some((_, ids)) => ids.push(&entry.stream_id),
            None => out.push((entry.stream.clone(), vec![&entry.stream_id])),
        }
    }
    out
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
    use super::*;

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

    #[test]
    fn ids_are_grouped_by_their_stream_in_order() {
        let entry = |stream: &str, id: &str| RawEntry {
            stream: Arc::from(stream),
            stream_id: id.into(),
            fields: HashMap::new(),
        };
        let entries = [
            entry("p:{c:1}:outbox", "1-0"),
            entry("p:{w:3}:outbox", "1-0"),
            entry("p:{c:1}:outbox", "2-0"),
        ];
        let refs: Vec<&RawEntry> = entries.iter().collect();
        let grouped = by_stream(&refs);
        assert_eq!(grouped.len(), 2);
        assert_eq!(&*grouped[0].0, "p:{c:1}:outbox");
        assert_eq!(grouped[0].1, ["1-0", "2-0"]);
        assert_eq!(grouped[1].1, ["1-0"]);
    }
}
