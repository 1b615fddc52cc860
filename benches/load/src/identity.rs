//! Users as a `jwt`-mode server knows them: with `--jwt-secret`, every request that names a
//! user (joining a queue, charging a wallet) carries an HS256 JWT for that user, minted here
//! as the platform's login would (development tokens, an hour long). Without it, requests
//! go as in `none` mode.

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::client::Call;

struct Minter {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

static MINTER: OnceLock<Minter> = OnceLock::new();

/// Signs users in for the whole run with `secret` (and `iss` / `aud` when the server wants
/// them). Call once, before the run.
pub fn sign_in_with(secret: &str, issuer: Option<String>, audience: Option<String>) {
    let _ = MINTER.set(Minter {
        key: EncodingKey::from_secret(secret.as_bytes()),
        issuer,
        audience,
    });
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: String,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// A JWT for `user_id`, when the run signs users in.
pub fn jwt_for(user_id: u64) -> Option<String> {
    let minter = MINTER.get()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let claims = Claims {
        sub: user_id.to_string(),
        exp: now + 3600,
        iss: minter.issuer.as_deref(),
        aud: minter.audience.as_deref(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &minter.key).ok()
}

/// `call` carrying `user_id`'s JWT when the run signs users in; unchanged otherwise.
pub fn signed_in(call: Call<'static>, user_id: u64) -> Call<'static> {
    match jwt_for(user_id) {
        Some(jwt) => call.with_owned_bearer(jwt),
        None => call,
    }
}
