//! The outbox entry format the booking and queue scripts write (`type`, `id`, `data`) and
//! its parsing into typed events; an entry that does not parse is a poison entry.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// `type` of an entry written when a payment confirms a reservation.
pub const RESERVATION_CONFIRMED: &str = "reservation.confirmed";
/// `type` of an entry written when a wallet is charged.
pub const WALLET_CHARGED: &str = "wallet.charged";

/// `type` prefix of the queue events (`queue.admitted`, ...; lua/lib/concert.lua).
pub const QUEUE_EVENT_PREFIX: &str = "queue.";
/// Every kind of queue event (docs/api.md, "Queue events").
pub const QUEUE_EVENT_KINDS: [&str; 8] = [
    "opened",
    "admitted",
    "expired",
    "idle-dropped",
    "evicted",
    "paused",
    "resumed",
    "sold-out",
];

/// Ledger `kind` of a payment's wallet debit.
pub const LEDGER_PAYMENT: &str = "PAYMENT";
/// Ledger `kind` of a wallet charge.
pub const LEDGER_CHARGE: &str = "CHARGE";

/// A confirmed reservation, as written to the outbox and published to Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationConfirmed {
    pub reservation_id: String,
    pub payment_id: String,
    pub user_id: u64,
    pub concert_id: u64,
    pub schedule_id: u64,
    pub seat_no: u32,
    pub amount: u64,
    pub balance_after: u64,
    pub ledger_id: String,
    pub confirmed_at_ms: u64,
}

/// A wallet charge (a CHARGE ledger entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletCharged {
    pub ledger_id: String,
    pub user_id: u64,
    pub amount: u64,
    pub balance_after: u64,
    pub idempotency_key: Option<String>,
    pub charged_at_ms: u64,
}

/// A queue event: published to the queue events topic as written (its `data`), keyed by
/// its concert; it has no MySQL rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEvent {
    /// `Q<concertId>-<n>`, unique per concert: what consumers deduplicate by.
    pub event_id: String,
    /// The entry's `type` (`queue.admitted`, ...).
    pub entry_type: String,
    pub concert_id: u64,
    /// The JSON the script wrote.
    pub data: String,
}

/// The fields every queue event's data starts with.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueEventHead {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    concert_id: u64,
}

impl QueueEvent {
    fn parse(entry_type: &str, data: String) -> Result<QueueEvent, String> {
        let kind = &entry_type[QUEUE_EVENT_PREFIX.len()..];
        if !QUEUE_EVENT_KINDS.contains(&kind) {
            return Err(format!("unknown type {entry_type:?}"));
        }
        let head: QueueEventHead =
            serde_json::from_str(&data).map_err(|err| format!("bad `data`: {err}"))?;
        if head.kind != kind {
            return Err(format!(
                "`data` says type {:?}, the entry {kind:?}",
                head.kind
            ));
        }
        Ok(QueueEvent {
            event_id: head.event_id,
            entry_type: entry_type.to_string(),
            concert_id: head.concert_id,
            data,
        })
    }
}

/// One parsed outbox entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Reservation(ReservationConfirmed),
    Charge(WalletCharged),
    Queue(QueueEvent),
}

impl Event {
    /// The idempotency id: the reservation id, the ledger entry id of a charge, or a queue
    /// event's id.
    pub fn id(&self) -> &str {
        match self {
            Event::Reservation(r) => &r.reservation_id,
            Event::Charge(c) => &c.ledger_id,
            Event::Queue(q) => &q.event_id,
        }
    }

    /// The entry's `type` field.
    pub fn kind(&self) -> &str {
        match self {
            Event::Reservation(_) => RESERVATION_CONFIRMED,
            Event::Charge(_) => WALLET_CHARGED,
            Event::Queue(q) => &q.entry_type,
        }
    }

    /// Whether the event has rows in MySQL (queue events have none).
    pub fn has_rows(&self) -> bool {
        !matches!(self, Event::Queue(_))
    }

    /// Parses the fields of one stream entry; the error is the reason it is poison.
    pub fn parse(fields: &HashMap<String, redis::Value>) -> Result<Event, String> {
        let field = |name: &str| -> Result<String, String> {
            let value = fields
                .get(name)
                .ok_or_else(|| format!("missing field `{name}`"))?;
            redis::from_redis_value_ref::<String>(value)
                .map_err(|err| format!("field `{name}` is not a string: {err}"))
        };
        let kind = field("type")?;
        let id = field("id")?;
        let data = field("data")?;
        let event = match kind.as_str() {
            RESERVATION_CONFIRMED => Event::Reservation(
                serde_json::from_str(&data).map_err(|err| format!("bad `data`: {err}"))?,
            ),
            WALLET_CHARGED => Event::Charge(
                serde_json::from_str(&data).map_err(|err| format!("bad `data`: {err}"))?,
            ),
            queue if queue.starts_with(QUEUE_EVENT_PREFIX) => {
                Event::Queue(QueueEvent::parse(queue, data)?)
            }
            other => return Err(format!("unknown type {other:?}")),
        };
        if event.id() != id {
            return Err(format!(
                "`id` {id:?} differs from the id in `data` {:?}",
                event.id()
            ));
        }
        if event.id().is_empty() {
            return Err("empty id".into());
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: &str, id: &str, data: &str) -> HashMap<String, redis::Value> {
        [("type", kind), ("id", id), ("data", data)]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    redis::Value::BulkString(v.as_bytes().to_vec()),
                )
            })
            .collect()
    }

    const RESERVATION: &str = r#"{"reservationId":"r1","paymentId":"p1","userId":7,"concertId":1,"scheduleId":2,"seatNo":3,"amount":50000,"balanceAfter":150000,"ledgerId":"l9","confirmedAtMs":1700000000000}"#;

    const ADMITTED: &str = r#"{"eventId":"Q1-1","type":"admitted","concertId":1,"atMs":1700000000000,"count":2,"users":[7,9007199254740991]}"#;

    #[test]
    fn a_queue_event_parses_and_keeps_its_data_as_written() {
        let e = Event::parse(&fields("queue.admitted", "Q1-1", ADMITTED)).unwrap();
        let Event::Queue(q) = &e else { panic!("{e:?}") };
        assert_eq!((q.concert_id, q.event_id.as_str()), (1, "Q1-1"));
        assert_eq!(q.data, ADMITTED, "published byte for byte, ids exact");
        assert_eq!(e.kind(), "queue.admitted");
        assert!(!e.has_rows());
    }

    #[test]
    fn both_event_types_parse() {
        let e = Event::parse(&fields(RESERVATION_CONFIRMED, "r1", RESERVATION)).unwrap();
        let Event::Reservation(r) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (r.seat_no, r.amount, r.ledger_id.as_str()),
            (3, 50000, "l9")
        );
        let charge = r#"{"ledgerId":"l1","userId":7,"amount":1000,"balanceAfter":1000,"idempotencyKey":null,"chargedAtMs":1}"#;
        let e = Event::parse(&fields(WALLET_CHARGED, "l1", charge)).unwrap();
        assert_eq!(e.id(), "l1");
        assert_eq!(e.kind(), WALLET_CHARGED);
    }

    #[test]
    fn poison_entries_say_why() {
        let err = Event::parse(&fields(RESERVATION_CONFIRMED, "r1", "{not json")).unwrap_err();
        assert!(err.contains("bad `data`"), "{err}");
        let err = Event::parse(&fields(RESERVATION_CONFIRMED, "r2", RESERVATION)).unwrap_err();
        assert!(err.contains("differs"), "{err}");
        let err = Event::parse(&fields("seat.sold", "r1", RESERVATION)).unwrap_err();
        assert!(err.contains("unknown type"), "{err}");
        let err = Event::parse(&fields("queue.teleported", "Q1-1", ADMITTED)).unwrap_err();
        assert!(err.contains("unknown type"), "{err}");
        let err = Event::parse(&fields("queue.expired", "Q1-1", ADMITTED)).unwrap_err();
        assert!(err.contains("says type"), "{err}");
        let err = Event::parse(&fields("queue.admitted", "Q1-2", ADMITTED)).unwrap_err();
        assert!(err.contains("differs"), "{err}");
        let mut missing = fields(RESERVATION_CONFIRMED, "r1", RESERVATION);
        missing.remove("data");
        assert!(Event::parse(&missing)
            .unwrap_err()
            .contains("missing field"));
    }
}
