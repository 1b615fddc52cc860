//! The server under load: an `http://` base URL whose host is a loopback address. The load
//! tool refuses every other target, so it can only ever load this machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context};
use hyper::header::HeaderValue;
use hyper::Uri;

/// Where to send requests.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: HeaderValue,
}

impl Target {
    /// Parses `http://HOST:PORT` with HOST a loopback IP or `localhost`.
    pub fn parse(base: &str) -> anyhow::Result<Target> {
        let uri: Uri = base
            .parse()
            .with_context(|| format!("--target {base:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--target must be an http:// URL, got {base:?}");
        }
        let host = uri.host().context("--target has no host")?;
        let ip = match host.trim_start_matches('[').trim_end_matches(']') {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            literal => literal.parse::<IpAddr>().with_context(|| {
                format!("--target host {host:?} must be a loopback IP or localhost")
            })?,
        };
        if !ip.is_loopback() {
            bail!("--target {base:?} is not a loopback address; the load tool only loads this machine");
        }
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri
            .authority()
            .context("--target has no authority")?
            .as_str();
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: HeaderValue::from_str(authority)
                .context("--target host is not a header value")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_accepted_and_others_refused() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080").unwrap().addr,
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(Target::parse("http://localhost:9").unwrap().addr.port(), 9);
        assert!(Target::parse("http://[::1]:8080").is_ok());
        assert!(Target::parse("http://127.8.9.10:1").is_ok());
        assert!(Target::parse("http://10.0.0.1:8080").is_err());
        assert!(Target::parse("http://example.com").is_err());
        assert!(Target::parse("https://127.0.0.1:8443").is_err());
    }
}
