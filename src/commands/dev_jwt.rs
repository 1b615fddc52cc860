//! `concert-queue dev-jwt --sub 42`: prints an HS256 user JWT signed with the configured
//! `AUTH_JWT_SECRET` (and carrying `AUTH_JWT_ISSUER` / `AUTH_JWT_AUDIENCE` when set), so a
//! `jwt`-mode server can be tried with curl. For development only: in production the
//! ticketing platform's login issues these.

use std::time::Duration;

use anyhow::Context;

use crate::auth::jwt::sign_hs256;
use crate::Config;

/// Print a development user JWT (HS256, AUTH_JWT_SECRET) for curl.
#[derive(clap::Args, Debug)]
pub struct DevJwt {
    /// The user id the token names (its `sub`).
    #[arg(long)]
    pub sub: u64,
    /// How long the token lasts, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    #[command(flatten)]
    pub config: Config,
}

impl DevJwt {
    pub fn run(self) -> anyhow::Result<()> {
        let secret = self
            .config
            .auth_jwt_secret
            .as_deref()
            .context("dev-jwt signs with AUTH_JWT_SECRET: set it (at least 32 bytes)")?;
        anyhow::ensure!(
            (1..=crate::http::MAX_ID).contains(&self.sub),
            "--sub must be a positive integer no larger than 2^53 - 1"
        );
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("reading the clock")?
            + Duration::from_secs(self.ttl_secs);
        let token = sign_hs256(
            secret.as_bytes(),
            self.sub,
            exp.as_secs(),
            self.config.auth_jwt_issuer.as_deref(),
            self.config.auth_jwt_audience.as_deref(),
        )?;
        println!("{token}");
        Ok(())
    }
}
