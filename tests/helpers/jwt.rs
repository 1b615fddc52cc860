//! User JWTs for the `AUTH_MODE=jwt` tests: the test-only keys under tests/helpers/keys/,
//! a JWKS file made from them, and tokens signed by each algorithm (or forged on purpose).

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::TestServer;

/// The HS256 secret of jwt-mode test servers.
pub const SECRET: &str = "integration-test-jwt-secret-of-32-bytes-at-least";
/// The `iss` and `aud` jwt-mode test servers require.
pub const ISSUER: &str = "https://login.test";
pub const AUDIENCE: &str = "concert-queue";

/// A test-only key file's text.
pub fn key_file(name: &str) -> String {
    let path = format!("{}/tests/helpers/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The signing keys by kid: `rsa-1` (RS256), `ec-1` and `ec-2` (ES256, `ec-2` the key
/// rotated in).
pub fn signing_key(kid: &str) -> (Algorithm, EncodingKey) {
    match kid {
        "rsa-1" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(key_file("rs256-private.pem").as_bytes()).unwrap(),
        ),
        "ec-1" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(key_file("es256-private.pem").as_bytes()).unwrap(),
        ),
        "ec-2" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(key_file("es256-next-private.pem").as_bytes()).unwrap(),
        ),
        other => panic!("no test key {other}"),
    }
}

/// A JWKS document with the public halves of `kids`.
pub fn jwks(kids: &[&str]) -> String {
    let keys = kids
        .iter()
        .map(|kid| {
            let (alg, key) = signing_key(kid);
            let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
            jwk.common.key_id = Some(kid.to_string());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

/// A JWKS file under the system's temp directory, deleted on drop.
pub struct JwksFile(pub PathBuf);

impl JwksFile {
    pub fn new(name: &str, kids: &[&str]) -> JwksFile {
        let path = std::env::temp_dir().join(format!("{}.jwks.json", super::unique_prefix(name)));
        std::fs::write(&path, jwks(kids)).unwrap();
        JwksFile(path)
    }
}

impl Drop for JwksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Now, in Unix seconds, from the system clock (JWT `exp` is wall-clock time).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `sub`, expiring in an hour.
pub fn claims(sub: impl Into<Value>) -> Value {
    json!({"sub": sub.into(), "exp": now() + 3600, "iss": ISSUER, "aud": AUDIENCE})
}

/// `claims` signed with the HS256 secret.
pub fn hs256(claims: &Value) -> String {
    hs256_with(SECRET.as_bytes(), None, claims)
}

/// `claims` signed with HMAC-SHA256 under `secret`, the header naming `kid` if given.
pub fn hs256_with(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// `claims` signed with the test key `kid`, the header naming it.
pub fn signed_by(kid: &str, claims: &Value) -> String {
    let (alg, key) = signing_key(kid);
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A token with this exact header and claims and a made-up signature.
pub fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// A jwt-mode server with the HS256 secret and a JWKS of `rsa-1`, `ec-1` and `ec-2`,
/// requiring `iss` and `aud`; the JWKS file lives as long as the returned guard.
pub async fn jwt_server(
    name: &str,
    customize: impl FnOnce(&mut concert_queue::Config),
) -> (TestServer, JwksFile) {
    let jwks = JwksFile::new(name, &["rsa-1", "ec-1", "ec-2"]);
    let path = jwks.0.clone();
    let server = TestServer::start(name, |c| {
        c.auth_mode = Some(concert_queue::auth::AuthMode::Jwt);
        c.auth_jwt_secret = Some(SECRET.into());
        c.auth_jwks_file = Some(path);
        c.auth_jwt_issuer = Some(ISSUER.into());
        c.auth_jwt_audience = Some(AUDIENCE.into());
        customize(c);
    })
    .await;
    (server, jwks)
}

impl TestServer {
    /// `POST /api/queue/token` with a user JWT and this body.
    pub async fn join_as(&self, jwt: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/queue/token",
            Some(jwt),
            Some(body),
        )
        .await
    }
}
