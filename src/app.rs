//! The application state shared by every request: configuration, Redis, the queue,
//! booking, the cached catalog, who callers are (`AUTH_MODE`), the fairness limits (each
//! client's budget, the server-wide token limiter, the pace of status polls) and the
//! metrics handle.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::{AuthMode, JwtVerifier};
use crate::booking::{Booking, BookingSettings};
use crate::catalog::CatalogCache;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::limits::{ClientBudget, ClientKey, PollPacer};
use crate::queue::{Claims, Queue, QueueSettings, QueueState, TokenSigner};
use crate::store::presence::Presence;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub queue: Queue,
    pub booking: Booking,
    pub catalog: CatalogCache,
    /// Present exactly in `AUTH_MODE=jwt`.
    jwt: Option<JwtVerifier>,
    client_budget: Option<ClientBudget>,
    token_limiter: Option<DefaultDirectRateLimiter>,
    poll_pacer: Option<PollPacer>,
    pub metrics: PrometheusHandle,
    /// The CORS policy (`CORS_ALLOWED_ORIGINS`); `None` allows no other origin.
    pub cors: Option<tower_http::cors::CorsLayer>,
    /// Set when shutdown begins: `/health/ready` answers 503 from then on.
    draining: AtomicBool,
    /// This server's heartbeat, and whether `restore` runs (writes refused meanwhile).
    pub presence: Presence,
}

impl App {
    /// Builds the state; connects to Redis and MySQL lazily, so an outage of either does not
    /// stop start-up. Refuses an unset `AUTH_MODE` on a non-loopback `BIND_ADDR`, and a
    /// `jwt` mode without usable keys.
    pub async fn build(config: Config) -> anyhow::Result<Arc<App>> {
        config.validate()?;
        let jwt = match crate::auth::effective_mode(config.auth_mode, config.bind_addr)? {
            AuthMode::Jwt => Some(JwtVerifier::from_config(&config)?),
            AuthMode::None => None,
        };
        let store = Store::from_config(&config).await?;
        let queue = Queue::new(
            store.clone(),
            TokenSigner::new(config.token_secret.as_bytes()),
            QueueSettings::from_config(&config),
        );
        let queue = if config.status_snapshot {
            queue.with_status_snapshot(config.status_exact_positions)
        } else {
            queue
        };
        let booking = Booking::new(store.clone(), BookingSettings::from_config(&config));
        let catalog = CatalogCache::new(&config.mysql_url, config.mysql_timeout)?;
        let token_limiter = NonZeroU32::new(config.token_rate_limit_per_sec)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        let cors = crate::http::service::cors_policy(&config.cors_allowed_origins)?;
        Ok(Arc::new(App {
            client_budget: ClientBudget::new(
                config.client_rate_limit_per_sec,
                config.client_rate_limit_burst,
            ),
            poll_pacer: PollPacer::new(config.poll_min_interval_factor),
            cors,
            config,
            store: store.clone(),
            queue,
            booking,
            catalog,
            jwt,
            token_limiter,
            metrics: crate::metrics::handle(),
            draining: AtomicBool::new(false),
            presence: Presence::new(store.clone(), "server"),
        }))
    }

    /// Shutdown has begun: from now on the server is not ready (`/health/ready` is 503).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// 503 while `restore` rebuilds Redis (its maintenance marker is set).
    pub fn refuse_writes_in_maintenance(&self) -> Result<(), ApiError> {
        match self.presence.in_maintenance() {
            true => Err(ApiError::Unavailable),
            false => Ok(()),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The JWT verifier, in `AUTH_MODE=jwt` only.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    pub fn client_budget(&self) -> Option<&ClientBudget> {
        self.client_budget.as_ref()
    }

    pub fn poll_pacer(&self) -> Option<&PollPacer> {
        self.poll_pacer.as_ref()
    }

    /// 429 with a Retry-After when `client` is over its own budget; the server-wide limiter
    /// is not touched then.
    pub fn check_client_budget(&self, client: &ClientKey) -> Result<(), ApiError> {
        let Some(budget) = &self.client_budget else {
            return Ok(());
        };
        budget.check(client).map_err(|retry_after| {
            metrics::counter!("rate_limited_total", "route" => "POST /api/queue/token", "limit" => "client")
                .increment(1);
            ApiError::RateLimited { retry_after }
        })
    }

    /// 429 with a Retry-After when token issuance is over its server-wide rate.
    pub fn check_token_rate_limit(&self) -> Result<(), ApiError> {
        let Some(limiter) = &self.token_limiter else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            metrics::counter!("rate_limited_total", "route" => "POST /api/queue/token", "limit" => "server")
                .increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    /// 429 with a Retry-After when a token polls sooner than its advice allows, decided in
    /// process; returns the instant the poll was admitted at.
    pub fn admit_poll(&self, claims: &Claims) -> Result<Instant, ApiError> {
        let now = Instant::now();
        if let Some(pacer) = &self.poll_pacer {
            pacer.admit(claims, now).map_err(|retry_after| {
                metrics::counter!("rate_limited_total", "route" => "GET /api/queue/status", "limit" => "poll")
                    .increment(1);
                ApiError::RateLimited { retry_after }
            })?;
        }
        Ok(now)
    }

    /// The `pollAfterMs` advice for a token's answer (WAITING and PRE_QUEUE), remembered for
    /// pacing its next poll.
    pub fn advise_poll(&self, claims: &Claims, state: &QueueState, at: Instant) -> Option<u64> {
        let advice = self.queue.poll_after(state, crate::time::unix_millis());
        if let Some(pacer) = &self.poll_pacer {
            match advice {
                Some(advised) => pacer.answered_waiting(claims, at, advised),
                None => pacer.forget(claims),
            }
        }
        advice.map(|a| a.as_millis() as u64)
    }

    pub fn record_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        crate::metrics::record_request(route, status, elapsed);
    }
}
