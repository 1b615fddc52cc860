//! The load tool against a real server: the token and status scenarios, closed and open
//! models, bounded by a request budget; signed-in users; the fairness scenario. Counts and
//! reports are checked, never timings.

mod support;

use clap::Parser;
use concert_queue_load::{self as load, LoadArgs};
use support::TestServer;

fn one_concert_catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("catalog.json");
    std::fs::write(
        &path,
        r#"{"concerts": [{"id": 1, "title": "t", "artist": "a", "venue": "v",
            "schedules": [{"id": 1, "startsAt": "2027-01-01T00:00:00Z", "seats": []}]}]}"#,
    )
    .unwrap();
    path
}

fn args(server: &TestServer, dir: &std::path::Path, extra: &[&str]) -> LoadArgs {
    let catalog = one_concert_catalog(dir);
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    let mut argv = vec![
        "concert-queue-load".to_string(),
        "--target".into(),
        server.base.clone(),
        "--catalog".into(),
        catalog.display().to_string(),
        "--html".into(),
        html.display().to_string(),
        "--json".into(),
        json.display().to_string(),
        "--users".into(),
        "4".into(),
        "--seconds".into(),
        "30".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    LoadArgs::parse_from(argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_scenario_issues_exactly_its_budget_and_writes_reports() {
    let server = TestServer::start("load-token").await;
    server.add_concert(1);
    let dir = tempdir("load-token");
    let summary = load::run(args(
        &server,
        &dir,
        &[
            "--scenario",
            "token",
            "--max-requests",
            "200",
            "--svg",
            &dir.join("charts").display().to_string(),
        ],
    ))
    .await
    .unwrap();
    assert_eq!(summary.total.requests, 200);
    assert_eq!(summary.total.errors, 0, "{}", summary.text());
    assert_eq!(summary.endpoints.len(), 1);
    assert_eq!(summary.endpoints[0].endpoint, "POST /api/queue/token");
    assert_eq!(summary.endpoints[0].statuses, vec![(201, 200)]);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("POST /api/queue/token"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["total"]["requests"], 200);
    for chart in ["latency-by-percentile.svg", "over-time.svg"] {
        let svg = std::fs::read_to_string(dir.join("charts").join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart}"
        );
        assert!(html.contains(&svg), "the page embeds the same {chart}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_sends_its_budget_of_status_polls_with_tokens() {
    let server = TestServer::start("load-open").await;
    server.add_concert(1);
    let dir = tempdir("load-open");
    let summary = load::run(args(
        &server,
        &dir,
        &[
            "--scenario",
            "status",
            "--model",
            "open",
            "--rate",
            "500",
            "--max-requests",
            "100",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(summary.total.requests, 100);
    assert_eq!(summary.total.errors, 0, "{}", summary.text());
    assert!(
        summary.send_lag.is_some(),
        "the open model reports its send lag"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_target_off_this_machine_is_refused() {
    let dir = tempdir("load-refused");
    let catalog = one_concert_catalog(&dir);
    let args = LoadArgs::parse_from([
        "concert-queue-load",
        "--target",
        "http://192.0.2.1:8080",
        "--catalog",
        &catalog.display().to_string(),
    ]);
    let err = load::run(args).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(support::unique_prefix(name).replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_users_join_a_jwt_mode_server() {
    let secret = "load-tool-test-jwt-secret-of-32-bytes";
    let server = TestServer::start_with("load-jwt", |c| {
        c.auth_mode = Some(concert_queue::auth::AuthMode::Jwt);
        c.auth_jwt_secret = Some(secret.into());
    })
    .await;
    server.add_concert(1);
    let dir = tempdir("load-jwt");
    let summary = load::run(args(
        &server,
        &dir,
        &[
            "--scenario",
            "token",
            "--max-requests",
            "60",
            "--jwt-secret",
            secret,
        ],
    ))
    .await
    .unwrap();
    assert_eq!(summary.total.requests, 60);
    assert_eq!(
        summary.total.errors, 0,
        "every request carried its user's JWT"
    );
}

/// The fairness scenario against a server with client budgets behind one trusted proxy:
/// every honest client gets in and the attacker gets no more than its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fairness_scenario_reports_the_shares() {
    let server = TestServer::start_with("load-fairness", |c| {
        c.queue_max_active = 0;
        c.token_rate_limit_per_sec = 100;
        c.client_rate_limit_per_sec = 2;
        c.client_rate_limit_burst = 5;
        c.trusted_proxy_hops = 1;
    })
    .await;
    server.add_concert(1);
    let dir = tempdir("load-fairness");
    let mut fairness = args(
        &server,
        &dir,
        &[
            "--scenario",
            "fairness",
            "--attack-rate",
            "300",
            "--honest",
            "20",
        ],
    );
    fairness.seconds = 2;
    let report = load::run_fairness(fairness).await.unwrap();
    assert!(report.attacker.sent > 100, "{report:?}");
    assert_eq!(report.honest_with_token, 20, "{report:?}");
    // Its burst of 5 and 2 a second over the window (plus the window's rounding).
    assert!(report.attacker.new_places <= 5 + 2 * 3, "{report:?}");
    assert_eq!(
        report.attacker.new_places
            + report.attacker.same_token
            + report.attacker.rate_limited
            + report.attacker.other,
        report.attacker.sent
    );
    assert!(report
        .text()
        .contains("honest clients with a token: 20 of 20"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["honest_with_token"], 20);
}
