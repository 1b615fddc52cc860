//! The fairness-under-attack scenario (`--scenario fairness`): one client sends
//! `--attack-rate` token requests a second for the whole window, each for a new user (the
//! scalper's bot grabbing places), while `--honest` clients join once each, spread evenly
//! over the window, honouring `Retry-After` and giving up after `--tries`. Every client has
//! an address of its own in `X-Forwarded-For` (the server runs with TRUSTED_PROXY_HOPS=1,
//! as behind one proxy), or with `--jwt-secret` a JWT of its own (the attacker one account).
//! Reports the share of honest clients that got a token and the attacker's share of the
//! queue places issued.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::{Call, Connection};
use crate::plan::Plan;
use crate::target::Target;

/// Connections the attacker spreads its requests over.
const ATTACKER_CONNECTIONS: u64 = 16;

/// What the scenario is asked to do.
#[derive(Clone, Debug)]
pub struct FairnessSettings {
    pub attack_rate: u64,
    pub honest: u64,
    pub tries: u32,
    pub window: Duration,
    pub concert_id: u64,
    /// Users are signed in with JWTs (the run has `--jwt-secret`).
    pub signed_in: bool,
}

/// The attacker's answers.
#[derive(Debug, Default, Serialize)]
pub struct AttackerCounts {
    pub sent: u64,
    /// 201: a new place in the queue.
    pub new_places: u64,
    /// 200: a token it already had.
    pub same_token: u64,
    /// 429.
    pub rate_limited: u64,
    /// Anything else, or no answer.
    pub other: u64,
}

/// The scenario's figures.
#[derive(Debug, Serialize)]
pub struct FairnessReport {
    pub attack_rate: u64,
    pub window_secs: f64,
    pub honest: u64,
    pub tries: u32,
    pub signed_in: bool,
    /// Honest clients with a token, by the try that got it (index 0: the first).
    pub honest_by_try: Vec<u64>,
    pub honest_with_token: u64,
    pub honest_share_pct: f64,
    pub attacker: AttackerCounts,
    /// Queue places issued in the window (201s): the attacker's and the honest clients'.
    pub places_issued: u64,
    pub attacker_share_pct: f64,
    pub started_at: String,
    pub load_average: String,
}

impl FairnessReport {
    pub fn text(&self) -> String {
        let mode = if self.signed_in {
            "jwt (each client its own user)"
        } else {
            "X-Forwarded-For (each client its own address)"
        };
        let by_try: Vec<String> = self
            .honest_by_try
            .iter()
            .enumerate()
            .map(|(i, n)| format!("try {}: {n}", i + 1))
            .collect();
        format!(
            "fairness under attack ({mode}), started {} (load average {})\n\
             attacker: {} req/s for {:.1} s: sent {}, new places {}, same token {}, 429 {}, other {}\n\
             honest clients with a token: {} of {} ({:.1}%) within {} tries ({})\n\
             queue places issued: {}, the attacker's share {:.1}%\n",
            self.started_at,
            self.load_average,
            self.attack_rate,
            self.window_secs,
            self.attacker.sent,
            self.attacker.new_places,
            self.attacker.same_token,
            self.attacker.rate_limited,
            self.attacker.other,
            self.honest_with_token,
            self.honest,
            self.honest_share_pct,
            self.tries,
            by_try.join(", "),
            self.places_issued,
            self.attacker_share_pct,
        )
    }
}

/// The `X-Forwarded-For` address of honest client `n` (198.18.0.0/15, the benchmarking
/// range), and the attacker's.
fn honest_address(n: u64) -> String {
    format!("198.18.{}.{}", n / 250, n % 250 + 1)
}
const ATTACKER_ADDRESS: &str = "198.19.255.1";

/// A token request for `user` from the client at `address`.
fn join(user: u64, concert_id: u64, address: &str, signed_in: bool) -> Call<'static> {
    let body = if signed_in {
        json!({"concertId": concert_id})
    } else {
        json!({"userId": user, "concertId": concert_id})
    };
    let call = Call::post("/api/queue/token".into(), body.to_string()).from_client(address.into());
    crate::identity::signed_in(call, user)
}

/// Runs the scenario against `target`.
pub async fn run(
    target: &Target,
    timeout: Duration,
    plan: Arc<Plan>,
    settings: FairnessSettings,
) -> FairnessReport {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let start = Instant::now();
    let attacker_user = plan.fresh_user();
    let counts = Arc::new(AttackCounters::default());
    let attackers = (0..ATTACKER_CONNECTIONS).map(|lane| {
        let (target, plan, counts, settings) = (
            target.clone(),
            plan.clone(),
            counts.clone(),
            settings.clone(),
        );
        tokio::spawn(async move {
            attack(
                lane,
                target,
                timeout,
                plan,
                counts,
                settings,
                attacker_user,
                start,
            )
            .await
        })
    });
    let attackers: Vec<_> = attackers.collect();
    let honest: Vec<_> = (0..settings.honest)
        .map(|n| {
            let (target, plan, settings) = (target.clone(), plan.clone(), settings.clone());
            let at = start + settings.window.mul_f64(n as f64 / settings.honest as f64);
            tokio::spawn(async move { join_honestly(n, target, timeout, plan, settings, at).await })
        })
        .collect();
    let mut honest_by_try = vec![0u64; settings.tries as usize];
    let mut honest_places = 0;
    for handle in honest {
        if let Ok(Some((tries, created))) = handle.await {
            honest_by_try[tries as usize - 1] += 1;
            honest_places += u64::from(created);
        }
    }
    for handle in attackers {
        let _ = handle.await;
    }
    let attacker = counts.snapshot();
    let honest_with_token: u64 = honest_by_try.iter().sum();
    let places_issued = attacker.new_places + honest_places;
    FairnessReport {
        attack_rate: settings.attack_rate,
        window_secs: start.elapsed().as_secs_f64(),
        honest: settings.honest,
        tries: settings.tries,
        signed_in: settings.signed_in,
        honest_share_pct: 100.0 * honest_with_token as f64 / settings.honest.max(1) as f64,
        honest_by_try,
        honest_with_token,
        attacker_share_pct: 100.0 * attacker.new_places as f64 / places_issued.max(1) as f64,
        attacker,
        places_issued,
        started_at,
        load_average,
    }
}

#[derive(Default)]
struct AttackCounters {
    sent: AtomicU64,
    new_places: AtomicU64,
    same_token: AtomicU64,
    rate_limited: AtomicU64,
    other: AtomicU64,
}

impl AttackCounters {
    fn snapshot(&self) -> AttackerCounts {
        AttackerCounts {
            sent: self.sent.load(Ordering::Relaxed),
            new_places: self.new_places.load(Ordering::Relaxed),
            same_token: self.same_token.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// One of the attacker's connections: requests `lane`, `lane + 16`, ... of a schedule of
/// `attack_rate` a second, each sent at its time (or at once when behind), until the window
/// closes. Signed out, each asks for a new user; signed in, the attacker's one account.
#[allow(clippy::too_many_arguments)]
async fn attack(
    lane: u64,
    target: Target,
    timeout: Duration,
    plan: Arc<Plan>,
    counts: Arc<AttackCounters>,
    settings: FairnessSettings,
    attacker_user: u64,
    start: Instant,
) {
    let mut conn = Connection::new(target, timeout);
    let every = Duration::from_secs_f64(1.0 / settings.attack_rate.max(1) as f64);
    let mut k = lane;
    loop {
        let at = start + every.mul_f64(k as f64);
        if at >= start + settings.window {
            return;
        }
        tokio::time::sleep_until(at.into()).await;
        let user = if settings.signed_in {
            attacker_user
        } else {
            plan.fresh_user()
        };
        let call = join(
            user,
            settings.concert_id,
            ATTACKER_ADDRESS,
            settings.signed_in,
        );
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let counter = match conn.send(call).await.map(|a| a.status) {
            Ok(201) => &counts.new_places,
            Ok(200) => &counts.same_token,
            Ok(429) => &counts.rate_limited,
            _ => &counts.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        k += ATTACKER_CONNECTIONS;
    }
}

/// Honest client `n`: joins once at `at`; after a 429 waits its Retry-After (1 s when it
/// has none) and tries again, at most `tries` times. Returns the try that got a token and
/// whether it was a new place, or None.
async fn join_honestly(
    n: u64,
    target: Target,
    timeout: Duration,
    plan: Arc<Plan>,
    settings: FairnessSettings,
    at: Instant,
) -> Option<(u32, bool)> {
    tokio::time::sleep_until(at.into()).await;
    let mut conn = Connection::new(target, timeout);
    let user = plan.fresh_user();
    let address = honest_address(n);
    for attempt in 1..=settings.tries {
        match conn
            .send(join(
                user,
                settings.concert_id,
                &address,
                settings.signed_in,
            ))
            .await
        {
            Ok(answer) if answer.status == 200 || answer.status == 201 => {
                return Some((attempt, answer.status == 201));
            }
            Ok(answer) => {
                let wait = answer.retry_after.unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    None
}
