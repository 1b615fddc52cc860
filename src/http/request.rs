//! Reading requests: capped bodies, JSON decoding and the bearer token.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH};
use hyper::Request;
use serde::de::DeserializeOwned;

use crate::config::MAX_BODY_BYTES;
use crate::http::error::ApiError;
use crate::queue::{Claims, TokenSigner};

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn body_bytes(req: Request<Incoming>) -> Result<bytes::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
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

/// The verified claims of the `Authorization: Bearer` token, or 401.
pub fn bearer_claims<B>(req: &Request<B>, signer: &TokenSigner) -> Result<Claims, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::InvalidToken)?;
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(ApiError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidToken);
    }
    signer.verify(token.trim()).ok_or(ApiError::InvalidToken)
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
