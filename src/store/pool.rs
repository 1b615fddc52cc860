//! The pool's connections (`REDIS_POOL_SIZE` above 0): bb8-redis's manager, except that a
//! connection whose PING a reachable Redis refuses for now (`LOADING` while it reads its
//! dataset, `BUSY` under a long script) counts as valid. The connection works; Redis does
//! not serve yet. Kept, it carries the request to Redis, whose refusal answers 503 at once;
//! dropped (bb8-redis's check), the pool would dial a new connection, PING it, drop it
//! again, and so on until the request's timeout: a connection storm on a Redis that is
//! busy enough already, and every request as slow as `REDIS_TIMEOUT_MS`.

use bb8::ManageConnection;
use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
use redis::RedisError;

/// bb8-redis's connection manager with a refusal-tolerant validity check.
#[derive(Clone, Debug)]
pub struct Manager(RedisConnectionManager);

impl Manager {
    pub fn new(url: &str) -> Result<Manager, RedisError> {
        RedisConnectionManager::new(url).map(Manager)
    }
}

impl ManageConnection for Manager {
    type Connection = MultiplexedConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        self.0.connect().await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        usable(self.0.is_valid(conn).await)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.0.has_broken(conn)
    }
}

/// A PING's outcome as the pool should read it: a refusal of a reachable Redis
/// ([`super::error::is_refusal`]) leaves the connection usable; anything else is as it is.
fn usable(ping: Result<(), RedisError>) -> Result<(), RedisError> {
    match ping {
        Err(err) if err.code().is_some_and(super::error::is_refusal) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: &str) -> RedisError {
        redis::make_extension_error(code.to_string(), Some("for now".to_string()))
    }

    #[test]
    fn a_refused_ping_keeps_the_connection_and_a_dead_one_does_not() {
        assert!(usable(Ok(())).is_ok());
        assert!(usable(Err(reply("LOADING"))).is_ok());
        assert!(usable(Err(reply("BUSY"))).is_ok());
        assert!(usable(Err(reply("WRONGTYPE"))).is_err());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(usable(Err(RedisError::from(io))).is_err());
    }
}
