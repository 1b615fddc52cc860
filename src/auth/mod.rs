//! Who is calling (`AUTH_MODE`): in `none` the user is whoever the body or the path says
//! (v1); in `jwt` it is the `sub` of a JWT from the ticketing platform's login, verified
//! here without any Redis round trip (src/auth/jwt.rs).

pub mod jwt;

use std::net::SocketAddr;

pub use jwt::{JwtError, JwtVerifier};

/// How callers are identified on the routes that name a user (`POST /api/queue/token`
/// and the wallet's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lowercase")]
pub enum AuthMode {
    /// v1: the user is whoever the body or the path says.
    None,
    /// `Authorization: Bearer <JWT>`; the user is its verified `sub`.
    Jwt,
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMode::None => "none",
            AuthMode::Jwt => "jwt",
        })
    }
}

/// The mode `serve` runs in: the one set, or `none` when unset and the server listens on a
/// loopback address only. Unset on any other address is refused, saying why.
pub fn effective_mode(set: Option<AuthMode>, bind_addr: SocketAddr) -> anyhow::Result<AuthMode> {
    match set {
        Some(mode) => Ok(mode),
        None if bind_addr.ip().is_loopback() => Ok(AuthMode::None),
        None => anyhow::bail!(
            "AUTH_MODE is not set and BIND_ADDR {bind_addr} is not a loopback address: anyone \
             could act as any user. Set AUTH_MODE=jwt (with AUTH_JWT_SECRET or AUTH_JWKS_FILE) \
             to verify the platform's JWTs, or AUTH_MODE=none to accept that on purpose"
        ),
    }
}

/// Warns about an explicit `AUTH_MODE=none` (allowed anywhere, as the contract says).
pub fn warn_about(set: Option<AuthMode>, bind_addr: SocketAddr) {
    if set == Some(AuthMode::None) {
        tracing::warn!(
            %bind_addr,
            loopback = bind_addr.ip().is_loopback(),
            "AUTH_MODE=none: the user is whoever the request says; use AUTH_MODE=jwt where \
             clients are not trusted"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_none_on_loopback_and_refused_elsewhere() {
        let loopback = "127.0.0.1:8080".parse().unwrap();
        let v6_loopback = "[::1]:8080".parse().unwrap();
        let anywhere = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(effective_mode(None, loopback).unwrap(), AuthMode::None);
        assert_eq!(effective_mode(None, v6_loopback).unwrap(), AuthMode::None);
        let err = effective_mode(None, anywhere).unwrap_err().to_string();
        assert!(
            err.contains("AUTH_MODE") && err.contains("0.0.0.0:8080"),
            "{err}"
        );
        assert_eq!(
            effective_mode(Some(AuthMode::None), anywhere).unwrap(),
            AuthMode::None
        );
        assert_eq!(
            effective_mode(Some(AuthMode::Jwt), loopback).unwrap(),
            AuthMode::Jwt
        );
    }
}
