//! The flash crowd's checks over every buyer's timeline (src/flash.rs keeps them): no 5xx,
//! admission in join order, no position ever going up, and how far the estimated wait was
//! from the actual one. Pure: the unit tests below feed it timelines by hand.

use serde::Serialize;

/// What one answer said, as the buyer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Waiting,
    Active,
    /// EXPIRED while waiting: dropped as idle (or evicted).
    Expired,
    PreQueue,
    SoldOut,
    /// A 4xx (429 included) or another 2xx body.
    Refused(u16),
    /// A 5xx.
    ServerError(u16),
    /// No HTTP answer (connection failure or the tool's timeout).
    NoAnswer,
}

/// One request of a buyer: when it was sent and answered (microseconds since the run's
/// start) and what the answer said.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub sent_us: u64,
    pub received_us: u64,
    pub seen: Seen,
    pub position: Option<u64>,
    pub wait_secs: Option<u64>,
    /// The join (`POST /api/queue/token`), not a status poll.
    pub join: bool,
}

/// One buyer's requests, in the order sent (a buyer sends one at a time).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub buyer: u64,
    pub observations: Vec<Observation>,
    /// The buyer stopped waiting (`--patience-secs`) before an answer other than WAITING.
    pub gave_up: bool,
}

impl Timeline {
    /// The join that got a token (200 or 201).
    fn join(&self) -> Option<&Observation> {
        self.observations.iter().find(|o| {
            o.join
                && !matches!(
                    o.seen,
                    Seen::Refused(_) | Seen::ServerError(_) | Seen::NoAnswer
                )
        })
    }

    /// When the buyer first saw itself ACTIVE (the answer's arrival).
    fn admitted_at(&self) -> Option<u64> {
        self.observations
            .iter()
            .find(|o| o.seen == Seen::Active)
            .map(|o| o.received_us)
    }

    /// When the buyer's last WAITING answer was asked for (it was in the line then).
    fn last_waiting_sent(&self) -> Option<u64> {
        self.observations
            .iter()
            .rev()
            .find(|o| o.seen == Seen::Waiting)
            .map(|o| o.sent_us)
    }
}

/// Percentiles of the estimated wait minus the actual one, in seconds (positive: the
/// estimate was too long).
#[derive(Clone, Debug, Default, Serialize)]
pub struct WaitError {
    pub samples: usize,
    pub p50_abs_secs: f64,
    pub p90_abs_secs: f64,
    /// The median signed error: the estimate's bias.
    pub p50_signed_secs: f64,
}

impl WaitError {
    fn of(mut errors: Vec<f64>) -> WaitError {
        if errors.is_empty() {
            return WaitError::default();
        }
        let signed = percentile(&mut errors, 0.5);
        let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
        WaitError {
            samples: errors.len(),
            p50_abs_secs: percentile(&mut abs, 0.5),
            p90_abs_secs: percentile(&mut abs, 0.9),
            p50_signed_secs: signed,
        }
    }
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

/// The first of a kind of violation, and how many there were.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Violations {
    pub count: u64,
    pub first: Option<String>,
}

impl Violations {
    fn add(&mut self, what: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(what());
        }
        self.count += 1;
    }
}

/// What the checks found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    pub buyers: usize,
    pub joined: usize,
    pub admitted: usize,
    /// EXPIRED before ACTIVE: dropped as idle.
    pub dropped: usize,
    pub sold_out: usize,
    pub gave_up: usize,
    pub never_joined: usize,
    pub requests: u64,
    pub refused: u64,
    pub no_answer: u64,
    pub server_errors: Violations,
    /// A buyer admitted while one who joined strictly before it was still WAITING.
    pub out_of_order: Violations,
    pub position_went_up: Violations,
    /// The estimate at the join against the wait from the join to ACTIVE.
    pub wait_error_at_join: WaitError,
    /// Every WAITING answer's estimate against the wait from that answer to ACTIVE.
    pub wait_error_all: WaitError,
}

impl Verdict {
    /// The violations that fail the run.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (name, v) in [
            ("5xx answers", &self.server_errors),
            ("admissions out of join order", &self.out_of_order),
            ("positions that went up", &self.position_went_up),
        ] {
            if v.count > 0 {
                failures.push(format!(
                    "{name}: {} (first: {})",
                    v.count,
                    v.first.as_deref().unwrap_or("-")
                ));
            }
        }
        failures
    }

    /// The plain-text report.
    pub fn text(&self) -> String {
        let w = |e: &WaitError| {
            format!(
                "p50 {:.1} s, p90 {:.1} s (median signed {:+.1} s, {} samples)",
                e.p50_abs_secs, e.p90_abs_secs, e.p50_signed_secs, e.samples
            )
        };
        let mut out = format!(
            "flash crowd: {} buyers, {} joined, {} admitted, {} dropped as idle, {} sold out, {} gave up, {} never joined\n\
             requests {}: refused (4xx) {}, no answer {}, 5xx {}\n\
             admissions out of join order: {}; positions that went up: {}\n\
             estimated wait error at the join: {}\n\
             estimated wait error at every WAITING answer: {}\n",
            self.buyers,
            self.joined,
            self.admitted,
            self.dropped,
            self.sold_out,
            self.gave_up,
            self.never_joined,
            self.requests,
            self.refused,
            self.no_answer,
            self.server_errors.count,
            self.out_of_order.count,
            self.position_went_up.count,
            w(&self.wait_error_at_join),
            w(&self.wait_error_all),
        );
        match self.failures() {
            f if f.is_empty() => out.push_str("checks: passed\n"),
            f => {
                for line in f {
                    out.push_str(&format!("VIOLATION: {line}\n"));
                }
            }
        }
        out
    }
}

/// Checks every timeline.
pub fn check(timelines: &[Timeline]) -> Verdict {
    let mut v = Verdict {
        buyers: timelines.len(),
        ..Verdict::default()
    };
    let mut at_join = Vec::new();
    let mut all = Vec::new();
    for t in timelines {
        count_answers(t, &mut v);
        check_positions(t, &mut v.position_went_up);
        let Some(join) = t.join() else {
            v.never_joined += 1;
            continue;
        };
        v.joined += 1;
        v.gave_up += usize::from(t.gave_up);
        let admitted = t.admitted_at();
        match t.observations.last().map(|o| o.seen) {
            _ if admitted.is_some() => v.admitted += 1,
            Some(Seen::Expired) => v.dropped += 1,
            Some(Seen::SoldOut) => v.sold_out += 1,
            _ => {}
        }
        let Some(admitted) = admitted else { continue };
        if let (Seen::Waiting, Some(wait)) = (join.seen, join.wait_secs) {
            at_join.push(wait as f64 - secs(admitted - join.received_us));
        }
        for o in t.observations.iter().filter(|o| o.seen == Seen::Waiting) {
            if let Some(wait) = o.wait_secs {
                all.push(wait as f64 - secs(admitted.saturating_sub(o.received_us)));
            }
        }
    }
    check_order(timelines, &mut v.out_of_order);
    v.wait_error_at_join = WaitError::of(at_join);
    v.wait_error_all = WaitError::of(all);
    v
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn count_answers(t: &Timeline, v: &mut Verdict) {
    for o in &t.observations {
        v.requests += 1;
        match o.seen {
            Seen::Refused(_) => v.refused += 1,
            Seen::NoAnswer => v.no_answer += 1,
            Seen::ServerError(status) => v.server_errors.add(|| {
                format!(
                    "buyer {} got {status} at {:.3} s",
                    t.buyer,
                    secs(o.received_us)
                )
            }),
            _ => {}
        }
    }
}

/// A buyer's positions, answer after answer (the join's included), never go up.
fn check_positions(t: &Timeline, violations: &mut Violations) {
    let mut last: Option<(u64, u64)> = None;
    for o in &t.observations {
        let Some(position) = o.position.filter(|_| o.seen == Seen::Waiting) else {
            continue;
        };
        if let Some((before, at)) = last.filter(|(before, _)| position > *before) {
            violations.add(|| {
                format!(
                    "buyer {}: position {before} at {:.3} s, then {position} at {:.3} s",
                    t.buyer,
                    secs(at),
                    secs(o.received_us)
                )
            });
        }
        last = Some((position, o.received_us));
    }
}

/// Admission in join order: buyer A joined strictly before buyer B when A's join was
/// answered before B's was sent (so the server gave A the earlier place). B admitted
/// (its ACTIVE answer received) before A's WAITING poll was even sent means the engine let
/// B pass A, who was still in the line. Pre-queue joins (ordered by the draw) and idle
/// drops (EXPIRED, never WAITING after) cannot trip it. O(n log n).
fn check_order(timelines: &[Timeline], violations: &mut Violations) {
    let in_line = |t: &&Timeline| t.join().is_some_and(|j| j.seen != Seen::PreQueue);
    // Those ahead, by when their join was answered, with the latest WAITING poll so far.
    let mut ahead: Vec<(u64, u64, u64)> = timelines
        .iter()
        .filter(in_line)
        .filter_map(|t| {
            let waiting = t.last_waiting_sent()?;
            Some((t.join()?.received_us, waiting, t.buyer))
        })
        .collect();
    ahead.sort_unstable();
    let mut latest_waiting = Vec::with_capacity(ahead.len());
    let mut best = (0, 0);
    for &(_, waiting, buyer) in &ahead {
        if waiting >= best.0 {
            best = (waiting, buyer);
        }
        latest_waiting.push(best);
    }
    for t in timelines.iter().filter(in_line) {
        let (Some(join), Some(admitted)) = (t.join(), t.admitted_at()) else {
            continue;
        };
        let before = ahead.partition_point(|&(answered, _, _)| answered < join.sent_us);
        let Some(&(waiting, buyer)) = before.checked_sub(1).map(|i| &latest_waiting[i]) else {
            continue;
        };
        if waiting > admitted {
            violations.add(|| {
                format!(
                    "buyer {} admitted by {:.3} s while buyer {buyer}, who joined before it, was WAITING at {:.3} s",
                    t.buyer,
                    secs(admitted),
                    secs(waiting)
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(sent_ms: u64, seen: Seen, position: Option<u64>, join: bool) -> Observation {
        Observation {
            sent_us: sent_ms * 1000,
            received_us: sent_ms * 1000 + 500,
            seen,
            position,
            wait_secs: position.map(|p| p / 10),
            join,
        }
    }

    /// A buyer who joins at `join_ms` at `position`, polls WAITING at each of `polls`
    /// (time, position) and is ACTIVE at `active_ms`.
    fn buyer(
        buyer: u64,
        join_ms: u64,
        position: u64,
        polls: &[(u64, u64)],
        active_ms: Option<u64>,
    ) -> Timeline {
        let mut observations = vec![obs(join_ms, Seen::Waiting, Some(position), true)];
        for &(at, p) in polls {
            observations.push(obs(at, Seen::Waiting, Some(p), false));
        }
        if let Some(at) = active_ms {
            observations.push(obs(at, Seen::Active, None, false));
        }
        Timeline {
            buyer,
            observations,
            gave_up: false,
        }
    }

    #[test]
    fn a_clean_run_passes() {
        let timelines = vec![
            buyer(1, 0, 1, &[(1000, 1)], Some(2000)),
            buyer(2, 10, 2, &[(1000, 1), (2500, 1)], Some(3000)),
            buyer(3, 20, 3, &[(2000, 2), (3000, 1)], Some(4000)),
        ];
        let verdict = check(&timelines);
        assert!(verdict.failures().is_empty(), "{}", verdict.text());
        assert_eq!(verdict.admitted, 3);
        assert_eq!(verdict.wait_error_at_join.samples, 3);
    }

    #[test]
    fn a_buyer_admitted_past_an_earlier_one_still_waiting_is_out_of_order() {
        let timelines = vec![
            buyer(1, 0, 1, &[(1000, 1), (3000, 1)], Some(4000)),
            buyer(2, 10, 2, &[(1000, 2)], Some(2000)),
        ];
        let verdict = check(&timelines);
        assert_eq!(verdict.out_of_order.count, 1, "{}", verdict.text());
        assert!(verdict
            .out_of_order
            .first
            .as_deref()
            .unwrap()
            .starts_with("buyer 2 admitted"));
    }

    #[test]
    fn overlapping_joins_and_idle_drops_are_not_ordered() {
        // Buyer 2's join was sent before buyer 1's was answered: either may be first.
        let mut first = buyer(1, 0, 2, &[(3000, 1)], Some(4000));
        first.observations[0].received_us = 20_000;
        let second = buyer(2, 10, 1, &[], Some(2000));
        // Buyer 3 joined first but was dropped as idle: EXPIRED, never WAITING after.
        let mut dropped = buyer(3, 0, 1, &[], None);
        dropped
            .observations
            .push(obs(5000, Seen::Expired, None, false));
        let verdict = check(&[first, second, dropped]);
        assert_eq!(verdict.out_of_order.count, 0, "{}", verdict.text());
        assert_eq!(verdict.dropped, 1);
    }

    #[test]
    fn a_position_that_goes_up_is_a_violation() {
        let verdict = check(&[buyer(1, 0, 5, &[(1000, 3), (2000, 4)], Some(3000))]);
        assert_eq!(verdict.position_went_up.count, 1);
        assert!(!verdict.failures().is_empty());
        let steady = check(&[buyer(1, 0, 5, &[(1000, 5), (2000, 4)], Some(3000))]);
        assert_eq!(steady.position_went_up.count, 0);
    }

    #[test]
    fn a_5xx_is_a_violation_and_a_429_is_not() {
        let mut t = buyer(1, 0, 1, &[], Some(3000));
        t.observations
            .insert(1, obs(1000, Seen::Refused(429), None, false));
        assert!(check(std::slice::from_ref(&t)).failures().is_empty());
        t.observations
            .insert(1, obs(500, Seen::ServerError(503), None, false));
        let verdict = check(&[t]);
        assert_eq!(verdict.server_errors.count, 1);
        assert_eq!(verdict.refused, 1);
        assert_eq!(verdict.failures().len(), 1);
    }

    #[test]
    fn the_wait_error_compares_the_estimate_with_the_actual_wait() {
        // Estimate at the join: position 100 / 10 = 10 s; admitted 4 s later: +6 s.
        let verdict = check(&[buyer(1, 0, 100, &[], Some(4000))]);
        let e = &verdict.wait_error_at_join;
        assert_eq!(e.samples, 1);
        assert!((e.p50_signed_secs - 6.0).abs() < 0.01, "{e:?}");
        assert!((e.p90_abs_secs - 6.0).abs() < 0.01, "{e:?}");
    }
}
