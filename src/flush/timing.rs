//! Where a flush worker's wall time goes, stage by stage (claim, read, parse, MySQL,
//! Kafka, ack, observe): totals kept by the worker, also recorded as the histogram
//! `outbox_flush_stage_seconds{stage}`.

use std::time::{Duration, Instant};

/// The stages of one batch, in the order a batch meets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// XAUTOCLAIM of entries dead workers left pending.
    Claim,
    /// XREADGROUP of new entries.
    Read,
    /// Decoding entries into events.
    Parse,
    /// The batch transaction, connection checkout to commit.
    Mysql,
    /// Handing the batch's reservations to the producer, and the wait for their delivery
    /// reports that the next batch's MySQL write did not hide.
    Kafka,
    /// XACK of what both sinks have.
    Ack,
    /// Lag gauges, dead-letter length and trimming (about once a second).
    Observe,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Claim,
        Stage::Read,
        Stage::Parse,
        Stage::Mysql,
        Stage::Kafka,
        Stage::Ack,
        Stage::Observe,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Stage::Claim => "claim",
            Stage::Read => "read",
            Stage::Parse => "parse",
            Stage::Mysql => "mysql",
            Stage::Kafka => "kafka",
            Stage::Ack => "ack",
            Stage::Observe => "observe",
        }
    }
}

/// Total time spent in each stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimes([Duration; 7]);

impl StageTimes {
    pub fn add(&mut self, stage: Stage, elapsed: Duration) {
        self.0[stage as usize] += elapsed;
    }

    /// Adds `elapsed` to `stage`, and records it in the histogram.
    pub fn record(&mut self, stage: Stage, elapsed: Duration) {
        self.add(stage, elapsed);
        metrics::histogram!("outbox_flush_stage_seconds", "stage" => stage.label())
            .record(elapsed.as_secs_f64());
    }

    /// Adds the time since `started` to `stage`, and records it in the histogram.
    pub fn since(&mut self, stage: Stage, started: Instant) {
        self.record(stage, started.elapsed());
    }

    /// Adds another set of totals, stage by stage.
    pub fn absorb(&mut self, other: &StageTimes) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The time spent since `earlier` was taken of the same totals.
    pub fn since_snapshot(&self, earlier: &StageTimes) -> StageTimes {
        let mut delta = StageTimes::default();
        for (i, (now, then)) in self.0.iter().zip(earlier.0).enumerate() {
            delta.0[i] = now.saturating_sub(then);
        }
        delta
    }

    pub fn get(&self, stage: Stage) -> Duration {
        self.0[stage as usize]
    }

    pub fn total(&self) -> Duration {
        self.0.iter().sum()
    }

    /// `claim=0.012s read=1.234s ...`, for a log line.
    pub fn summary(&self) -> String {
        Stage::ALL
            .iter()
            .map(|s| format!("{}={:.3}s", s.label(), self.get(*s).as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_separately() {
        let mut t = StageTimes::default();
        t.add(Stage::Mysql, Duration::from_millis(30));
        t.add(Stage::Mysql, Duration::from_millis(20));
        t.add(Stage::Kafka, Duration::from_millis(5));
        assert_eq!(t.get(Stage::Mysql), Duration::from_millis(50));
        assert_eq!(t.get(Stage::Read), Duration::ZERO);
        assert_eq!(t.total(), Duration::from_millis(55));
        assert!(t.summary().contains("mysql=0.050s"), "{}", t.summary());
        let before = t;
        t.add(Stage::Ack, Duration::from_millis(7));
        let delta = t.since_snapshot(&before);
        assert_eq!(delta.get(Stage::Ack), Duration::from_millis(7));
        assert_eq!(delta.get(Stage::Mysql), Duration::ZERO);
    }
}
