//! Collecting results: a latency histogram (HdrHistogram, microseconds) and status counts
//! per endpoint, and per-second counts for throughput over time. Requests before the
//! measured window opens (the set-up) are never recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::client::Failure;
use super::endpoint::{Endpoint, Outcome};

/// Longest latency the histograms hold exactly (longer ones are clamped to it).
const HIGHEST_MICROS: u64 = 120_000_000;

/// One endpoint's results.
#[derive(Clone)]
pub struct EndpointRecord {
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    pub refused: u64,
    pub errors: u64,
    /// Answers by HTTP status; 0 counts requests that got no answer.
    pub statuses: BTreeMap<u16, u64>,
}

impl EndpointRecord {
    fn new() -> Self {
        EndpointRecord {
            latency_us: new_histogram(),
            ok: 0,
            refused: 0,
            errors: 0,
            statuses: BTreeMap::new(),
        }
    }

    pub fn count(&self) -> u64 {
        self.ok + self.refused + self.errors
    }
}

/// Completions in one second of the measured window.
#[derive(Clone, Copy, Default, Debug)]
pub struct SecondRecord {
    pub completed: u64,
    pub errors: u64,
    pub latency_sum_us: u64,
}

/// Booking flows, each a whole charge-join-poll-seats-hold-pay sequence.
#[derive(Clone, Copy, Default, Debug, serde::Serialize)]
pub struct FlowCounts {
    pub completed: u64,
    pub sold_out: u64,
    pub failed: u64,
    /// Flows the end of the window cut short (neither success nor failure).
    pub cut: u64,
}

/// What the soak's buyers did besides single requests (`--scenario soak`).
#[derive(Clone, Copy, Default, Debug, serde::Serialize)]
pub struct SoakCounts {
    /// Joins again after a token was no longer ACTIVE (lapsed, or ended by a payment).
    pub rejoins: u64,
    pub paid: u64,
    pub cancelled: u64,
    /// Bookings that found no seat to hold (none AVAILABLE, or each tried one taken first).
    pub no_seat: u64,
    /// Wallets charged again after a payment answered 402.
    pub top_ups: u64,
}

/// Everything one run recorded.
#[derive(Clone)]
pub struct Record {
    pub window_start: Instant,
    pub endpoints: BTreeMap<Endpoint, EndpointRecord>,
    pub seconds: Vec<SecondRecord>,
    pub flows: FlowCounts,
    pub soak: SoakCounts,
    /// Open model: how long after its intended time each request was sent (the timer's
    /// millisecond resolution, or every connection busy). It is part of the latency.
    pub send_lag_us: Histogram<u64>,
}

/// A recorder shared by every virtual user of a run.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Record>>,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("valid histogram bounds")
}

impl Recorder {
    /// A recorder whose measured window opens at `window_start`.
    pub fn new(window_start: Instant) -> Self {
        Recorder {
            inner: Arc::new(Mutex::new(Record {
                window_start,
                endpoints: BTreeMap::new(),
                seconds: Vec::new(),
                flows: FlowCounts::default(),
                soak: SoakCounts::default(),
                send_lag_us: new_histogram(),
            })),
        }
    }

    /// Records one request that ended at `ended` after `latency` and judges its answer.
    pub fn record(
        &self,
        endpoint: Endpoint,
        answer: Result<u16, Failure>,
        latency: Duration,
        ended: Instant,
    ) -> Outcome {
        self.record_judged(endpoint, answer, latency, ended, Endpoint::judge)
    }

    /// `record`, with answers judged by `judge` instead of `Endpoint::judge`.
    pub fn record_judged(
        &self,
        endpoint: Endpoint,
        answer: Result<u16, Failure>,
        latency: Duration,
        ended: Instant,
        judge: fn(Endpoint, u16) -> Outcome,
    ) -> Outcome {
        let (status, outcome) = match answer {
            Ok(status) => (status, judge(endpoint, status)),
            Err(_) => (0, Outcome::Error),
        };
        let mut record = self.inner.lock().expect("recorder lock");
        let Some(since) = ended.checked_duration_since(record.window_start) else {
            return outcome;
        };
        let micros = (latency.as_micros() as u64).clamp(1, HIGHEST_MICROS);
        let entry = record
            .endpoints
            .entry(endpoint)
            .or_insert_with(EndpointRecord::new);
        entry.latency_us.saturating_record(micros);
        *entry.statuses.entry(status).or_default() += 1;
        match outcome {
            Outcome::Ok => entry.ok += 1,
            Outcome::Refused => entry.refused += 1,
            Outcome::Error => entry.errors += 1,
        }
        let second = since.as_secs() as usize;
        if record.seconds.len() <= second {
            record.seconds.resize(second + 1, SecondRecord::default());
        }
        let slot = &mut record.seconds[second];
        slot.completed += 1;
        slot.latency_sum_us += micros;
        if outcome == Outcome::Error {
            slot.errors += 1;
        }
        outcome
    }

    /// Records how late the open model sent a request (all of it counts in its latency).
    pub fn send_lag(&self, lag: Duration) {
        let micros = (lag.as_micros() as u64).clamp(1, HIGHEST_MICROS);
        self.inner
            .lock()
            .expect("recorder lock")
            .send_lag_us
            .saturating_record(micros);
    }

    pub fn flow(&self, update: impl FnOnce(&mut FlowCounts)) {
        update(&mut self.inner.lock().expect("recorder lock").flows);
    }

    pub fn soak(&self, update: impl FnOnce(&mut SoakCounts)) {
        update(&mut self.inner.lock().expect("recorder lock").soak);
    }

    /// What was recorded so far.
    pub fn snapshot(&self) -> Record {
        self.inner.lock().expect("recorder lock").clone()
    }
}
