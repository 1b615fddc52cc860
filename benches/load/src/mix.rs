//! The request mix: endpoint weights (`--weights list=1,token=1`), drawn at random.
//!
//! The seed report's JMeter plan ran the six APIs of its per-API chart (concert list,
//! detail, schedules, seats, queue status, token issuance); a JMeter thread group runs each
//! sampler once per loop, so the default weights are equal. Any other mix is a flag away.

use std::str::FromStr;

use anyhow::{bail, Context};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;

use super::endpoint::Endpoint;

/// The seed report's six APIs, one loop of a JMeter thread group each.
pub const SEED_MIX: &str = "list=1,detail=1,schedules=1,seats=1,status=1,token=1";

/// Endpoints and their relative weights.
#[derive(Clone, Debug)]
pub struct Weights {
    entries: Vec<(Endpoint, u32)>,
    index: WeightedIndex<u32>,
}

impl Weights {
    /// Draws the next endpoint.
    pub fn pick(&self, rng: &mut impl Rng) -> Endpoint {
        self.entries[self.index.sample(rng)].0
    }

    pub fn includes(&self, endpoint: Endpoint) -> bool {
        self.entries.iter().any(|(e, _)| *e == endpoint)
    }

    pub fn entries(&self) -> &[(Endpoint, u32)] {
        &self.entries
    }
}

impl FromStr for Weights {
    type Err = anyhow::Error;

    fn from_str(raw: &str) -> anyhow::Result<Weights> {
        let mut entries = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let endpoint = Endpoint::from_short_name(name.trim())
                .with_context(|| format!("unknown endpoint {name:?} in --weights"))?;
            if matches!(
                endpoint,
                Endpoint::Charge | Endpoint::Hold | Endpoint::Pay | Endpoint::Cancel
            ) {
                bail!("{name} belongs to the booking flow (--scenario flow or soak), not to a mix");
            }
            let weight: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("weight {weight:?} of {name} is not a whole number"))?;
            if weight > 0 {
                entries.push((endpoint, weight));
            }
        }
        if entries.is_empty() {
            bail!("--weights names no endpoint with a positive weight");
        }
        let index = WeightedIndex::new(entries.iter().map(|(_, w)| *w))
            .context("building the weighted mix")?;
        Ok(Weights { entries, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_seed_mix_draws_all_six_endpoints() {
        let weights: Weights = SEED_MIX.parse().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            seen.insert(weights.pick(&mut rng));
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn bad_weights_are_refused() {
        assert!("nope=1".parse::<Weights>().is_err());
        assert!("token=x".parse::<Weights>().is_err());
        assert!("token=0".parse::<Weights>().is_err());
        assert!("hold=1".parse::<Weights>().is_err());
        assert!("token"
            .parse::<Weights>()
            .unwrap()
            .includes(Endpoint::IssueToken));
    }
}
