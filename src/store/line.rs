//! The waiting line's score layout, the Rust mirror of lua/lib/queue.lua: one sorted-set
//! entry per waiting buyer whose score packs its seq (as an offset from the line's base)
//! with the second of its latest sign of life. Tools and benches that write the line
//! directly use it.

/// Presence slots per score (2^12): the second of the latest sign of life, kept modulo
/// this (68 minutes).
pub const LINE_SLOTS: u64 = 1 << 12;

/// The length of one presence slot.
pub const SLOT_MS: u64 = 1000;

/// Offsets (seq minus the line's base, in microseconds) stay below this (2^41, 25 days).
pub const MAX_OFFSET: u64 = 1 << 41;

/// The presence slot of the instant `now_ms` (milliseconds since the epoch).
pub fn presence_slot(now_ms: u64) -> u64 {
    (now_ms / SLOT_MS) % LINE_SLOTS
}

/// The score of the entry at `offset` from the line's base, last seen in `slot`.
pub fn score(offset: u64, slot: u64) -> u64 {
    debug_assert!(offset < MAX_OFFSET && slot < LINE_SLOTS);
    offset * LINE_SLOTS + slot
}

/// The offset a score carries.
pub fn offset(score: u64) -> u64 {
    score / LINE_SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_keeps_arrival_order_whatever_the_presence_slot() {
        let earlier_seen_late = score(41, LINE_SLOTS - 1);
        let later_seen_early = score(42, 0);
        assert!(earlier_seen_late < later_seen_early);
        assert_eq!(offset(earlier_seen_late), 41);
        assert_eq!(offset(later_seen_early), 42);
    }

    #[test]
    fn scores_of_a_line_25_days_long_stay_exact_in_a_double() {
        let highest = score(MAX_OFFSET - 1, LINE_SLOTS - 1);
        assert!(highest < 1 << 53);
        assert_eq!(highest as f64 as u64, highest);
        assert_eq!(MAX_OFFSET / 1_000_000 / 86_400, 25);
    }

    #[test]
    fn the_presence_slot_is_the_second_modulo_68_minutes() {
        let wrap_ms = LINE_SLOTS * SLOT_MS;
        assert_eq!(wrap_ms / 60_000, 68);
        assert_eq!(presence_slot(1_000), presence_slot(1_000 + wrap_ms));
        assert_eq!(presence_slot(10_999), 10);
    }
}
