//! The Redis side of the engine: one connection handle (a self-reconnecting multiplexed
//! connection, a bb8 pool, or a Redis Cluster connection), the scripts, and the key
//! layout, with every round trip bounded by a timeout so a Redis outage becomes a fast 503,
//! never a hang.

mod cluster;
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
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{FromRedisValue, RedisError, Value};

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
    /// Redis Cluster (`REDIS_CLUSTER_NODES`): the client follows MOVED and ASK itself and
    /// routes each command, and each EVALSHA, by its first key; made afresh when it stalls.
    Cluster(Arc<cluster::Cluster>),
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
            Connection::Cluster(cluster) => {
                let $conn = &mut cluster.connection();
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

    /// Connects to a Redis Cluster through any of its `nodes` (`host:port`), lazily as
    /// [`Store::connect`] does: the client learns the slots from the first node that
    /// answers and keeps them current.
    pub fn connect_cluster(
        nodes: &crate::config::ClusterNodes,
        prefix: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.urls())
            .retries(2)
            .max_retry_wait(500)
            .build()
            .with_context(|| format!("parsing REDIS_CLUSTER_NODES {nodes}"))?;
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Store {
            connection: Connection::Cluster(Arc::new(cluster::Cluster::connect(
                client,
                config,
                cluster::stall_after(timeout),
            ))),
            scripts: Arc::new(Scripts::load()),
            keys: Keys::new(prefix),
            timeout,
        })
    }

    /// Connects with the settings of `config`: the cluster of `REDIS_CLUSTER_NODES` when
    /// set, else `REDIS_URL` (prefix, timeout and pool size from `config` too).
    pub async fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        if let Some(nodes) = &config.redis_cluster_nodes {
            return Self::connect_cluster(nodes, &config.key_prefix, config.redis_timeout);
        }
        Self::connect(
            &config.redis_url,
            &config.key_prefix,
            config.redis_timeout,
            config.redis_pool_size,
        )
        .await
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
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
        if let Connection::Cluster(cluster) = &self.connection {
            match &outcome {
                // No answer from Redis (a timeout, a lost connection): the client may be stuck.
                Err(StoreError::Unavailable(_)) => {
                    cluster.no_answer();
                }
                _ => cluster.answered(),
            }
        }
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
        if self.is_cluster() {
            return self.invoke_concurrently(invocations).await;
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

    /// [`Store::invoke_pipelined`] on a Redis Cluster, where one pipeline cannot span the
    /// slots of several concerts: every call at once (the cluster client writes those for
    /// one node together), each reloading its script on NOSCRIPT. The call as a whole
    /// fails, as a failed pipeline does, only when every one failed for want of Redis.
    async fn invoke_concurrently<T: FromRedisValue>(
        &self,
        invocations: &[redis::ScriptInvocation<'_>],
    ) -> Result<Vec<Result<T, StoreError>>, StoreError> {
        let answers =
            futures::future::join_all(invocations.iter().map(|one| self.invoke::<T>(one))).await;
        match answers
            .iter()
            .all(|a| matches!(a, Err(e) if e.is_transient()))
        {
            true => Err(answers
                .into_iter()
                .find_map(Result::err)
                .expect("not empty")),
            false => Ok(answers),
        }
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

    /// Runs each of `cmds` (commands on keys of any slots) and answers theirs in order: one
    /// pipeline on a single Redis, every command at once on a Redis Cluster.
    pub async fn query_each<T: FromRedisValue>(
        &self,
        cmds: Vec<redis::Cmd>,
    ) -> Result<Vec<T>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_cluster() {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            return self.pipeline(&pipe).await;
        }
        futures::future::try_join_all(cmds.iter().map(|cmd| self.query::<T>(cmd))).await
    }

    /// Runs every one of `cmds` (writes on keys of any slots), their answers ignored: one
    /// pipeline on a single Redis, on a Redis Cluster a few hundred commands at once.
    pub async fn write_all(&self, cmds: Vec<redis::Cmd>) -> Result<(), StoreError> {
        if cmds.is_empty() {
            return Ok(());
        }
        if !self.is_cluster() {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd).ignore();
            }
            return self.pipeline(&pipe).await;
        }
        for chunk in cmds.chunks(256) {
            futures::future::try_join_all(chunk.iter().map(|cmd| self.query::<Value>(cmd))).await?;
        }
        Ok(())
    }

    /// Runs `cmd` on one node picked by `routing` (a Redis Cluster only).
    async fn query_routed<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        routing: RoutingInfo,
    ) -> Result<T, StoreError> {
        let Connection::Cluster(cluster) = &self.connection else {
            return self.query(cmd).await;
        };
        let value = self
            .bounded(cluster.connection().route_command(cmd.clone(), routing))
            .await?;
        T::from_redis_value(value)
            .map_err(|err| StoreError::bug(anyhow::Error::new(err).context("reading a reply")))
    }

    /// PING, for health checks (on a Redis Cluster, of any one node).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self
            .query_routed(
                &redis::cmd("PING"),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        Ok(())
    }

    /// Every key matching `pattern`, by SCAN (of every master, on a Redis Cluster).
    pub async fn scan_keys(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        let nodes = match self.is_cluster() {
            true => self
                .masters()
                .await?
                .into_iter()
                .map(|(host, port)| {
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port })
                })
                .map(Some)
                .collect(),
            false => vec![None],
        };
        let mut found = Vec::new();
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let (next, keys): (u64, Vec<String>) = match &node {
                    Some(routing) => self.query_routed(&scan, routing.clone()).await?,
                    None => self.query(&scan).await?,
                };
                found.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(found)
    }

    /// The address of every master of the cluster (`CLUSTER SLOTS`, asked of any node).
    async fn masters(&self) -> Result<Vec<(String, u16)>, StoreError> {
        let slots: Vec<Value> = self
            .query_routed(
                redis::cmd("CLUSTER").arg("SLOTS"),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut masters = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], replicas...]
            let master = match range {
                Value::Array(mut parts) if parts.len() >= 3 => parts.swap_remove(2),
                other => return Err(StoreError::unexpected("CLUSTER SLOTS", &other)),
            };
            let (host, port) = match master {
                Value::Array(node) if node.len() >= 2 => {
                    let host: String = FromRedisValue::from_redis_value(node[0].clone())
                        .map_err(|_| StoreError::unexpected("CLUSTER SLOTS", &node))?;
                    let port: u16 = FromRedisValue::from_redis_value(node[1].clone())
                        .map_err(|_| StoreError::unexpected("CLUSTER SLOTS", &node))?;
                    (host, port)
                }
                other => return Err(StoreError::unexpected("CLUSTER SLOTS", &other)),
            };
            if !masters.contains(&(host.clone(), port)) {
                masters.push((host, port));
            }
        }
        Ok(masters)
    }

    /// Every concert id (the set `seed` fills): what the background loops visit.
    pub async fn concert_ids(&self) -> Result<Vec<u64>, StoreError> {
        self.query(redis::cmd("SMEMBERS").arg(self.keys.concerts()))
            .await
    }

    /// The Redis clock in milliseconds since the epoch (`TIME`): the clock every script
    /// uses, so tools compare against it rather than against their own host's (on a Redis
    /// Cluster, any node's: the cluster client routes TIME to one at random).
    pub async fn now_ms(&self) -> Result<u64, StoreError> {
        let (secs, micros): (u64, u64) = self.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000)
    }
}

fn is_noscript(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}
