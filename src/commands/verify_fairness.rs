//! `concert-queue verify-fairness`: anyone's check of a concert's pre-queue draw, as a
//! client of the public API only. It reads the revealed seed and checks it against the
//! commitment (the one published now, and the one the buyer noted before the opening, if
//! given); pages through the published order and checks that the HMACs are all there and
//! in ascending byte order, which is the order the draw gives; and, with `--user`,
//! recomputes the buyer's HMAC from the seed and finds their place. Any mismatch ends it
//! with an error (a non-zero exit). What this proves, and what it does not, is in
//! docs/architecture.md ("The pre-queue").

use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::queue::draw::{self, hex, parse_hex32};
use crate::queue::fairness::MAX_ORDER_PAGE;

/// Check a concert's pre-queue draw from the public API: the seed against its
/// commitment, the published order (every HMAC, ascending), and your own place.
#[derive(clap::Args, Debug)]
pub struct VerifyFairness {
    /// The concert's id.
    #[arg(long)]
    pub concert: u64,
    /// The server's base URL (http:// or https://), e.g. https://tickets.example.com
    #[arg(long)]
    pub target: String,
    /// Your user id: recomputes your HMAC from the seed and finds your place.
    #[arg(long)]
    pub user: Option<u64>,
    /// The commitment you saw before the opening (64 hex digits): it must match too.
    #[arg(long)]
    pub commitment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fairness {
    commitment: String,
    seed: Option<String>,
    pre_queue_size: Option<u64>,
}

#[derive(Deserialize)]
struct OrderPage {
    hmacs: Vec<String>,
}

/// What a successful check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub pre_queue_size: u64,
    pub seed: String,
    /// The buyer's place in the draw (1 = first), with `--user`.
    pub place: Option<u64>,
}

impl VerifyFairness {
    pub async fn run(self) -> anyhow::Result<()> {
        let verified = self.verify().await?;
        println!(
            "concert {}: the seed {} matches the commitment published before the opening",
            self.concert, verified.seed
        );
        println!(
            "the published order lists {} HMACs in ascending order: the order the seed gives",
            verified.pre_queue_size
        );
        if let (Some(user), Some(place)) = (self.user, verified.place) {
            println!(
                "user {user}: place {place} of {} in the draw",
                verified.pre_queue_size
            );
        }
        println!("OK");
        Ok(())
    }

    /// Runs every check; an error names the first mismatch.
    pub async fn verify(&self) -> anyhow::Result<Verified> {
        let http = client()?;
        let base = format!(
            "{}/api/concerts/{}/queue/fairness",
            self.target.trim_end_matches('/'),
            self.concert
        );
        let fairness: Fairness = get_json(&http, &base).await?;
        let (Some(seed_hex), Some(size)) = (&fairness.seed, fairness.pre_queue_size) else {
            bail!("the pre-queue has not opened yet: no seed is published");
        };
        let seed = parse_hex32(seed_hex)
            .with_context(|| format!("the published seed {seed_hex:?} is not 32 bytes of hex"))?;
        let commitment = hex(&draw::commitment(&seed));
        if commitment != fairness.commitment {
            bail!(
                "MISMATCH: SHA-256 of the seed is {commitment}, the published commitment {}",
                fairness.commitment
            );
        }
        if let Some(noted) = &self.commitment {
            if !noted.eq_ignore_ascii_case(&commitment) {
                bail!("MISMATCH: the commitment you noted, {noted}, is not SHA-256 of the seed, {commitment}");
            }
        }
        let mine = self.user.map(|user| hex(&draw::place(&seed, user)));
        let mut place = None;
        let mut previous: Option<String> = None;
        let mut listed = 0u64;
        while listed < size {
            let page: OrderPage = get_json(
                &http,
                &format!("{base}/order?offset={listed}&limit={MAX_ORDER_PAGE}"),
            )
            .await?;
            if page.hmacs.is_empty() {
                bail!("MISMATCH: the order lists {listed} HMACs, the pre-queue had {size}");
            }
            for hmac in page.hmacs {
                if parse_hex32(&hmac).is_none() || hmac.bytes().any(|b| b.is_ascii_uppercase()) {
                    bail!(
                        "MISMATCH: place {} holds {hmac:?}, not an HMAC in lowercase hex",
                        listed + 1
                    );
                }
                if previous.as_ref().is_some_and(|p| *p >= hmac) {
                    bail!(
                        "MISMATCH: place {} ({hmac}) does not come after place {listed} in HMAC order",
                        listed + 1
                    );
                }
                listed += 1;
                if mine.as_ref() == Some(&hmac) {
                    place = Some(listed);
                }
                previous = Some(hmac);
            }
        }
        if listed != size {
            bail!("MISMATCH: the order lists {listed} HMACs, the pre-queue had {size}");
        }
        if let (Some(user), Some(mine), None) = (self.user, &mine, place) {
            bail!("MISMATCH: user {user}'s HMAC {mine} is not in the published order");
        }
        Ok(Verified {
            pre_queue_size: size,
            seed: seed_hex.clone(),
            place,
        })
    }
}

/// An HTTP client trusting the system's root certificates (for an https target).
fn client() -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    for cert in rustls_native_certs::load_native_certs().certs {
        if let Ok(cert) = reqwest::Certificate::from_der(&cert) {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("building the HTTP client")
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("reading GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url} answered {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {url} answered {body}"))
}
