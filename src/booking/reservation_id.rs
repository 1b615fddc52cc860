//! Reservation ids: `R<concertId>-<n>`, so a reservation's concert (and thus its keys) is
//! found from the id alone; payment ids are `P<concertId>-<n>` for the same reservation.

/// The concert a reservation id belongs to, or `None` when the id is not one of ours.
pub fn concert_of(reservation_id: &str) -> Option<u64> {
    if reservation_id.len() > 40 {
        return None;
    }
    let (concert, n) = reservation_id.strip_prefix('R')?.split_once('-')?;
    let concert = positive(concert)?;
    positive(n)?;
    Some(concert)
}

fn positive(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=crate::http::MAX_ID).contains(n))
}

#[cfg(test)]
mod tests {
    use super::concert_of;

    #[test]
    fn the_concert_is_read_from_the_id() {
        assert_eq!(concert_of("R7-1"), Some(7));
        assert_eq!(concert_of("R12-345"), Some(12));
    }

    #[test]
    fn anything_else_is_not_a_reservation_id() {
        for bad in [
            "",
            "R",
            "R7",
            "R7-",
            "R-1",
            "7-1",
            "R07-1",
            "R7-01",
            "R0-1",
            "R7-x",
            "R7-1-2",
            "r7-1",
            "R+7-1",
            "R99999999999999999999-1",
        ] {
            assert_eq!(concert_of(bad), None, "{bad}");
        }
    }
}
