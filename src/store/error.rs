//! What a Redis round trip can end in, split by fault: Redis out of reach, Redis refusing
//! work for now, an error reply with a code (a script's domain refusal or a command's), or
//! an answer the engine did not expect (a bug). The layers above map the codes they know to
//! their own errors; only http/error.rs chooses statuses.

use std::sync::Arc;

use redis::RedisError;

/// The codes of error replies by which a reachable Redis refuses work for a while: out of
/// memory, loading its dataset, a demoted master, a script running too long, a cluster
/// without its master, a slot moving, a disk it cannot write. Retrying later may succeed.
const REFUSAL_CODES: &[&str] = &[
    "OOM",
    "LOADING",
    "READONLY",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "NOREPLICAS",
    "MISCONF",
    // A MULTI/EXEC the engine sends is fixed code its tests run, so an aborted one means
    // Redis refused a queued command (`OOM` refuses even TIME then): the same refusal.
    "EXECABORT",
];

/// Whether an error reply's code is a refusal for now (out of memory, loading, ...).
pub(crate) fn is_refusal(code: &str) -> bool {
    REFUSAL_CODES.contains(&code)
}

/// The failure of one Redis round trip.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached, dropped the connection or did not answer in time.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered but refuses work for now (`OOM`, `LOADING`, `READONLY`, ...).
    #[error("redis refused the command: {code}")]
    Refused { code: String },
    /// An error reply with a code: a script's refusal (`SEAT_UNAVAILABLE seat is held`)
    /// or a command's (`BUSYGROUP`, `NOSCRIPT`, `WRONGTYPE`).
    #[error("{code} {detail}")]
    Code { code: String, detail: String },
    /// An answer the engine did not expect; logged, never shown to a client.
    #[error("{0:#}")]
    Bug(Arc<anyhow::Error>),
}

impl StoreError {
    /// A script answered something its caller cannot read.
    pub fn unexpected<T: std::fmt::Debug>(script: &str, reply: &T) -> StoreError {
        StoreError::bug(anyhow::anyhow!(
            "{script}.lua returned an unexpected reply: {reply:?}"
        ))
    }

    pub fn bug(err: anyhow::Error) -> StoreError {
        StoreError::Bug(Arc::new(err))
    }

    /// The code of an error reply (`Code`), if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Code { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed (Redis away or refusing for now).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Refused { .. }
        )
    }
}

impl From<RedisError> for StoreError {
    fn from(err: RedisError) -> Self {
        if let Some(code) = err.code() {
            if is_refusal(code) {
                return StoreError::Refused {
                    code: code.to_string(),
                };
            }
            return StoreError::Code {
                code: code.to_string(),
                detail: err.detail().unwrap_or_default().to_string(),
            };
        }
        if err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_timeout()
            || err.is_unrecoverable_error()
        {
            return StoreError::Unavailable(err.to_string());
        }
        StoreError::bug(anyhow::Error::new(err).context("redis command failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error reply as the parser builds one from the wire (`-CODE detail`).
    fn reply(text: &str) -> StoreError {
        let (code, detail) = text.split_once(' ').unwrap_or((text, ""));
        StoreError::from(redis::make_extension_error(
            code.to_string(),
            Some(detail.to_string()),
        ))
    }

    #[test]
    fn refusals_are_told_from_codes() {
        for code in REFUSAL_CODES {
            assert!(
                matches!(reply(&format!("{code} busy now")), StoreError::Refused { code: c } if c == *code),
                "{code}"
            );
        }
        match reply("SEAT_UNAVAILABLE seat is held") {
            StoreError::Code { code, detail } => {
                assert_eq!(code, "SEAT_UNAVAILABLE");
                assert_eq!(detail, "seat is held");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(reply("BUSYGROUP exists").code(), Some("BUSYGROUP"));
    }

    #[test]
    fn io_failures_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            StoreError::from(RedisError::from(io)),
            StoreError::Unavailable(_)
        ));
    }
}
