//! The reservation hash in Redis (`<prefix>:{c:<id>}:res:<reservationId>`), field by field.
//! lua/lib/booking.lua writes and reads it for the scripts (`record_hold`,
//! `record_payment`, `load_reservation`); this is the Rust side's one copy of the names,
//! used to read a reservation and by `restore` to write one back.

use std::collections::HashMap;

/// A reservation's record as Redis keeps it; the payment's fields once CONFIRMED.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservationRecord {
    pub id: String,
    pub user_id: u64,
    pub concert_id: u64,
    pub schedule_id: u64,
    pub seat_no: u64,
    pub price: u64,
    /// `HELD`, `PAYING` (a payment between its steps), `CONFIRMED`, `CANCELLED` or `EXPIRED`,
    /// as the scripts write it.
    pub status: String,
    pub held_at_ms: u64,
    pub expires_ms: u64,
    pub payment: Option<PaymentRecord>,
}

/// What a payment adds to the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_id: String,
    pub ledger_id: String,
    pub balance_after: u64,
    pub confirmed_at_ms: u64,
}

impl ReservationRecord {
    /// Reads the fields of an HGETALL; `None` when one is missing or malformed.
    pub fn from_fields(fields: &HashMap<String, String>) -> Option<Self> {
        let text = |name: &str| fields.get(name).cloned();
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
        let payment = match text("paymentId") {
            Some(payment_id) => Some(PaymentRecord {
                payment_id,
                ledger_id: text("ledgerId")?,
                balance_after: number("balanceAfter")?,
                confirmed_at_ms: number("confirmedAtMs")?,
            }),
            None => None,
        };
        Some(ReservationRecord {
            id: text("id")?,
            user_id: number("user")?,
            concert_id: number("concert")?,
            schedule_id: number("schedule")?,
            seat_no: number("seat")?,
            price: number("price")?,
            status: text("status")?,
            held_at_ms: number("heldAtMs")?,
            expires_ms: number("expiresMs")?,
            payment,
        })
    }

    /// The fields for an HSET.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("id", self.id.clone()),
            ("user", self.user_id.to_string()),
            ("concert", self.concert_id.to_string()),
            ("schedule", self.schedule_id.to_string()),
            ("seat", self.seat_no.to_string()),
            ("price", self.price.to_string()),
            ("status", self.status.clone()),
            ("heldAtMs", self.held_at_ms.to_string()),
            ("expiresMs", self.expires_ms.to_string()),
        ];
        if let Some(p) = &self.payment {
            fields.extend([
                ("paymentId", p.payment_id.clone()),
                ("ledgerId", p.ledger_id.clone()),
                ("balanceAfter", p.balance_after.to_string()),
                ("confirmedAtMs", p.confirmed_at_ms.to_string()),
            ]);
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_fields() {
        let record = ReservationRecord {
            id: "R1-7".into(),
            user_id: 42,
            concert_id: 1,
            schedule_id: 3,
            seat_no: 17,
            price: 150_000,
            status: "CONFIRMED".into(),
            held_at_ms: 10,
            expires_ms: 20,
            payment: Some(PaymentRecord {
                payment_id: "P1-7".into(),
                ledger_id: "L42-2".into(),
                balance_after: 50_000,
                confirmed_at_ms: 15,
            }),
        };
        let fields: HashMap<String, String> = record
            .to_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(ReservationRecord::from_fields(&fields), Some(record));
    }
}
