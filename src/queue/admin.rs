//! The operator's side of a concert's queue, shared by the admin API and `concert-queue
//! admin`: the concert's own settings over the environment's defaults (a pre-queue starts
//! when `opensAt` is set in the future, its seed drawn here), pause, resume, open now,
//! evicting a buyer, and the live figures. Each is one script (lua/configure_queue.lua,
//! lua/evict_buyer.lua, lua/queue_figures.lua), so it applies on every server at their next
//! script call.

use serde::Serialize;
use serde_json::Value;

use super::draw::{self, hex};
use super::{push_draw, Queue, QueueError};
use crate::config::{
    MAX_CONCERT_ACTIVE_TTL_SECS, MAX_CONCERT_ADMIT_PER_SEC, MAX_CONCERT_MAX_ACTIVE,
    MAX_WAIT_IDLE_TIMEOUT,
};
use crate::store::StoreError;
use crate::time::rfc3339_millis;

/// A change of a concert's queue settings: each field absent (unchanged), `Some(None)`
/// (null: back to the environment's default; for `opens_at_ms`, open now) or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub max_active: Option<Option<u64>>,
    pub admit_per_sec: Option<Option<u64>>,
    pub active_ttl_secs: Option<Option<u64>>,
    pub idle_timeout_secs: Option<Option<u64>>,
    pub paused: Option<bool>,
    pub opens_at_ms: Option<Option<u64>>,
}

/// The whole-number settings: name, largest value, smallest value.
const NUMBERS: [(&str, u64, u64); 4] = [
    ("maxActive", MAX_CONCERT_MAX_ACTIVE, 0),
    ("admitPerSec", MAX_CONCERT_ADMIT_PER_SEC, 0),
    ("activeTtlSecs", MAX_CONCERT_ACTIVE_TTL_SECS, 1),
    ("idleTimeoutSecs", MAX_WAIT_IDLE_TIMEOUT.as_secs(), 0),
];

fn invalid(field: &str, reason: impl std::fmt::Display) -> QueueError {
    QueueError::InvalidSetting(format!("{field}: {reason}"))
}

impl SettingsChange {
    /// Reads a PATCH body, a JSON object of settings; an unknown setting, a wrong type or a
    /// value out of range is refused, naming the setting.
    pub fn from_json(body: &Value) -> Result<SettingsChange, QueueError> {
        let Some(fields) = body.as_object() else {
            return Err(QueueError::InvalidSetting(
                "the body must be a JSON object of settings".into(),
            ));
        };
        let mut change = SettingsChange::default();
        for (name, value) in fields {
            match name.as_str() {
                "paused" => {
                    change.paused = Some(match value {
                        Value::Bool(b) => *b,
                        Value::Null => false,
                        _ => return Err(invalid(name, "must be true or false")),
                    })
                }
                "opensAt" => {
                    change.opens_at_ms = Some(match value {
                        Value::Null => None,
                        Value::String(text) => Some(parse_instant(text)?),
                        _ => return Err(invalid(name, "must be an RFC 3339 time or null")),
                    })
                }
                other => {
                    let Some(slot) = change.number_mut(other) else {
                        return Err(invalid(other, "no such setting"));
                    };
                    *slot = Some(match value {
                        Value::Null => None,
                        Value::Number(n) => Some(n.as_u64().ok_or_else(|| {
                            invalid(other, "must be a whole number, not negative")
                        })?),
                        _ => return Err(invalid(other, "must be a whole number or null")),
                    });
                }
            }
        }
        change.validate()?;
        Ok(change)
    }

    /// Whole numbers within their documented ranges (`maxActive` at most
    /// MAX_CONCERT_MAX_ACTIVE, `admitPerSec` at most MAX_CONCERT_ADMIT_PER_SEC,
    /// `activeTtlSecs` 1 to a day, `idleTimeoutSecs` at most 1800).
    pub fn validate(&self) -> Result<(), QueueError> {
        for (name, max, min) in NUMBERS {
            if let Some(Some(value)) = self.number(name) {
                if !(min..=max).contains(&value) {
                    return Err(invalid(name, format!("must be between {min} and {max}")));
                }
            }
        }
        if self.is_empty() {
            return Err(QueueError::InvalidSetting(
                "name at least one setting to change".into(),
            ));
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        *self == SettingsChange::default()
    }

    fn number(&self, name: &str) -> Option<Option<u64>> {
        match name {
            "maxActive" => self.max_active,
            "admitPerSec" => self.admit_per_sec,
            "activeTtlSecs" => self.active_ttl_secs,
            "idleTimeoutSecs" => self.idle_timeout_secs,
            _ => None,
        }
    }

    fn number_mut(&mut self, name: &str) -> Option<&mut Option<Option<u64>>> {
        match name {
            "maxActive" => Some(&mut self.max_active),
            "admitPerSec" => Some(&mut self.admit_per_sec),
            "activeTtlSecs" => Some(&mut self.active_ttl_secs),
            "idleTimeoutSecs" => Some(&mut self.idle_timeout_secs),
            _ => None,
        }
    }

    /// The (setting, value) pairs lua/configure_queue.lua takes ('' to clear).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let text = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut pairs = Vec::new();
        for (name, _, _) in NUMBERS {
            if let Some(value) = self.number(name) {
                pairs.push((name, text(value)));
            }
        }
        if let Some(paused) = self.paused {
            pairs.push(("paused", if paused { "1" } else { "0" }.to_string()));
        }
        if let Some(opens_at) = self.opens_at_ms {
            pairs.push(("opensAt", text(opens_at)));
        }
        pairs
    }
}

/// An RFC 3339 time as milliseconds since the epoch (after 1970, exact in a double).
pub fn parse_instant(text: &str) -> Result<u64, QueueError> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|err| invalid("opensAt", format!("not an RFC 3339 time: {err}")))?;
    u64::try_from(parsed.timestamp_millis())
        .ok()
        .filter(|&ms| ms < 1 << 53)
        .ok_or_else(|| invalid("opensAt", "must be after 1970"))
}

/// The settings in force for a concert: its own where it has them, else the environment's.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsInForce {
    pub max_active: u64,
    pub admit_per_sec: u64,
    pub active_ttl_secs: u64,
    pub idle_timeout_secs: u64,
    pub paused: bool,
    /// null: open.
    pub opens_at: Option<String>,
}

/// A concert's seats now, over every schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatCounts {
    pub total: u64,
    pub available: u64,
    pub held: u64,
    pub sold: u64,
}

/// The pre-queue's draw as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawFigures {
    pub commitment: String,
    /// Entries so far before the opening; frozen at the opening.
    pub pre_queue_size: u64,
    pub opened_at: Option<String>,
    /// Revealed once the pre-queue opened.
    pub seed: Option<String>,
}

/// A concert's queue as GET /admin/concerts/{id}/queue shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFigures {
    pub concert_id: u64,
    /// PRE_QUEUE, OPEN, PAUSED or SOLD_OUT.
    pub state: String,
    /// Buyers waiting: the line, and the pre-queue's entries not in it yet.
    pub waiting: u64,
    /// Of those, in the pre-queue (before or while it opens).
    pub pre_queue: u64,
    pub active: u64,
    pub admitted_last_minute: u64,
    /// Admissions per second, averaged over 2-second windows while buyers waited; null
    /// before any.
    pub observed_admission_rate: Option<f64>,
    pub seats: SeatCounts,
    pub settings: SettingsInForce,
    /// The settings the concert has its own values for (the rest are the environment's).
    pub own_settings: Vec<&'static str>,
    pub draw: Option<DrawFigures>,
}

/// Where an evicted buyer was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvictedFrom {
    Waiting,
    Active,
    PreQueue,
}

impl Queue {
    /// Applies a change of the concert's settings (checked with [`SettingsChange::validate`]
    /// first); a future `opensAt` on a queue that never took an entry starts its
    /// pre-queue with a seed drawn now from the operating system's RNG.
    #[tracing::instrument(name = "configure_queue", skip(self))]
    pub async fn configure(
        &self,
        concert_id: u64,
        change: &SettingsChange,
    ) -> Result<(), QueueError> {
        change.validate()?;
        let (seed, commitment) = match change.opens_at_ms {
            Some(Some(_)) => {
                let seed = draw::new_seed().map_err(StoreError::bug)?;
                (hex(&seed), hex(&draw::commitment(&seed)))
            }
            _ => (String::new(), String::new()),
        };
        let keys = self.store.keys.queue(concert_id);
        let mut invocation = keys.invoke_with_outbox(&self.store.scripts.configure_queue);
        self.settings.push_defaults(&mut invocation);
        invocation.arg(seed).arg(commitment);
        for (name, value) in change.pairs() {
            invocation.arg(name).arg(value);
        }
        let _: i64 = self.store.invoke(&invocation).await?;
        Ok(())
    }

    /// Pauses admission (joins still queue).
    pub async fn pause(&self, concert_id: u64) -> Result<(), QueueError> {
        self.set_paused(concert_id, true).await
    }

    /// Resumes admission.
    pub async fn resume(&self, concert_id: u64) -> Result<(), QueueError> {
        self.set_paused(concert_id, false).await
    }

    async fn set_paused(&self, concert_id: u64, paused: bool) -> Result<(), QueueError> {
        let change = SettingsChange {
            paused: Some(paused),
            ..SettingsChange::default()
        };
        self.configure(concert_id, &change).await
    }

    /// Opens the pre-queue now (`opensAt` null); a queue already open stays so.
    pub async fn open_now(&self, concert_id: u64) -> Result<(), QueueError> {
        let change = SettingsChange {
            opens_at_ms: Some(None),
            ..SettingsChange::default()
        };
        self.configure(concert_id, &change).await
    }

    /// Takes a buyer out of the concert's queue, wherever they wait or are ACTIVE; every
    /// token of theirs then answers EXPIRED.
    #[tracing::instrument(name = "evict_buyer", skip(self))]
    pub async fn evict(&self, concert_id: u64, user_id: u64) -> Result<EvictedFrom, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let script = &self.store.scripts.evict_buyer;
        let reply: Vec<String> = self
            .with_draw(concert_id, |draw| {
                let mut invocation = keys.invoke_with_outbox(script);
                self.settings.push_defaults(&mut invocation);
                invocation.arg(user_id);
                push_draw(&mut invocation, draw, user_id);
                invocation
            })
            .await?;
        match reply.first().map(String::as_str) {
            Some("WAITING") => Ok(EvictedFrom::Waiting),
            Some("ACTIVE") => Ok(EvictedFrom::Active),
            Some("PRE_QUEUE") => Ok(EvictedFrom::PreQueue),
            Some("NONE") => Err(QueueError::NotInQueue),
            _ => Err(StoreError::unexpected("evict_buyer", &reply).into()),
        }
    }

    /// The concert's queue now: state, figures, seats, settings in force and the draw.
    #[tracing::instrument(name = "read_queue_figures", skip(self))]
    pub async fn figures(&self, concert_id: u64) -> Result<QueueFigures, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let mut invocation = keys.invoke(&self.store.scripts.queue_figures);
        self.settings.push_defaults(&mut invocation);
        let reply: Vec<String> = self.store.invoke(&invocation).await?;
        self.parse_figures(concert_id, &reply)
            .ok_or_else(|| StoreError::unexpected("queue_figures", &reply).into())
    }

    fn parse_figures(&self, concert_id: u64, reply: &[String]) -> Option<QueueFigures> {
        let [state, waiting, pre, active, minute, rate, total, available, held, sold, max_active, admit, ttl, idle, paused, opens_at, commitment, size, opened_at, seed] =
            reply
        else {
            return None;
        };
        let number = |text: &str| text.parse::<u64>().ok();
        let own = |text: &str| (!text.is_empty()).then(|| number(text)).flatten();
        let d = &self.settings;
        let mut own_settings = Vec::new();
        for (name, value) in [
            ("maxActive", max_active),
            ("admitPerSec", admit),
            ("activeTtlSecs", ttl),
            ("idleTimeoutSecs", idle),
            ("paused", paused),
            ("opensAt", opens_at),
        ] {
            if !value.is_empty() {
                own_settings.push(name);
            }
        }
        Some(QueueFigures {
            concert_id,
            state: state.clone(),
            waiting: number(waiting)?,
            pre_queue: number(pre)?,
            active: number(active)?,
            admitted_last_minute: number(minute)?,
            observed_admission_rate: rate.parse::<f64>().ok(),
            seats: SeatCounts {
                total: number(total)?,
                available: number(available)?,
                held: number(held)?,
                sold: number(sold)?,
            },
            settings: SettingsInForce {
                max_active: own(max_active).unwrap_or(d.max_active),
                admit_per_sec: own(admit).unwrap_or(d.admit_per_sec),
                active_ttl_secs: own(ttl).unwrap_or(d.active_ttl.as_secs()),
                idle_timeout_secs: own(idle).unwrap_or(d.idle_timeout.as_secs()),
                paused: paused == "1",
                opens_at: own(opens_at).map(rfc3339_millis),
            },
            own_settings,
            draw: (!commitment.is_empty()).then(|| DrawFigures {
                commitment: commitment.clone(),
                pre_queue_size: number(size).unwrap_or(0),
                opened_at: own(opened_at).map(rfc3339_millis),
                seed: (!seed.is_empty()).then(|| seed.clone()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_body_becomes_a_change_and_null_means_default() {
        let change = SettingsChange::from_json(&json!({
            "admitPerSec": 20, "maxActive": null, "paused": true,
            "opensAt": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(change.admit_per_sec, Some(Some(20)));
        assert_eq!(change.max_active, Some(None));
        assert_eq!(change.paused, Some(true));
        assert_eq!(change.opens_at_ms, Some(Some(1_893_456_000_000)));
        assert_eq!(change.idle_timeout_secs, None);
        assert_eq!(
            change.pairs(),
            vec![
                ("maxActive", String::new()),
                ("admitPerSec", "20".to_string()),
                ("paused", "1".to_string()),
                ("opensAt", "1893456000000".to_string()),
            ]
        );
    }

    #[test]
    fn every_refusal_names_its_setting() {
        for (body, field) in [
            (json!({"admitPerSec": -5}), "admitPerSec"),
            (json!({"admitPerSec": 1.5}), "admitPerSec"),
            (
                json!({"maxActive": MAX_CONCERT_MAX_ACTIVE + 1}),
                "maxActive",
            ),
            (json!({"activeTtlSecs": 0}), "activeTtlSecs"),
            (json!({"idleTimeoutSecs": 1801}), "idleTimeoutSecs"),
            (json!({"paused": "yes"}), "paused"),
            (json!({"opensAt": "tomorrow"}), "opensAt"),
            (json!({"opensAt": 1_900_000_000}), "opensAt"),
            (json!({"rate": 3}), "rate"),
        ] {
            let err = SettingsChange::from_json(&body).unwrap_err();
            let QueueError::InvalidSetting(text) = &err else {
                panic!("{err:?}")
            };
            assert!(text.starts_with(&format!("{field}:")), "{body}: {text}");
        }
        assert!(SettingsChange::from_json(&json!({})).is_err());
        assert!(SettingsChange::from_json(&json!([1])).is_err());
    }
}
