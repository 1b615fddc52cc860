//! `concert-queue admin status|set|pause|resume|open|evict`: a concert's queue steered
//! straight on Redis, with no server running: the same scripts as the admin API
//! (src/queue/admin.rs), the same answers (JSON on stdout), the same checks.

use serde_json::{json, Map, Value};

use crate::queue::admin::SettingsChange;
use crate::queue::{Queue, QueueError, QueueSettings, TokenSigner};
use crate::store::Store;
use crate::Config;

/// Steer a concert's queue straight on Redis (no server needed).
#[derive(clap::Args, Debug)]
pub struct Admin {
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdminAction {
    /// Show the concert's queue: state (PRE_QUEUE, OPEN, PAUSED, SOLD_OUT), waiting,
    /// active, admitted in the last minute, the observed admission rate, seats
    /// AVAILABLE/HELD/SOLD, the settings in force and the pre-queue's draw.
    Status(Target),
    /// Change the concert's own queue settings; each applies on every server within one
    /// activation tick. `default` gives a setting back to the environment's value;
    /// `--opens-at` in the future starts a pre-queue (its seed drawn now, its commitment
    /// published at once), `--opens-at now` opens it.
    #[command(allow_negative_numbers = true)]
    Set(Set),
    /// Pause admission (joins still queue; ACTIVE buyers stay).
    Pause(Target),
    /// Resume admission.
    Resume(Target),
    /// Open the concert's pre-queue now.
    Open(Target),
    /// Take a buyer out of the queue (waiting, ACTIVE or in the pre-queue): every token of
    /// theirs answers EXPIRED.
    Evict(Evict),
}

/// The concert, and the settings to reach Redis.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The concert's id.
    #[arg(long)]
    pub concert: u64,
    #[command(flatten)]
    pub config: Config,
}

#[derive(clap::Args, Debug)]
pub struct Set {
    /// Most buyers ACTIVE at once (0 to 100000), or `default`.
    #[arg(long, value_name = "N")]
    pub max_active: Option<String>,
    /// Admissions per second (0 to 100000), or `default`.
    #[arg(long, value_name = "N")]
    pub admit_per_sec: Option<String>,
    /// How long an ACTIVE token lasts, in seconds (1 to 86400), or `default`
    /// (`activeTtlSecs`).
    #[arg(long = "active-ttl", id = "new_active_ttl", value_name = "SECS")]
    pub active_ttl: Option<String>,
    /// Seconds without a poll after which a waiter is dropped (0 = never, at most 1800),
    /// or `default` (`idleTimeoutSecs`).
    #[arg(long = "idle-timeout", id = "new_idle_timeout", value_name = "SECS")]
    pub idle_timeout: Option<String>,
    /// When the pre-queue opens (RFC 3339, e.g. 2030-05-01T20:00:00+09:00), or `now`.
    #[arg(long, value_name = "TIME")]
    pub opens_at: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(clap::Args, Debug)]
pub struct Evict {
    /// The buyer's user id.
    #[arg(long)]
    pub user: u64,
    #[command(flatten)]
    pub target: Target,
}

impl Admin {
    pub fn config(&self) -> &Config {
        match &self.action {
            AdminAction::Status(t)
            | AdminAction::Pause(t)
            | AdminAction::Resume(t)
            | AdminAction::Open(t) => &t.config,
            AdminAction::Set(set) => &set.target.config,
            AdminAction::Evict(evict) => &evict.target.config,
        }
    }

    /// Runs the action and prints its answer as JSON.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = self.config();
        let store = Store::from_config(config).await?;
        let queue = Queue::new(
            store,
            TokenSigner::new(config.token_secret.as_bytes()),
            QueueSettings::from_config(config),
        );
        let answer = self.act(&queue).await.map_err(|err| match err {
            QueueError::Store(store) => anyhow::anyhow!("{store}"),
            refusal => anyhow::anyhow!("{refusal}"),
        })?;
        println!("{}", serde_json::to_string_pretty(&answer)?);
        Ok(())
    }

    async fn act(&self, queue: &Queue) -> Result<Value, QueueError> {
        let concert = match &self.action {
            AdminAction::Status(t)
            | AdminAction::Pause(t)
            | AdminAction::Resume(t)
            | AdminAction::Open(t) => t.concert,
            AdminAction::Set(set) => set.target.concert,
            AdminAction::Evict(evict) => evict.target.concert,
        };
        match &self.action {
            AdminAction::Status(_) => {}
            AdminAction::Set(set) => queue.configure(concert, &set.change()?).await?,
            AdminAction::Pause(_) => queue.pause(concert).await?,
            AdminAction::Resume(_) => queue.resume(concert).await?,
            AdminAction::Open(_) => queue.open_now(concert).await?,
            AdminAction::Evict(evict) => {
                let from = queue.evict(concert, evict.user).await?;
                return Ok(
                    json!({"concertId": concert, "userId": evict.user, "evictedFrom": from}),
                );
            }
        }
        let figures = queue.figures(concert).await?;
        Ok(serde_json::to_value(figures).expect("figures are JSON"))
    }
}

impl Set {
    /// The flags as the admin API's PATCH body, checked the same way.
    fn change(&self) -> Result<SettingsChange, QueueError> {
        let mut body = Map::new();
        for (name, value) in [
            ("maxActive", &self.max_active),
            ("admitPerSec", &self.admit_per_sec),
            ("activeTtlSecs", &self.active_ttl),
            ("idleTimeoutSecs", &self.idle_timeout),
        ] {
            if let Some(value) = value {
                let value = match value.as_str() {
                    "default" => Value::Null,
                    text => serde_json::from_str::<serde_json::Number>(text)
                        .map(Value::Number)
                        .map_err(|_| {
                            QueueError::InvalidSetting(format!(
                                "{name}: must be a whole number or default"
                            ))
                        })?,
                };
                body.insert(name.into(), value);
            }
        }
        if let Some(opens_at) = &self.opens_at {
            let value = match opens_at.as_str() {
                "now" => Value::Null,
                time => Value::String(time.into()),
            };
            body.insert("opensAt".into(), value);
        }
        SettingsChange::from_json(&Value::Object(body))
    }
}
