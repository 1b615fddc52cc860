//! The self-contained HTML report: the run's parameters, the figures table with status
//! counts, and the charts inline as SVG (no script, no external file).

use std::fmt::Write;

use super::record::Record;
use super::summary::Summary;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The two charts as standalone SVG documents: latency by percentile (one line per
/// endpoint, and all) and the run second by second.
pub struct Charts {
    pub distribution: String,
    pub timeline: String,
}

/// Draws both charts of a run.
pub fn charts(summary: &Summary, record: &Record) -> anyhow::Result<Charts> {
    let mut series: Vec<(String, &hdrhistogram::Histogram<u64>)> = record
        .endpoints
        .iter()
        .map(|(e, r)| (e.label().to_string(), &r.latency_us))
        .collect();
    let mut all = super::record::new_histogram();
    for r in record.endpoints.values() {
        all.add(&r.latency_us)?;
    }
    if series.len() > 1 {
        series.push(("all".to_string(), &all));
    }
    Ok(Charts {
        distribution: super::charts::latency_distribution(&series)?,
        timeline: super::charts::over_time(&record.seconds, summary.run.window_secs)?,
    })
}

/// The whole page.
pub fn report(summary: &Summary, record: &Record) -> anyhow::Result<String> {
    let Charts {
        distribution,
        timeline,
    } = charts(summary, record)?;

    let mut rows = String::new();
    for r in summary
        .endpoints
        .iter()
        .chain(std::iter::once(&summary.total))
    {
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("none&times;{n}")
                } else {
                    format!("{s}&times;{n}")
                }
            })
            .collect();
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}%</td><td>{}</td></tr>",
            escape(&r.endpoint), r.requests, r.throughput_rps, r.mean_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms, r.error_rate_pct, statuses.join(" ")
        );
    }
    let flows = summary
        .flow_sentence()
        .into_iter()
        .chain(summary.soak_sentence())
        .map(|sentence| format!("<p>{sentence}.</p>"))
        .collect::<String>();
    let late = summary
        .send_lag
        .as_ref()
        .map(|lag| format!("<p>Open model: {}.</p>", lag.sentence()))
        .unwrap_or_default();
    Ok(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}}td:first-child,td:last-child{{text-align:left}}code{{background:#f4f4f4;padding:2px 4px}}</style>
</head><body>
<h1>{title}</h1>
<p>Command: <code>{command}</code><br>Started {started}; measured window {window:.1} s.<br>{machine}.</p>
<table><tr><th>endpoint</th><th>requests</th><th>req/s</th><th>mean ms</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>errors</th><th>statuses</th></tr>
{rows}</table>
{flows}{late}
<h2>Latency distribution</h2>
{distribution}
<h2>Over time</h2>
{timeline}
</body></html>
"#,
        title = escape(&summary.run.title),
        command = escape(&summary.run.command),
        started = escape(&summary.run.started_at),
        window = summary.run.window_secs,
        machine = escape(&summary.run.machine.sentence()),
    ))
}
