//! Time for the API: RFC 3339 UTC strings, and the server's clock in Unix ms.

use chrono::{DateTime, SecondsFormat, Utc};

/// The server's clock now, in ms since the epoch.
pub fn unix_millis() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// `ms` since the epoch as an RFC 3339 UTC string with milliseconds.
pub fn rfc3339_millis(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(super::rfc3339_millis(1_000), "1970-01-01T00:00:01.000Z");
    }
}
