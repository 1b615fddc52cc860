//! The Redis side of the engine: one connection handle (a self-reconnecting multiplexed
//! connection, or a bb8 pool), the scripts, and the key layout, with every round trip
//! bounded by a timeout so a Redis outage becomes a fast 503, never a hang.

pub mod error;
pub mod fanout;
pub mod keys;
pub mod line;
mod pool;
pub mod presence;
pub mod scripts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError};

pub use error::StoreError;
pub use fanout::Fanout;
pub use keys::{
    ChargeKeys, HoldKeys, Keys, PaymentKeys, QueueKeys, ScheduleKeys, SeatCountKeys, SeatMapKeys,
};
pub use scripts::Scripts;

#[derive(Clone)]
enum Connection {
    Multiplexed(ConnectionManager),
    Pool(bb8::Pool<pool::Manager>),
}

/// A cheap-to-clone handle on Redis: connection, scripts and keys.
#[derive(Clone)]
pub struct Store {
    connection: Connection,
    pub scripts: Arc<Scripts>,
    pub keys: Keys,
    timeout: Duration,
}

/// Runs `$body` with `$conn` bound to a `&mut` connection of either kind.
macro_rules! with_connection {
    ($store:expr, $conn:ident => $body:expr) => {
        match &$store.connection {
            Connection::Multiplexed(manager) => {
                let $conn = &mut manager.clone();
                $body.await
            }
            Connection::Pool(pool) => match pool.get().await {
                Ok(mut pooled) => {
                    let $conn = &mut *pooled;
                    $body.await
                }
                Err(bb8::RunError::User(err)) => Err(err),
                Err(bb8::RunError::TimedOut) => Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out waiting for a pooled redis connection",
                ))),
            },
        }
    };
}

impl Store {
    /// Connects lazily: the server starts even while Redis is down and recovers when it
    /// returns. `pool_size` 0 selects the single multiplexed connection.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        pool_size: u32,
    ) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).with_context(|| format!("parsing REDIS_URL {url}"))?;
        let connection = if pool_size == 0 {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            Connection::Multiplexed(
                ConnectionManager::new_lazy_with_config(client, config)
                    .context("creating the redis connection manager")?,
            )
        } else {
            let manager = pool::Manager::new(url).context("parsing REDIS_URL")?;
            Connection::Pool(
                bb8::Pool::builder()
                    .max_size(pool_size)
                    .connection_timeout(timeout)
                    .build_unchecked(manager),
            )
        };
        Ok(Store {
            connection,
            scripts: Arc::new(Scripts::load()),
            keys: Keys::new(prefix),
            timeout,
        })
    }

    /// Connects with the settings of `config` (URL, prefix, timeout, pool size).
    pub async fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        Self::connect(
            &config.redis_url,
            &config.key_prefix,
            config.redis_timeout,
            config.redis_pool_size,
        )
        .await
    }

    /// Bounds one Redis round trip by the configured timeout.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let outcome = match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        if let Err(err) = &outcome {
            if err.is_transient() {
                tracing::warn!(error = %err, "redis unavailable");
            }
        }
        outcome
    }

    /// Runs one script by EVALSHA (reloading it on NOSCRIPT).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.bounded(async { with_connection!(self, conn => invocation.invoke_async(conn)) })
            .await
    }

    /// Runs independent scripts in one explicit pipeline (one write, one round trip), each
    /// by EVALSHA with an answer of its own: one script's error does not fail the others.
    /// Those answered NOSCRIPT (a restarted or flushed Redis) have their script loaded and
    /// run once more, as `invoke` does for one call (one load per distinct script). An
    /// error of the pipeline itself (Redis down, timeout) fails the whole call.
    pub async fn invoke_pipelined<T: FromRedisValue>(
        &self,
        invocations: &[redis::ScriptInvocation<'_>],
    ) -> Result<Vec<Result<T, StoreError>>, StoreError> {
        if invocations.is_empty() {
            return Ok(Vec::new()); // an empty pipeline is an error to Redis ("empty command")
        }
        let mut answers = self.run_pipelined::<T>(invocations.iter()).await?;
        loop {
            let missing: Vec<usize> = (0..answers.len())
                .filter(|&i| matches!(&answers[i], Err(e) if is_noscript(e)))
                .collect();
            let Some(&first) = missing.first() else { break };
            let invocation = &invocations[first];
            let _: String = self
                .bounded(async { with_connection!(self, conn => invocation.load_async(conn)) })
                .await?;
            let retried = self
                .run_pipelined::<T>(missing.iter().map(|&i| &invocations[i]))
                .await?;
            for (&i, answer) in missing.iter().zip(retried) {
                answers[i] = answer;
            }
            if matches!(&answers[first], Err(e) if is_noscript(e)) {
                break; // flushed again at once: answer NOSCRIPT rather than loop
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.map_err(StoreError::from))
            .collect())
    }

    /// One pipeline of EVALSHAs, every answer kept (errors included).
    async fn run_pipelined<'a, 'b: 'a, T: FromRedisValue>(
        &self,
        invocations: impl Iterator<Item = &'a redis::ScriptInvocation<'b>>,
    ) -> Result<Vec<Result<T, RedisError>>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for invocation in invocations {
            pipe.invoke_script(invocation);
        }
        self.pipeline(&pipe).await
    }

    /// Runs one plain command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.bounded(async { with_connection!(self, conn => cmd.query_async(conn)) })
            .await
    }

    /// Runs a pipeline in one round trip.
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        self.bounded(async { with_connection!(self, conn => pipe.query_async(conn)) })
            .await
    }

    /// PING, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Every concert id (the set `seed` fills): what the background loops visit.
    pub async fn concert_ids(&self) -> Result<Vec<u64>, StoreError> {
        self.query(redis::cmd("SMEMBERS").arg(self.keys.concerts()))
            .await
    }

    /// The Redis clock in milliseconds since the epoch (`TIME`): the clock every script
    /// uses, so tools compare against it rather than against their own host's.
    pub async fn now_ms(&self) -> Result<u64, StoreError> {
        let (secs, micros): (u64, u64) = self.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000)
    }
}

fn is_noscript(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}
