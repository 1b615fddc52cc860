//! The Grafana dashboard and the Prometheus alert rules in ops/ speak of the metrics the
//! code exports: every metric they name is recorded somewhere under src/, and every metric
//! the code records has a panel.

use std::collections::BTreeSet;

const PREFIXES: [&str; 9] = [
    "http_",
    "store_",
    "payments_",
    "queue_",
    "outbox_",
    "holds_",
    "rate_limited",
    "client_budgets",
    "poll_pace",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Every `metrics::counter!("name"`, `gauge!` and `histogram!` under src/.
fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![format!("{}/src", env!("CARGO_MANIFEST_DIR"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path.to_string_lossy().into_owned());
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for kind in ["counter!(", "gauge!(", "histogram!("] {
                for part in text.split(kind).skip(1) {
                    let rest = part.trim_start();
                    if let Some(quoted) = rest.strip_prefix('"') {
                        let name: String = quoted.chars().take_while(|c| *c != '"').collect();
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
}

/// The metric names a PromQL text uses (histogram series reduced to their metric).
fn named_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if PREFIXES.iter().any(|p| word.starts_with(p)) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word);
            names.insert(base.to_string());
        }
    }
    names
}

#[test]
fn the_dashboard_and_alerts_name_only_exported_metrics_and_every_one_has_a_panel() {
    let exported = exported();
    assert!(exported.len() >= 20, "{exported:?}");
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("ops/grafana/dashboards/concert-queue.json")).unwrap();
    let mut exprs = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push_str(target["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let on_dashboard = named_in(&exprs);
    let rules: String = read("ops/prometheus-alerts.yml")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let in_alerts = named_in(&rules);
    for name in on_dashboard.iter().chain(&in_alerts) {
        assert!(
            exported.contains(name),
            "{name} is not exported by the code"
        );
    }
    for name in &exported {
        assert!(
            on_dashboard.contains(name),
            "{name} has no panel on the dashboard"
        );
    }
}

#[test]
fn compose_publishes_ports_on_loopback_only_and_observes_under_a_profile() {
    let compose = read("docker-compose.yml");
    let mut in_ports = false;
    let mut published = 0;
    for line in compose.lines() {
        let trimmed = line.trim();
        if trimmed == "ports:" {
            in_ports = true;
            continue;
        }
        if in_ports && trimmed.starts_with("- ") {
            let port = trimmed.trim_start_matches("- ").trim_matches('"');
            assert!(
                port.starts_with("127.0.0.1:"),
                "published beyond loopback: {port}"
            );
            published += 1;
        } else {
            in_ports = false;
        }
    }
    assert!(published >= 6, "{published} published ports");
    for observer in ["prometheus", "grafana"] {
        let block = compose
            .split(&format!("\n  {observer}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("compose has no {observer} service"));
        let block = block.split("\n\n").next().unwrap();
        assert!(
            block.contains("profiles: [\"observability\"]"),
            "{observer} runs only under the observability profile"
        );
    }
}
