//! The figures of a run: throughput, mean, p50, p95, p99, max and error rate, overall and
//! per endpoint, as a text table and as JSON for scripts.

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::machine::Machine;
use super::record::{new_histogram, FlowCounts, Record, SoakCounts};

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub endpoint: String,
    pub requests: u64,
    pub ok: u64,
    pub refused: u64,
    pub errors: u64,
    pub error_rate_pct: f64,
    pub throughput_rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by HTTP status ("0" counts requests that got no answer).
    pub statuses: Vec<(u16, u64)>,
}

/// How a run was made: its title, command line, start, window and machine.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub title: String,
    pub command: String,
    pub started_at: String,
    pub window_secs: f64,
    pub machine: Machine,
}

/// A whole run's figures and how it was made.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub run: RunInfo,
    pub total: Row,
    pub endpoints: Vec<Row>,
    pub flows: FlowCounts,
    /// The soak's buyers: re-joins and bookings (all zero in other scenarios).
    pub soak: SoakCounts,
    /// Open model: send lag behind the schedule (included in every latency above).
    pub send_lag: Option<Lag>,
}

/// Percentiles of the open model's send lag.
#[derive(Clone, Debug, Serialize)]
pub struct Lag {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn row(
    name: &str,
    h: &Histogram<u64>,
    ok: u64,
    refused: u64,
    errors: u64,
    statuses: Vec<(u16, u64)>,
    secs: f64,
) -> Row {
    let requests = ok + refused + errors;
    Row {
        endpoint: name.to_string(),
        requests,
        ok,
        refused,
        errors,
        error_rate_pct: if requests == 0 {
            0.0
        } else {
            errors as f64 * 100.0 / requests as f64
        },
        throughput_rps: requests as f64 / secs.max(1e-9),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        statuses,
    }
}

impl Summary {
    /// Figures over the run's measured window.
    pub fn from_record(record: &Record, run: RunInfo) -> Summary {
        let window_secs = run.window_secs;
        let mut all = new_histogram();
        let (mut ok, mut refused, mut errors) = (0, 0, 0);
        let mut endpoints = Vec::new();
        for (endpoint, r) in &record.endpoints {
            all.add(&r.latency_us).expect("histograms share bounds");
            ok += r.ok;
            refused += r.refused;
            errors += r.errors;
            let statuses = r.statuses.iter().map(|(s, n)| (*s, *n)).collect();
            endpoints.push(row(
                endpoint.label(),
                &r.latency_us,
                r.ok,
                r.refused,
                r.errors,
                statuses,
                window_secs,
            ));
        }
        Summary {
            run,
            total: row("all", &all, ok, refused, errors, Vec::new(), window_secs),
            endpoints,
            flows: record.flows,
            soak: record.soak,
            send_lag: (!record.send_lag_us.is_empty()).then(|| Lag {
                p50_ms: ms(record.send_lag_us.value_at_quantile(0.5)),
                p99_ms: ms(record.send_lag_us.value_at_quantile(0.99)),
                max_ms: ms(record.send_lag_us.max()),
            }),
        }
    }

    /// The plain-text report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let run = &self.run;
        let _ = writeln!(out, "{}", run.title);
        let _ = writeln!(out, "command: {}", run.command);
        let _ = writeln!(
            out,
            "started: {}   measured window: {:.1} s",
            run.started_at, run.window_secs
        );
        let _ = writeln!(out, "{}", run.machine.sentence());
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "endpoint",
            "requests",
            "req/s",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors"
        );
        for r in self.endpoints.iter().chain(std::iter::once(&self.total)) {
            let _ = writeln!(
                out,
                "{:<36} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7.2}%",
                r.endpoint,
                r.requests,
                r.throughput_rps,
                r.mean_ms,
                r.p50_ms,
                r.p95_ms,
                r.p99_ms,
                r.max_ms,
                r.error_rate_pct
            );
        }
        for r in &self.endpoints {
            let statuses: Vec<String> = r
                .statuses
                .iter()
                .map(|(s, n)| {
                    if *s == 0 {
                        format!("no answer x{n}")
                    } else {
                        format!("{s} x{n}")
                    }
                })
                .collect();
            let _ = writeln!(out, "  statuses of {}: {}", r.endpoint, statuses.join(", "));
        }
        if let Some(flows) = self.flow_sentence() {
            let _ = writeln!(out, "{flows}");
        }
        if let Some(soak) = self.soak_sentence() {
            let _ = writeln!(out, "{soak}");
        }
        if let Some(lag) = &self.send_lag {
            let _ = writeln!(out, "{}", lag.sentence());
        }
        out
    }
}

impl Summary {
    /// What the booking flows came to, when the run had any.
    pub fn flow_sentence(&self) -> Option<String> {
        let f = &self.flows;
        (f.completed + f.sold_out + f.failed + f.cut > 0).then(|| {
            format!(
                "booking flows: {} completed ({:.1}/s), {} sold out, {} failed, {} cut short by the window's end",
                f.completed,
                f.completed as f64 / self.run.window_secs.max(1e-9),
                f.sold_out,
                f.failed,
                f.cut
            )
        })
    }
}

impl Summary {
    /// What the soak's buyers did, when the run had any.
    pub fn soak_sentence(&self) -> Option<String> {
        let s = &self.soak;
        (s.rejoins + s.paid + s.cancelled + s.no_seat > 0).then(|| {
            format!(
                "soak buyers: {} re-joins, {} paid ({:.2}/s), {} cancelled holds, {} bookings found no seat, {} wallet top-ups",
                s.rejoins,
                s.paid,
                s.paid as f64 / self.run.window_secs.max(1e-9),
                s.cancelled,
                s.no_seat,
                s.top_ups
            )
        })
    }
}

impl Lag {
    pub fn sentence(&self) -> String {
        format!(
            "send lag behind the schedule (included in the latencies): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}
