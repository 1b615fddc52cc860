//! Reading requests: capped bodies, JSON decoding, the bearer queue token, the caller's
//! verified identity and the key of its budget.

use std::net::IpAddr;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH};
use hyper::Request;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::config::MAX_BODY_BYTES;
use crate::http::error::ApiError;
use crate::http::service::ReadDeadline;
use crate::limits::{client_ip, ClientKey, PeerAddr};
use crate::queue::{Claims, TokenSigner};

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413, and a body still
/// arriving at the request's [`ReadDeadline`] with 408 (the connection is then closed).
pub async fn body_bytes(req: Request<Incoming>) -> Result<bytes::Bytes, ApiError> {
    let deadline = req.extensions().get::<ReadDeadline>().copied();
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let collecting = Limited::new(req.into_body(), MAX_BODY_BYTES).collect();
    let collected = match deadline {
        Some(ReadDeadline(at)) => tokio::time::timeout_at(at, collecting)
            .await
            .map_err(|_| ApiError::RequestTimeout)?,
        None => collecting.await,
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES))
        }
        Err(_) => Err(ApiError::BadRequest(
            "could not read the request body".into(),
        )),
    }
}

/// Decodes a JSON object body into `T`; malformed JSON, a non-object, missing or
/// mistyped fields give 400.
pub async fn json_body<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let bytes = body_bytes(req).await?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
}

/// The credential of an `Authorization: Bearer` header, if the request carries one.
fn bearer<B>(req: &Request<B>) -> Option<&str> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

/// The verified claims of the `Authorization: Bearer` queue token, or 401 INVALID_TOKEN.
pub fn bearer_claims<B>(req: &Request<B>, signer: &TokenSigner) -> Result<Claims, ApiError> {
    bearer(req)
        .and_then(|token| signer.verify(token))
        .ok_or(ApiError::InvalidToken)
}

/// Who the caller is: in `AUTH_MODE=jwt` the `sub` of the `Authorization: Bearer` JWT (401
/// UNAUTHENTICATED when it is missing, malformed, forged or expired); in `none`, nobody in
/// particular (the body or the path says who the user is).
pub fn caller<B>(app: &App, req: &Request<B>) -> Result<Option<u64>, ApiError> {
    let Some(verifier) = app.jwt() else {
        return Ok(None);
    };
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    match verifier.verify(token) {
        Ok(user_id) => Ok(Some(user_id)),
        Err(err) => {
            tracing::debug!(error = %err, "user JWT refused");
            Err(ApiError::Unauthenticated)
        }
    }
}

/// The user a request acts for when its path names `user_id`: 403 FORBIDDEN when a
/// verified caller is someone else.
pub fn acting_as<B>(app: &App, req: &Request<B>, user_id: u64) -> Result<u64, ApiError> {
    match caller(app, req)? {
        Some(verified) if verified != user_id => Err(ApiError::Forbidden),
        _ => Ok(user_id),
    }
}

/// The key of the caller's own budget: the verified user, or else the client's IP (the
/// peer, or the X-Forwarded-For entry `TRUSTED_PROXY_HOPS` from the right). A request
/// that did not come through the accept loop (no peer recorded) counts as loopback.
pub fn client_key<B>(app: &App, req: &Request<B>, verified: Option<u64>) -> ClientKey {
    if let Some(user_id) = verified {
        return ClientKey::User(user_id);
    }
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |peer| peer.0.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok());
    ClientKey::ip(client_ip(peer, forwarded, app.config.trusted_proxy_hops))
}

/// A positive id from a JSON body: 1 to 2^53 - 1.
pub fn positive_id(name: &str, value: u64) -> Result<u64, ApiError> {
    if (1..=crate::http::MAX_ID).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::BadRequest(format!(
            "{name} must be a positive integer no larger than {}",
            crate::http::MAX_ID
        )))
    }
}
