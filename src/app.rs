//! The application state shared by every request: configuration, Redis, the queue,
//! booking, the cached catalog, the token issuance limiter and the metrics handle.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::booking::{Booking, BookingSettings};
use crate::catalog::CatalogCache;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::queue::{Queue, QueueSettings, TokenSigner};
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub queue: Queue,
    pub booking: Booking,
    pub catalog: CatalogCache,
    token_limiter: Option<DefaultDirectRateLimiter>,
    pub metrics: PrometheusHandle,
    /// The CORS policy (`CORS_ALLOWED_ORIGINS`); `None` allows no other origin.
    pub cors: Option<tower_http::cors::CorsLayer>,
}

impl App {
    /// Builds the state; connects to Redis and MySQL lazily, so an outage of either does not
    /// stop start-up.
    pub async fn build(config: Config) -> anyhow::Result<Arc<App>> {
        config.validate()?;
        let store = Store::from_config(&config).await?;
        let queue = Queue::new(
            store.clone(),
            TokenSigner::new(config.token_secret.as_bytes()),
            QueueSettings::from_config(&config),
        );
        let booking = Booking::new(store.clone(), BookingSettings::from_config(&config));
        let catalog = CatalogCache::new(&config.mysql_url, config.mysql_timeout)?;
        let token_limiter = NonZeroU32::new(config.token_rate_limit_per_sec)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        let cors = crate::http::service::cors_policy(&config.cors_allowed_origins)?;
        Ok(Arc::new(App {
            cors,
            config,
            store,
            queue,
            booking,
            catalog,
            token_limiter,
            metrics: crate::metrics::handle(),
        }))
    }

    /// 429 with a Retry-After when token issuance is over its rate.
    pub fn check_token_rate_limit(&self) -> Result<(), ApiError> {
        let Some(limiter) = &self.token_limiter else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            metrics::counter!("rate_limited_total", "route" => "POST /api/queue/token")
                .increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    pub fn record_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        crate::metrics::record_request(route, status, elapsed);
    }
}
