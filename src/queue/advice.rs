//! `pollAfterMs`, the advice every WAITING and PRE_QUEUE answer carries. WAITING: a quarter
//! of the estimated wait, at least 1 s and at most 30 s, and never more than a quarter of the
//! concert's idle timeout, so a client far back polls rarely, one near the head often, and
//! one that follows the advice is never dropped as idle. PRE_QUEUE: a quarter of the time
//! left before `opensAt`, within the same bounds (docs/architecture.md).

use std::time::Duration;

/// The shortest advice (near the head of the line).
pub const MIN_POLL_AFTER: Duration = Duration::from_secs(1);

/// The longest advice (far back in the line, or no estimate).
pub const MAX_POLL_AFTER: Duration = Duration::from_secs(30);

/// The advice for a WAITING token with `estimated_wait_secs` left (`None`: admission is
/// off) in a queue whose idle timeout is `idle_timeout` (zero: never).
pub fn poll_after(estimated_wait_secs: Option<u64>, idle_timeout: Duration) -> Duration {
    let ceiling = if idle_timeout.is_zero() {
        MAX_POLL_AFTER
    } else {
        MAX_POLL_AFTER.min(idle_timeout / 4)
    };
    let floor = MIN_POLL_AFTER.min(ceiling);
    let wanted = match estimated_wait_secs {
        Some(secs) => Duration::from_millis(secs.saturating_mul(250)),
        None => ceiling,
    };
    wanted.clamp(floor, ceiling)
}

/// The advice for a PRE_QUEUE token at `now_ms` when the pre-queue opens at `opens_at_ms`
/// (both Unix ms): a quarter of the time left, between 1 s and 30 s, so polls thin out far
/// ahead and the countdown's last seconds are followed closely.
pub fn poll_before_opening(opens_at_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(opens_at_ms.saturating_sub(now_ms) / 4)
        .clamp(MIN_POLL_AFTER, MAX_POLL_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(120);

    #[test]
    fn longer_far_back_in_the_line() {
        assert_eq!(poll_after(Some(1), IDLE), Duration::from_secs(1));
        assert_eq!(poll_after(Some(20), IDLE), Duration::from_secs(5));
        assert_eq!(poll_after(Some(100_000), IDLE), Duration::from_secs(30));
        assert_eq!(poll_after(None, IDLE), Duration::from_secs(30));
        let mut last = Duration::ZERO;
        for wait in [0, 1, 5, 10, 60, 600, 6000] {
            let advice = poll_after(Some(wait), IDLE);
            assert!(advice >= last, "never shorter further back");
            last = advice;
        }
    }

    #[test]
    fn always_well_inside_the_idle_timeout() {
        for idle in [1, 2, 5, 10, 60, 120, 1800] {
            let idle = Duration::from_secs(idle);
            for wait in [None, Some(0), Some(3), Some(u64::MAX)] {
                assert!(poll_after(wait, idle) <= idle / 4, "{idle:?} {wait:?}");
            }
        }
        assert_eq!(
            poll_after(None, Duration::ZERO),
            MAX_POLL_AFTER,
            "no idle timeout"
        );
    }

    #[test]
    fn before_the_opening_a_quarter_of_the_time_left() {
        let opens = 1_000_000_000;
        assert_eq!(
            poll_before_opening(opens, opens - 20_000),
            Duration::from_secs(5)
        );
        assert_eq!(
            poll_before_opening(opens, opens - 3_600_000),
            MAX_POLL_AFTER
        );
        assert_eq!(poll_before_opening(opens, opens - 1_000), MIN_POLL_AFTER);
        assert_eq!(
            poll_before_opening(opens, opens + 5_000),
            MIN_POLL_AFTER,
            "past opensAt, while the opening runs"
        );
    }
}
