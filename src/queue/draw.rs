//! The pre-queue's draw: a seed of 32 bytes from the operating system's RNG, drawn when a
//! pre-queue starts and kept in the concert's `q:life` hash; its SHA-256 commitment,
//! published at once; and each buyer's place, the HMAC-SHA256 of their user id (decimal
//! ASCII) keyed by the seed, compared as bytes. The server holds no secret here: anyone
//! with the seed (revealed at the opening) recomputes every HMAC, which is what
//! `concert-queue verify-fairness` does.

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// The `q:life` fields of the draw, as lua/configure_queue.lua writes them.
pub const EPOCH_FIELD: &str = "epoch";
pub const SEED_FIELD: &str = "seed";
pub const COMMITMENT_FIELD: &str = "commitment";
pub const OPENED_AT_FIELD: &str = "openedAt";
pub const SIZE_FIELD: &str = "size";

/// A pre-queue's seed with the epoch it belongs to (the seq of its tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draw {
    pub epoch: String,
    pub seed: [u8; 32],
}

impl Draw {
    /// The buyer's HMAC under this draw, lowercase hex (what the pre-queue is sorted by).
    pub fn place_of(&self, user_id: u64) -> String {
        hex(&place(&self.seed, user_id))
    }
}

/// 32 bytes from the operating system's RNG.
pub fn new_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|err| anyhow::anyhow!("reading the operating system's RNG: {err}"))?;
    Ok(seed)
}

/// SHA-256 of the seed's 32 bytes: the commitment published before the opening.
pub fn commitment(seed: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// HMAC-SHA256(key = the seed's 32 bytes, message = the user id in decimal ASCII).
pub fn place(seed: &[u8; 32], user_id: u64) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed).expect("HMAC takes any key length");
    mac.update(user_id.to_string().as_bytes());
    mac.finalize().into_bytes().into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The 32 bytes of a 64-character hex string (either case); `None` for anything else.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commitment_is_the_sha256_of_the_seed_bytes() {
        // SHA-256 of 32 zero bytes, a published test value.
        assert_eq!(
            hex(&commitment(&[0u8; 32])),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn a_place_is_the_hmac_of_the_decimal_user_id() {
        // RFC 4231-style check computed independently: HMAC-SHA256(key = 32 x 0x0b, "42").
        let seed = [0x0bu8; 32];
        let by_hand = {
            let mut mac = Hmac::<Sha256>::new_from_slice(&seed).unwrap();
            mac.update(b"42");
            hex(&mac.finalize().into_bytes())
        };
        assert_eq!(hex(&place(&seed, 42)), by_hand);
        assert_ne!(place(&seed, 42), place(&seed, 43));
        let draw = Draw {
            epoch: "1".into(),
            seed,
        };
        assert_eq!(draw.place_of(42), by_hand);
        assert_eq!(draw.place_of(42).len(), 64);
    }

    #[test]
    fn hex_round_trips_and_bad_hex_is_refused() {
        let seed = new_seed().unwrap();
        assert_eq!(parse_hex32(&hex(&seed)), Some(seed));
        assert_ne!(new_seed().unwrap(), seed, "two draws differ");
        assert_eq!(parse_hex32("00"), None);
        assert_eq!(parse_hex32(&"zz".repeat(32)), None);
        assert_eq!(
            hex(&[0x00, 0x0f, 0xa0, 0xff]),
            "000fa0ff",
            "lowercase, two digits a byte"
        );
    }
}
