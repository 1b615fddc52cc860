//! How the background loops run one script for each of many concerts (`SCRIPT_FANOUT`):
//! one await after another, all at once over the multiplexed connection (which pipelines
//! them implicitly), or as one explicit pipeline of EVALSHAs. benches/pipelining.rs
//! measures the three.

use std::future::Future;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fanout {
    /// One round trip after another.
    Sequential,
    /// Every call at once (`join_all`); the multiplexed connection writes them together.
    Concurrent,
    /// One `redis::pipe()` of every call: one write, one round trip. On a Redis Cluster,
    /// where one pipeline cannot span the concerts' slots, `Store::invoke_pipelined` sends
    /// them as `Concurrent` does.
    #[default]
    Pipeline,
}

impl Fanout {
    pub fn as_str(self) -> &'static str {
        match self {
            Fanout::Sequential => "sequential",
            Fanout::Concurrent => "concurrent",
            Fanout::Pipeline => "pipeline",
        }
    }

    /// Runs `one` for each of `ids` the chosen way, or `all` (the same calls as one explicit
    /// pipeline; a future, so it runs only when chosen). Outcomes come in the order of `ids`;
    /// `Err` only when the pipeline as a whole failed.
    pub async fn run<T, E, One, OneFut>(
        self,
        ids: &[u64],
        one: One,
        all: impl Future<Output = Result<Vec<Result<T, E>>, E>>,
    ) -> Result<Vec<Result<T, E>>, E>
    where
        One: Fn(u64) -> OneFut,
        OneFut: Future<Output = Result<T, E>>,
    {
        match self {
            Fanout::Sequential => {
                let mut outcomes = Vec::with_capacity(ids.len());
                for &id in ids {
                    outcomes.push(one(id).await);
                }
                Ok(outcomes)
            }
            Fanout::Concurrent => {
                Ok(futures::future::join_all(ids.iter().map(|&id| one(id))).await)
            }
            Fanout::Pipeline => all.await,
        }
    }
}

impl std::fmt::Display for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("expected sequential, concurrent or pipeline")]
pub struct ParseFanoutError;

impl FromStr for Fanout {
    type Err = ParseFanoutError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "sequential" => Ok(Fanout::Sequential),
            "concurrent" => Ok(Fanout::Concurrent),
            "pipeline" => Ok(Fanout::Pipeline),
            _ => Err(ParseFanoutError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_three_names_only() {
        for mode in [Fanout::Sequential, Fanout::Concurrent, Fanout::Pipeline] {
            assert_eq!(mode.as_str().parse::<Fanout>().unwrap(), mode);
        }
        assert_eq!(" Pipeline ".parse::<Fanout>().unwrap(), Fanout::Pipeline);
        assert!("batched".parse::<Fanout>().is_err());
    }

    #[tokio::test]
    async fn every_way_answers_in_the_order_of_the_ids() {
        let ids = [3, 1, 2];
        let all = async { Ok::<_, ()>(vec![Ok(3), Ok(1), Ok(2)]) };
        for mode in [Fanout::Sequential, Fanout::Concurrent] {
            let got = mode
                .run(&ids, |id| async move { Ok::<_, ()>(id) }, async {
                    unreachable!()
                })
                .await
                .unwrap();
            let got: Vec<u64> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, ids, "{mode:?}");
        }
        let got = Fanout::Pipeline
            .run(&ids, |_| async { unreachable!() }, all)
            .await
            .unwrap();
        assert_eq!(
            got.into_iter().map(Result::unwrap).collect::<Vec<u64>>(),
            ids
        );
    }
}
