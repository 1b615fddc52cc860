//! Redis key names. Every key of one concert carries the hash tag `{c:<id>}`, so a
//! concert's queue, seats, holds and outbox share one Redis Cluster slot; a wallet carries
//! its bucket's tag `{w:<user mod 64>}`, shared with the bucket's outbox and pending
//! debits. lua/lib/booking.lua builds the concert keys below the same way.

/// How many wallet buckets there are: a wallet lives under the tag `{w:<user mod this>}`,
/// with the outbox stream its charges are appended to. Fixed: changing it moves wallets.
pub const WALLET_BUCKETS: u64 = 64;

/// Builds key names under one prefix (one per deployment, one per test).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

/// The keys of one concert's waiting queue, in the order the queue scripts take them.
#[derive(Clone, Debug)]
pub struct QueueKeys {
    /// hash: the concert's name and settings; exists exactly when the concert does.
    pub meta: String,
    /// sorted set user -> offset * 2^12 + presence slot: the waiting line, first come first
    /// served, with each waiter's latest sign of life (lua/lib/queue.lua).
    pub line: String,
    /// sorted set user -> ACTIVE expiry (ms).
    pub active: String,
    /// hash user -> the seq of the entry that was admitted.
    pub active_seq: String,
    /// hash: `base` (the generation's first seq) and `last` (the latest seq issued).
    pub entries: String,
    /// hash: the admission token bucket (`tokens`, `ts`).
    pub bucket: String,
    /// hash: the observed admission rate, the last minute's admissions, the idle sweep's
    /// cursor.
    pub stats: String,
    /// hash: the concert's own queue settings (`maxActive`, `admitPerSec`,
    /// `activeTtlSecs`, `idleTimeoutSecs`, `paused`, `opensAt`); absent ones are the
    /// environment's.
    pub settings: String,
    /// hash: the pre-queue's draw and lifecycle (`epoch`, `seed`, `commitment`,
    /// `openedAt`, `size`, `moved`, `doneAt`), `soldOutAt`, the queue events' counter.
    pub life: String,
    /// sorted set, every score 0: the pre-queue, members `<hmac hex>:<user>`, so in HMAC
    /// order.
    pub pre: String,
    /// set: users evicted while the pre-queue opens, whose entries are not moved.
    pub gone: String,
    /// list: queue events of joins and polls waiting for the next activation tick.
    pub events: String,
    /// The concert's outbox stream, where the ticker and the admin scripts append queue
    /// events (in the concert's slot).
    pub outbox: String,
}

impl QueueKeys {
    /// An invocation of a queue script with the twelve keys of the concert's queue, in
    /// the order every queue script takes them (KEYS 1 to 12: meta, line, active,
    /// active_seq, entries, bucket, stats, settings, life, pre, gone, events).
    pub fn invoke<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        for key in [
            &self.meta,
            &self.line,
            &self.active,
            &self.active_seq,
            &self.entries,
            &self.bucket,
            &self.stats,
            &self.settings,
            &self.life,
            &self.pre,
            &self.gone,
            &self.events,
        ] {
            invocation.key(key);
        }
        invocation
    }

    /// [`QueueKeys::invoke`] with the concert's outbox as KEYS 13, for the scripts that
    /// append queue events.
    pub fn invoke_with_outbox<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = self.invoke(script);
        invocation.key(&self.outbox);
        invocation
    }
}

/// The keys of one schedule's seat map, all under its concert's tag.
#[derive(Clone, Debug)]
pub struct ScheduleKeys {
    /// hash seatNo -> price; exists exactly when the schedule does.
    pub seats: String,
    /// hash seatNo -> the reservation id of its latest hold (which may have lapsed).
    pub held: String,
    /// sorted set reservation id -> hold expiry (ms).
    pub holds: String,
    /// hash seatNo -> the reservation id that bought it.
    pub sold: String,
    /// hash: `firstSaleMs`, `soldOutMs`.
    pub info: String,
}

/// The keys of lua/seat_map.lua, in its header's order (KEYS 1 to 6): the queue's
/// `q:active` and `q:active_seq` (is the token ACTIVE?) and the schedule's seat map.
#[derive(Clone, Debug)]
pub struct SeatMapKeys {
    pub active: String,
    pub active_seq: String,
    pub seats: String,
    pub held: String,
    pub holds: String,
    pub sold: String,
}

impl SeatMapKeys {
    pub fn invoke<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        self.push(&mut invocation);
        invocation
    }

    fn push(&self, invocation: &mut redis::ScriptInvocation<'_>) {
        for key in [
            &self.active,
            &self.active_seq,
            &self.seats,
            &self.held,
            &self.holds,
            &self.sold,
        ] {
            invocation.key(key);
        }
    }
}

/// The keys of lua/hold_seat.lua, in its header's order: the seat map's six (KEYS 1 to 6),
/// then 7 the buyer's live holds in the concert and 8 the reservation counter.
#[derive(Clone, Debug)]
pub struct HoldKeys {
    pub map: SeatMapKeys,
    pub user_holds: String,
    pub reservation_seq: String,
}

impl HoldKeys {
    pub fn invoke<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        self.map.push(&mut invocation);
        invocation.key(&self.user_holds).key(&self.reservation_seq);
        invocation
    }
}

/// The keys of a payment: lua/pay_reservation.lua (one step) and the concert's side of a
/// payment in steps (lua/begin_payment.lua, lua/confirm_payment.lua,
/// lua/abort_payment.lua), each taking them in its header's order.
#[derive(Clone, Debug)]
pub struct PaymentKeys {
    pub reservation: String,
    pub active: String,
    pub active_seq: String,
    /// The wallet (in its bucket's slot: only the one-step payment takes it with the rest).
    pub wallet: String,
    /// The concert's outbox.
    pub outbox: String,
    pub user_holds: String,
    /// The queue's `q:life`, where the last seat's payment closes the queue.
    pub life: String,
    /// The concert's payments between their steps.
    pub paying: String,
}

impl PaymentKeys {
    fn invoke_with<'s>(script: &'s redis::Script, keys: &[&String]) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        invocation
    }

    /// lua/pay_reservation.lua: KEYS 1 to 7.
    pub fn invoke_one_step<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        Self::invoke_with(
            script,
            &[
                &self.reservation,
                &self.active,
                &self.active_seq,
                &self.wallet,
                &self.outbox,
                &self.user_holds,
                &self.life,
            ],
        )
    }

    /// lua/begin_payment.lua: KEYS 1 to 5.
    pub fn invoke_begin<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        Self::invoke_with(
            script,
            &[
                &self.reservation,
                &self.active,
                &self.active_seq,
                &self.paying,
                &self.user_holds,
            ],
        )
    }

    /// lua/confirm_payment.lua: KEYS 1 to 7.
    pub fn invoke_confirm<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        Self::invoke_with(
            script,
            &[
                &self.reservation,
                &self.active,
                &self.active_seq,
                &self.outbox,
                &self.user_holds,
                &self.life,
                &self.paying,
            ],
        )
    }

    /// lua/abort_payment.lua: KEYS 1 to 3.
    pub fn invoke_abort<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        Self::invoke_with(script, &[&self.reservation, &self.paying, &self.user_holds])
    }
}

/// The keys of lua/charge_wallet.lua, in its header's order: 1 the wallet, 2 its bucket's
/// outbox,
/// then, only when the charge carries a key, 3 its idempotency record and 4 the user's
/// index of them.
#[derive(Clone, Debug)]
pub struct ChargeKeys {
    pub wallet: String,
    pub outbox: String,
    /// The record and the index.
    pub idempotency: Option<(String, String)>,
}

impl ChargeKeys {
    pub fn invoke<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation.key(&self.wallet).key(&self.outbox);
        if let Some((record, index)) = &self.idempotency {
            invocation.key(record).key(index);
        }
        invocation
    }
}

/// The keys of lua/available_seats.lua: for each schedule in turn, its `seats`, `holds`
/// and `sold` (three keys per schedule).
#[derive(Clone, Debug)]
pub struct SeatCountKeys(pub Vec<ScheduleKeys>);

impl SeatCountKeys {
    pub fn invoke<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        for schedule in &self.0 {
            invocation
                .key(&schedule.seats)
                .key(&schedule.holds)
                .key(&schedule.sold);
        }
        invocation
    }
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

    /// string: a live server's or flush worker's heartbeat (`<role>:<id>`), with a short
    /// TTL its owner keeps refreshing; `restore` refuses while any exists.
    pub fn alive(&self, role: &str, id: &str) -> String {
        format!("{}:alive:{role}:{id}", self.prefix)
    }

    /// The SCAN pattern of every heartbeat.
    pub fn alive_pattern(&self) -> String {
        format!("{}:alive:*", self.prefix)
    }

    /// string: set while `restore` runs; servers and workers refuse writes meanwhile.
    pub fn maintenance(&self) -> String {
        format!("{}:maintenance", self.prefix)
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

    /// hash scheduleId -> concertId, so a schedule's keys can be found from its id.
    pub fn schedule_concerts(&self) -> String {
        format!("{}:schedules", self.prefix)
    }

    /// The set of a concert's schedule ids (read by the sweeper).
    pub fn concert_schedules(&self, concert_id: u64) -> String {
        format!("{}:schedules", self.concert_tag(concert_id))
    }

    pub fn schedule(&self, concert_id: u64, schedule_id: u64) -> ScheduleKeys {
        let base = format!("{}:s:{schedule_id}", self.concert_tag(concert_id));
        ScheduleKeys {
            seats: format!("{base}:seats"),
            held: format!("{base}:held"),
            holds: format!("{base}:holds"),
            sold: format!("{base}:sold"),
            info: format!("{base}:info"),
        }
    }

    /// One reservation's hash.
    pub fn reservation(&self, concert_id: u64, reservation_id: &str) -> String {
        format!("{}:res:{reservation_id}", self.concert_tag(concert_id))
    }

    /// The counter reservation ids of a concert are numbered from.
    pub fn reservation_seq(&self, concert_id: u64) -> String {
        format!("{}:res:seq", self.concert_tag(concert_id))
    }

    /// sorted set: a buyer's holds in one concert, reservation id -> expiry (ms).
    pub fn user_holds(&self, concert_id: u64, user_id: u64) -> String {
        format!("{}:u:{user_id}:holds", self.concert_tag(concert_id))
    }

    /// The bucket of `user_id`'s wallet (0 to [`WALLET_BUCKETS`] - 1).
    pub fn wallet_bucket(user_id: u64) -> u64 {
        user_id % WALLET_BUCKETS
    }

    /// `<prefix>:{w:<bucket>}`: the start of every key of one wallet bucket.
    pub fn wallet_tag(&self, bucket: u64) -> String {
        format!("{}:{{w:{bucket}}}", self.prefix)
    }

    /// hash: a user's `balance`, `ledgerSeq` (the ledger entry counter) and charge budget.
    pub fn wallet(&self, user_id: u64) -> String {
        format!(
            "{}:wallet:{user_id}",
            self.wallet_tag(Self::wallet_bucket(user_id))
        )
    }

    /// hash: the debit of one payment attempt (`amount`, `ledgerId`, `balanceAfter`), or
    /// its tombstone (`void`) when the sweeper abandoned the attempt first.
    pub fn debit(&self, user_id: u64, reservation_id: &str, attempt: u64) -> String {
        format!(
            "{}:debit:{reservation_id}:{attempt}",
            self.wallet_tag(Self::wallet_bucket(user_id))
        )
    }

    /// The remembered answer to one `Idempotency-Key` of a charge.
    pub fn charge_idempotency(&self, user_id: u64, key: &str) -> String {
        format!("{}:{key}", self.charge_idempotency_index(user_id))
    }

    /// sorted set Idempotency-Key -> when it was first used (ms): a user's remembered
    /// answers by age, so lua/charge_wallet.lua keeps at most a set number of them. It can
    /// never be a record's key: those add `:<key>` to it.
    pub fn charge_idempotency_index(&self, user_id: u64) -> String {
        format!(
            "{}:idem:{user_id}",
            self.wallet_tag(Self::wallet_bucket(user_id))
        )
    }

    /// stream: the outbox of one concert (its confirmed sales and queue events).
    pub fn concert_outbox(&self, concert_id: u64) -> String {
        format!("{}:outbox", self.concert_tag(concert_id))
    }

    /// stream: the outbox of one wallet bucket (its wallets' charges).
    pub fn wallet_outbox(&self, bucket: u64) -> String {
        format!("{}:outbox", self.wallet_tag(bucket))
    }

    /// Where the flush worker moves the entries of `stream` that kept failing, with the
    /// reason: `<stream>:dead`, in the stream's slot.
    pub fn dead_letters(stream: &str) -> String {
        format!("{stream}:dead")
    }

    /// sorted set reservation id -> when its payment began (ms): the concert's payments
    /// between their steps (lua/begin_payment.lua), for the sweeper to settle.
    pub fn paying(&self, concert_id: u64) -> String {
        format!("{}:paying", self.concert_tag(concert_id))
    }

    /// The global outbox stream of earlier releases (a key of its own slot): the flush
    /// worker still drains it, nothing appends to it.
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    /// Where the flush worker moves outbox entries that kept failing, with the reason.
    pub fn outbox_dead(&self) -> String {
        Self::dead_letters(&self.outbox())
    }

    /// Every outbox stream of this prefix, given the concerts (the set at
    /// [`Keys::concerts`]): the global stream of earlier releases, each concert's, each
    /// wallet bucket's. The flush worker drains them all.
    pub fn outbox_streams(&self, concert_ids: impl IntoIterator<Item = u64>) -> Vec<String> {
        std::iter::once(self.outbox())
            .chain(concert_ids.into_iter().map(|id| self.concert_outbox(id)))
            .chain((0..WALLET_BUCKETS).map(|bucket| self.wallet_outbox(bucket)))
            .collect()
    }

    /// The keys lua/seat_map.lua takes for one schedule of one concert.
    pub fn seat_map(&self, concert_id: u64, schedule_id: u64) -> SeatMapKeys {
        let queue = self.queue(concert_id);
        let schedule = self.schedule(concert_id, schedule_id);
        SeatMapKeys {
            active: queue.active,
            active_seq: queue.active_seq,
            seats: schedule.seats,
            held: schedule.held,
            holds: schedule.holds,
            sold: schedule.sold,
        }
    }

    /// The keys lua/hold_seat.lua takes for `user_id` holding a seat of one schedule.
    pub fn hold(&self, concert_id: u64, schedule_id: u64, user_id: u64) -> HoldKeys {
        HoldKeys {
            map: self.seat_map(concert_id, schedule_id),
            user_holds: self.user_holds(concert_id, user_id),
            reservation_seq: self.reservation_seq(concert_id),
        }
    }

    /// The keys of `user_id` paying `reservation_id`, in one step or in steps.
    pub fn payment(&self, concert_id: u64, reservation_id: &str, user_id: u64) -> PaymentKeys {
        let queue = self.queue(concert_id);
        PaymentKeys {
            reservation: self.reservation(concert_id, reservation_id),
            active: queue.active,
            active_seq: queue.active_seq,
            wallet: self.wallet(user_id),
            outbox: queue.outbox,
            user_holds: self.user_holds(concert_id, user_id),
            life: queue.life,
            paying: self.paying(concert_id),
        }
    }

    /// The keys lua/charge_wallet.lua takes for a charge of `user_id`'s wallet.
    pub fn charge(&self, user_id: u64, idempotency_key: Option<&str>) -> ChargeKeys {
        ChargeKeys {
            wallet: self.wallet(user_id),
            outbox: self.wallet_outbox(Self::wallet_bucket(user_id)),
            idempotency: idempotency_key.map(|key| {
                (
                    self.charge_idempotency(user_id, key),
                    self.charge_idempotency_index(user_id),
                )
            }),
        }
    }

    /// The keys lua/available_seats.lua takes for some schedules of one concert.
    pub fn seat_counts(&self, concert_id: u64, schedule_ids: &[u64]) -> SeatCountKeys {
        SeatCountKeys(
            schedule_ids
                .iter()
                .map(|&id| self.schedule(concert_id, id))
                .collect(),
        )
    }

    pub fn queue(&self, concert_id: u64) -> QueueKeys {
        let tag = self.concert_tag(concert_id);
        QueueKeys {
            meta: format!("{tag}:meta"),
            line: format!("{tag}:q:line"),
            active: format!("{tag}:q:active"),
            active_seq: format!("{tag}:q:active_seq"),
            entries: format!("{tag}:q:entries"),
            bucket: format!("{tag}:q:bucket"),
            stats: format!("{tag}:q:stats"),
            settings: format!("{tag}:q:settings"),
            life: format!("{tag}:q:life"),
            pre: format!("{tag}:q:pre"),
            gone: format!("{tag}:q:gone"),
            events: format!("{tag}:q:events"),
            outbox: format!("{tag}:outbox"),
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
            &q.line,
            &q.active,
            &q.active_seq,
            &q.entries,
            &q.bucket,
            &q.stats,
            &q.settings,
            &q.life,
            &q.pre,
            &q.gone,
            &q.events,
        ] {
            assert!(key.starts_with("cq:{c:7}:"), "{key}");
        }
        assert_eq!(q.outbox, "cq:{c:7}:outbox");
    }

    #[test]
    fn a_schedules_and_reservations_keys_share_their_concerts_tag() {
        let keys = Keys::new("cq");
        let s = keys.schedule(7, 3);
        for key in [
            &s.seats,
            &s.held,
            &s.holds,
            &s.sold,
            &s.info,
            &keys.reservation(7, "R7-1"),
            &keys.reservation_seq(7),
            &keys.user_holds(7, 42),
            &keys.concert_schedules(7),
        ] {
            assert!(key.starts_with("cq:{c:7}:"), "{key}");
        }
        assert_eq!(s.seats, "cq:{c:7}:s:3:seats");
        assert_eq!(keys.reservation(7, "R7-1"), "cq:{c:7}:res:R7-1");
        assert_eq!(keys.user_holds(7, 42), "cq:{c:7}:u:42:holds");
        assert_eq!(keys.concert_outbox(7), "cq:{c:7}:outbox");
        assert_eq!(keys.paying(7), "cq:{c:7}:paying");
    }

    #[test]
    fn a_wallets_keys_share_its_buckets_tag() {
        let keys = Keys::new("cq");
        for key in [
            keys.wallet(130),
            keys.debit(130, "R7-1", 2),
            keys.charge_idempotency(130, "order-1"),
            keys.charge_idempotency_index(130),
            keys.wallet_outbox(2),
        ] {
            assert!(key.starts_with("cq:{w:2}:"), "{key}");
        }
        assert_eq!(keys.wallet(130), "cq:{w:2}:wallet:130");
        assert_eq!(
            Keys::dead_letters(&keys.wallet_outbox(2)),
            "cq:{w:2}:outbox:dead"
        );
        assert_eq!(keys.outbox_dead(), "cq:outbox:dead");
        let streams = keys.outbox_streams([7, 9]);
        assert_eq!(streams.len(), 3 + WALLET_BUCKETS as usize);
        assert_eq!(
            &streams[..3],
            ["cq:outbox", "cq:{c:7}:outbox", "cq:{c:9}:outbox"]
        );
    }
}
