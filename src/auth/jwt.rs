//! Verifying the platform's user JWTs with `jsonwebtoken`: HS256 with `AUTH_JWT_SECRET`, or
//! RS256 / ES256 with the public key of the JWKS file (`AUTH_JWKS_FILE`) that the token's
//! `kid` names. An HS256 token is only ever checked against the secret and an RS256 / ES256
//! one only against its `kid`'s key of that very algorithm, so a public key can never serve
//! as an HMAC secret (the classic algorithm confusion), and `alg: none` does not parse.
//! `exp` is required (30 s leeway), `iss` and `aud` are checked when configured, and `sub`
//! must be a positive integer written as a string: it is the user id.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::http::MAX_ID;

/// Leeway on `exp` (and `nbf`), for clocks that disagree a little.
pub const LEEWAY_SECS: u64 = 30;

/// Longest JWT looked at; anything longer is refused before it is parsed. Real ones are a
/// few hundred bytes.
pub const MAX_JWT_LEN: usize = 8 * 1024;

/// Shortest `AUTH_JWT_SECRET`: an HS256 key as long as the hash (RFC 7518, 3.2).
pub const MIN_SECRET_LEN: usize = 32;

/// Why a JWT was refused; every one is a 401 UNAUTHENTICATED, told apart only in logs.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is longer than {MAX_JWT_LEN} bytes")]
    TooLong,
    #[error("the token is not a JWT: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("algorithm {0:?} is not accepted here")]
    Algorithm(Algorithm),
    #[error("the token names no key (kid), or one the JWKS does not hold")]
    UnknownKey,
    #[error("verification failed: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("sub must be a positive integer no larger than 2^53 - 1, written as a string")]
    Subject,
}

/// The claims read from a verified token; `exp`, `iss` and `aud` are checked by the
/// validation itself.
#[derive(Deserialize)]
struct UserClaims {
    sub: String,
}

/// One public key of the JWKS, with the one algorithm it verifies.
struct PublicKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The JWT checks of `AUTH_MODE=jwt`, built once at start-up.
pub struct JwtVerifier {
    secret: Option<DecodingKey>,
    keys: HashMap<String, PublicKey>,
    hs256: Validation,
    rs256: Validation,
    es256: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("secret", &self.secret.is_some())
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier with an HS256 `secret`, the RS256 / ES256 keys of a JWKS document, or
    /// both; `issuer` and `audience`, when given, must be in every token.
    pub fn new(
        secret: Option<&[u8]>,
        jwks: Option<&str>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> anyhow::Result<Self> {
        if let Some(secret) = secret {
            if secret.len() < MIN_SECRET_LEN {
                bail!("AUTH_JWT_SECRET must be at least {MIN_SECRET_LEN} bytes");
            }
        }
        let keys = match jwks {
            Some(document) => public_keys(document)?,
            None => HashMap::new(),
        };
        if secret.is_none() && keys.is_empty() {
            bail!("AUTH_MODE=jwt needs AUTH_JWT_SECRET (HS256) or AUTH_JWKS_FILE (RS256/ES256)");
        }
        let validation = |algorithm| {
            let mut v = Validation::new(algorithm);
            v.leeway = LEEWAY_SECS;
            v.validate_exp = true;
            v.validate_nbf = true;
            v.set_required_spec_claims(&["exp", "sub"]);
            match issuer {
                Some(iss) => {
                    v.set_issuer(&[iss]);
                    v.required_spec_claims.insert("iss".into());
                }
                None => v.iss = None,
            }
            match audience {
                Some(aud) => {
                    v.set_audience(&[aud]);
                    v.required_spec_claims.insert("aud".into());
                }
                None => v.validate_aud = false,
            }
            v
        };
        Ok(JwtVerifier {
            secret: secret.map(DecodingKey::from_secret),
            keys,
            hs256: validation(Algorithm::HS256),
            rs256: validation(Algorithm::RS256),
            es256: validation(Algorithm::ES256),
        })
    }

    /// The verifier `AUTH_JWT_SECRET`, `AUTH_JWKS_FILE`, `AUTH_JWT_ISSUER` and
    /// `AUTH_JWT_AUDIENCE` describe.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        let jwks = match &config.auth_jwks_file {
            Some(path) => Some(read_jwks(path)?),
            None => None,
        };
        Self::new(
            config.auth_jwt_secret.as_deref().map(str::as_bytes),
            jwks.as_deref(),
            config.auth_jwt_issuer.as_deref(),
            config.auth_jwt_audience.as_deref(),
        )
    }

    /// The user id of a genuine, unexpired token.
    pub fn verify(&self, token: &str) -> Result<u64, JwtError> {
        if token.len() > MAX_JWT_LEN {
            return Err(JwtError::TooLong);
        }
        let (key, validation) = match (&self.secret, self.keys.is_empty()) {
            // A secret and no JWKS: the one algorithm is HS256, and `decode` refuses a token
            // of any other (or none) after reading its header once; reading it here first
            // as well would only parse it twice.
            (Some(secret), true) => (secret, &self.hs256),
            _ => self.key_named_by(token)?,
        };
        let data = jsonwebtoken::decode::<UserClaims>(token, key, validation)
            .map_err(JwtError::Invalid)?;
        user_id(&data.claims.sub).ok_or(JwtError::Subject)
    }

    /// The key and checks for the algorithm and `kid` that the token's header names.
    fn key_named_by(&self, token: &str) -> Result<(&DecodingKey, &Validation), JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(JwtError::Malformed)?;
        Ok(match header.alg {
            Algorithm::HS256 => (
                self.secret
                    .as_ref()
                    .ok_or(JwtError::Algorithm(header.alg))?,
                &self.hs256,
            ),
            Algorithm::RS256 | Algorithm::ES256 => {
                let key = header
                    .kid
                    .as_deref()
                    .and_then(|kid| self.keys.get(kid))
                    .ok_or(JwtError::UnknownKey)?;
                if key.algorithm != header.alg {
                    return Err(JwtError::Algorithm(header.alg));
                }
                let validation = if header.alg == Algorithm::RS256 {
                    &self.rs256
                } else {
                    &self.es256
                };
                (&key.key, validation)
            }
            other => return Err(JwtError::Algorithm(other)),
        })
    }
}

/// `sub` as a user id: decimal digits without a sign or a leading zero, 1 to 2^53 - 1.
fn user_id(sub: &str) -> Option<u64> {
    if sub.is_empty() || sub.starts_with('0') || !sub.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    sub.parse::<u64>().ok().filter(|id| *id <= MAX_ID)
}

fn read_jwks(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading AUTH_JWKS_FILE {}", path.display()))
}

/// The RS256 and ES256 signing keys of a JWKS document (`{"keys": [...]}`), by `kid`. Keys
/// meant for encryption, of other kinds, or without a `kid` are skipped with a warning; a
/// document with no usable key, or two keys under one `kid`, is refused.
fn public_keys(document: &str) -> anyhow::Result<HashMap<String, PublicKey>> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_str(document).context("AUTH_JWKS_FILE is not a JWKS document")?;
    let mut keys = HashMap::new();
    for raw in document.keys {
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(jwk) => jwk,
            Err(err) => {
                tracing::warn!(error = %err, "AUTH_JWKS_FILE: skipping a key this server cannot read");
                continue;
            }
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!("AUTH_JWKS_FILE: skipping a key without a kid");
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(algorithm) = signing_algorithm(&jwk) else {
            tracing::warn!(%kid, "AUTH_JWKS_FILE: skipping a key that is not RS256 or ES256");
            continue;
        };
        let key = DecodingKey::from_jwk(&jwk)
            .with_context(|| format!("AUTH_JWKS_FILE: the key {kid:?} does not decode"))?;
        if keys
            .insert(kid.clone(), PublicKey { algorithm, key })
            .is_some()
        {
            bail!("AUTH_JWKS_FILE: two keys have the kid {kid:?}");
        }
    }
    if keys.is_empty() {
        bail!("AUTH_JWKS_FILE holds no RS256 or ES256 signing key with a kid");
    }
    Ok(keys)
}

/// The one algorithm a key verifies: its `alg`, or RS256 for an RSA key and ES256 for a
/// P-256 key when it names none. Any other pairing is none.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS256) | None) => Some(Algorithm::RS256),
        (AlgorithmParameters::EllipticCurve(ec), Some(KeyAlgorithm::ES256) | None)
            if ec.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// The claims of a development token (`concert-queue dev-jwt`, tests, benches).
#[derive(Serialize)]
struct DevClaims<'a> {
    sub: String,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// An HS256 token for `user_id` signed with `secret`, expiring at `exp` (Unix seconds):
/// what the platform's login would hand out, for development and tests only.
pub fn sign_hs256(
    secret: &[u8],
    user_id: u64,
    exp: u64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> anyhow::Result<String> {
    let claims = DevClaims {
        sub: user_id.to_string(),
        exp,
        iss: issuer,
        aud: audience,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .context("signing a development JWT")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"unit-test-jwt-secret-of-32-bytes!!";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn verifier(issuer: Option<&str>, audience: Option<&str>) -> JwtVerifier {
        JwtVerifier::new(Some(SECRET), None, issuer, audience).unwrap()
    }

    #[test]
    fn a_signed_token_gives_its_sub() {
        let token = sign_hs256(SECRET, 42, now() + 60, None, None).unwrap();
        assert_eq!(verifier(None, None).verify(&token).unwrap(), 42);
    }

    #[test]
    fn exp_is_required_with_thirty_seconds_of_leeway() {
        let v = verifier(None, None);
        let just_expired = sign_hs256(SECRET, 1, now() - 10, None, None).unwrap();
        assert!(v.verify(&just_expired).is_ok(), "within the leeway");
        let expired = sign_hs256(SECRET, 1, now() - 120, None, None).unwrap();
        assert!(matches!(v.verify(&expired), Err(JwtError::Invalid(_))));
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "1"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(matches!(v.verify(&no_exp), Err(JwtError::Invalid(_))));
    }

    #[test]
    fn iss_and_aud_are_checked_when_configured() {
        let v = verifier(Some("https://login.example"), Some("concert-queue"));
        let right = sign_hs256(
            SECRET,
            7,
            now() + 60,
            Some("https://login.example"),
            Some("concert-queue"),
        )
        .unwrap();
        assert_eq!(v.verify(&right).unwrap(), 7);
        for (iss, aud) in [
            (Some("https://elsewhere"), Some("concert-queue")),
            (Some("https://login.example"), Some("another-app")),
            (None, Some("concert-queue")),
            (Some("https://login.example"), None),
        ] {
            let token = sign_hs256(SECRET, 7, now() + 60, iss, aud).unwrap();
            assert!(v.verify(&token).is_err(), "{iss:?} {aud:?}");
        }
        // Unconfigured, an aud in the token is no reason to refuse it.
        assert!(verifier(None, None).verify(&right).is_ok());
    }

    #[test]
    fn a_secret_only_verifier_refuses_every_other_algorithm() {
        use base64::Engine;
        let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let claims = format!(r#"{{"sub":"5","exp":{}}}"#, now() + 60);
        let v = verifier(None, None);
        let genuine = sign_hs256(SECRET, 5, now() + 60, None, None).unwrap();
        assert_eq!(v.verify(&genuine).unwrap(), 5);
        // The same claims and secret under HS384 / HS512: a valid MAC, the wrong algorithm.
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let other = jsonwebtoken::encode(
                &Header::new(alg),
                &serde_json::json!({"sub": "5", "exp": now() + 60}),
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            assert!(v.verify(&other).is_err(), "{alg:?}");
        }
        // alg none, with and without a signature part; an alg this crate does not know.
        let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&claims));
        assert!(v.verify(&unsigned).is_err());
        let genuine_mac = genuine.rsplit('.').next().unwrap();
        let none_with_mac = format!(
            "{}.{}.{genuine_mac}",
            b64(r#"{"alg":"none"}"#),
            b64(&claims)
        );
        assert!(v.verify(&none_with_mac).is_err());
        let unknown = format!(
            "{}.{}.{genuine_mac}",
            b64(r#"{"alg":"HS999"}"#),
            b64(&claims)
        );
        assert!(v.verify(&unknown).is_err());
        // A forged MAC, a truncated token, and a token in two parts.
        let forged = sign_hs256(
            b"another-secret-of-at-least-32-bytes!",
            5,
            now() + 60,
            None,
            None,
        )
        .unwrap();
        assert!(matches!(v.verify(&forged), Err(JwtError::Invalid(_))));
        assert!(v.verify(&genuine[..genuine.len() - 2]).is_err());
        let (two_parts, _) = genuine.rsplit_once('.').unwrap();
        assert!(v.verify(two_parts).is_err());
    }

    #[test]
    fn subs_must_be_canonical_positive_integers() {
        assert_eq!(user_id("1"), Some(1));
        assert_eq!(user_id("9007199254740991"), Some(MAX_ID));
        for bad in [
            "",
            "0",
            "007",
            "-1",
            "+1",
            "1.5",
            "abc",
            "9007199254740992",
            "1 ",
        ] {
            assert_eq!(user_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn short_secrets_and_empty_key_sets_are_refused() {
        assert!(JwtVerifier::new(Some(b"short"), None, None, None).is_err());
        assert!(JwtVerifier::new(None, None, None, None).is_err());
        assert!(JwtVerifier::new(None, Some(r#"{"keys": []}"#), None, None).is_err());
        assert!(JwtVerifier::new(None, Some("not json"), None, None).is_err());
    }
}
