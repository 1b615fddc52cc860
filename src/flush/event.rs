//! The outbox entry format the booking scripts write (`type`, `id`, `data`) and its
//! parsing into typed events; an entry that does not parse is a poison entry.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// `type` of an entry written when a payment confirms a reservation.
pub const RESERVATION_CONFIRMED: &str = "reservation.confirmed";
/// `type` of an entry written when a wallet is charged.
pub const WALLET_CHARGED: &str = "wallet.charged";

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

/// One parsed outbox entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Reservation(ReservationConfirmed),
    Charge(WalletCharged),
}

impl Event {
    /// The idempotency id: the reservation id, or the ledger entry id of a charge.
    pub fn id(&self) -> &str {
        match self {
            Event::Reservation(r) => &r.reservation_id,
            Event::Charge(c) => &c.ledger_id,
        }
    }

    /// The entry's `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Reservation(_) => RESERVATION_CONFIRMED,
            Event::Charge(_) => WALLET_CHARGED,
        }
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
        let mut missing = fields(RESERVATION_CONFIRMED, "r1", RESERVATION);
        missing.remove("data");
        assert!(Event::parse(&missing)
            .unwrap_err()
            .contains("missing field"));
    }
}
