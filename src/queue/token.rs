//! Queue tokens: HMAC-SHA256 signed claims, verified without touching Redis.
//!
//! Wire form: `v1.<concertId>.<userId>.<seq>.<issuedAt>.<signature>`, where `seq` is the
//! buyer's place in the concert's queue (the Redis clock in microseconds at entry, made
//! unique), `issuedAt` is the same instant in Unix seconds, and the signature is the
//! unpadded base64url HMAC-SHA256 of everything before it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";
/// Longest token we bother to parse; anything longer is refused outright.
const MAX_TOKEN_LEN: usize = 200;

/// What a genuine token says about its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub concert_id: u64,
    pub user_id: u64,
    pub seq: u64,
    pub issued_at: u64,
}

impl Claims {
    /// Claims for a queue entry whose sequence number is the entry time in microseconds.
    pub fn new(concert_id: u64, user_id: u64, seq: u64) -> Self {
        Claims {
            concert_id,
            user_id,
            seq,
            issued_at: seq / 1_000_000,
        }
    }
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    mac: HmacSha256,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        TokenSigner {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    /// The token string for these claims.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = format!(
            "{VERSION}.{}.{}.{}.{}",
            claims.concert_id, claims.user_id, claims.seq, claims.issued_at
        );
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The claims of a genuine token; `None` for anything malformed, forged or tampered.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (payload, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;

        let mut parts = payload.split('.');
        if parts.next()? != VERSION {
            return None;
        }
        let mut number = || parts.next()?.parse::<u64>().ok();
        let claims = Claims {
            concert_id: number()?,
            user_id: number()?,
            seq: number()?,
            issued_at: number()?,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(b"unit-test-secret-of-some-length")
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let claims = Claims::new(3, 42, 1_764_000_000_123_456);
        let token = signer().sign(&claims);
        assert_eq!(signer().verify(&token), Some(claims));
        assert_eq!(claims.issued_at, 1_764_000_000);
    }

    #[test]
    fn tampered_truncated_and_foreign_tokens_are_refused() {
        let token = signer().sign(&Claims::new(3, 42, 1_000_000));
        let tampered = token.replacen("v1.3.42", "v1.3.43", 1);
        assert_eq!(signer().verify(&tampered), None);
        assert_eq!(signer().verify(&token[..token.len() - 1]), None);
        assert_eq!(signer().verify(""), None);
        assert_eq!(signer().verify("v1.3.42.1000000.1"), None);
        let foreign = TokenSigner::new(b"another-secret-entirely").sign(&Claims::new(3, 42, 1));
        assert_eq!(signer().verify(&foreign), None);
        assert_eq!(signer().verify(&"a".repeat(500)), None);
    }
}
