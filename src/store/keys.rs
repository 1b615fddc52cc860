//! Redis key names. Every key of one concert carries the hash tag `{c:<id>}`, so a
//! concert's queue, seats and holds share one Redis Cluster slot and each script touches
//! a single slot.

/// Builds key names under one prefix (one per deployment, one per test).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

/// The keys of one concert's waiting queue, in the order the queue scripts take them.
#[derive(Clone, Debug)]
pub struct QueueKeys {
    pub meta: String,
    pub wait: String,
    pub seen: String,
    pub active: String,
    pub active_seq: String,
    pub seq: String,
    pub bucket: String,
    pub stats: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Keys {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The set of every concert id, read by the activation ticker.
    pub fn concerts(&self) -> String {
        format!("{}:concerts", self.prefix)
    }

    /// `<prefix>:{c:<id>}`: the start of every key of one concert.
    pub fn concert_tag(&self, concert_id: u64) -> String {
        format!("{}:{{c:{concert_id}}}", self.prefix)
    }

    /// The concert's descriptive hash; it exists exactly when the concert does.
    pub fn concert_meta(&self, concert_id: u64) -> String {
        format!("{}:meta", self.concert_tag(concert_id))
    }

    /// The outbox stream the flush worker drains (a global key).
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    /// Where the flush worker moves outbox entries that kept failing, with the reason.
    pub fn outbox_dead(&self) -> String {
        format!("{}:outbox:dead", self.prefix)
    }

    pub fn queue(&self, concert_id: u64) -> QueueKeys {
        let tag = self.concert_tag(concert_id);
        QueueKeys {
            meta: format!("{tag}:meta"),
            wait: format!("{tag}:q:wait"),
            seen: format!("{tag}:q:seen"),
            active: format!("{tag}:q:active"),
            active_seq: format!("{tag}:q:active_seq"),
            seq: format!("{tag}:q:seq"),
            bucket: format!("{tag}:q:bucket"),
            stats: format!("{tag}:q:stats"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concerts_keys_share_one_hash_tag() {
        let q = Keys::new("cq").queue(7);
        for key in [
            &q.meta,
            &q.wait,
            &q.seen,
            &q.active,
            &q.active_seq,
            &q.seq,
            &q.bucket,
        ] {
            assert!(key.starts_with("cq:{c:7}:"), "{key}");
        }
    }
}
