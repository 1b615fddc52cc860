//! What a service's users expect around the API: request ids (taken or made, and echoed),
//! CORS for the configured origins only, and access-log lines in text or JSON.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{services, unique_prefix, TestServer, NO_MYSQL_URL};

#[tokio::test]
async fn a_request_id_is_echoed_when_given_and_made_when_not() {
    let server = TestServer::start("reqid", |_| {}).await;
    let given = server
        .http
        .get(server.url("/health"))
        .header("x-request-id", "abc-123_XYZ")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123_XYZ");
    let made = server.http.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(made.status(), 404);
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a UUID: {id}");
    // One too long to be a sane id is replaced, not echoed.
    let long = "x".repeat(200);
    let replaced = server
        .http
        .get(server.url("/health"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], long.as_str());
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let server = TestServer::start("cors-off", |_| {}).await;
    let answer = server
        .http
        .get(server.url("/api/concerts/ranking"))
        .header("origin", "https://tickets.example")
        .send()
        .await
        .unwrap();
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/api/queue/token"))
        .header("origin", "https://tickets.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405);
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn a_configured_origin_gets_preflights_and_headers_and_others_do_not() {
    let server = TestServer::start("cors-on", |c| {
        c.cors_allowed_origins = "https://tickets.example, http://127.0.0.1:3000".into()
    })
    .await;
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/api/queue/token"))
        .header("origin", "https://tickets.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://tickets.example");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(h.get("x-request-id").is_some());

    let answer = server
        .http
        .get(server.url("/api/queue/status"))
        .header("origin", "https://tickets.example")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "errors carry the CORS headers too");
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], "https://tickets.example");
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("retry-after") && exposed.contains("x-request-id"));

    let other = server
        .http
        .get(server.url("/api/queue/status"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_setting_that_names_no_origin_is_refused() {
    for bad in [
        "tickets.example",
        "https://tickets.example/path",
        "ftp://x.example",
        "*, https://a.example",
    ] {
        let err = concert_queue::Config::from_lookup(|name| {
            (name == "CORS_ALLOWED_ORIGINS").then(|| bad.to_string())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("CORS_ALLOWED_ORIGINS"),
            "{bad}: {err}"
        );
    }
}

/// Runs the real binary with `env`, waits for it to serve, sends one request with an id,
/// stops it with SIGTERM and returns every line it printed.
async fn serve_once(env: &[(&str, &str)]) -> Vec<String> {
    let redis_url = services::redis_url().await;
    let prefix = unique_prefix("accesslog");
    let mut child = Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .arg("serve")
        .env_clear()
        .envs([
            ("BIND_ADDR", "127.0.0.1:0"),
            ("REDIS_URL", redis_url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("MYSQL_URL", NO_MYSQL_URL),
            ("LOG_FORMAT", "json"),
        ])
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
        printed.push(line);
        if let Some(addr) = parsed["addr"].as_str() {
            break addr.to_string();
        }
    };
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/api/queue/status"))
        .header("x-request-id", "trace-me-42")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    sigterm(child.id());
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    assert!(child.wait().unwrap().success(), "stops cleanly on SIGTERM");
    printed.extend(reader.join().unwrap());
    crate::helpers::delete_prefix(&redis_url, &prefix);
    printed
}

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn each_request_gets_one_json_access_line_unless_turned_off() {
    let printed = serve_once(&[]).await;
    let access: Vec<serde_json::Value> = printed
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["target"] == "concert_queue::access")
        .collect();
    assert_eq!(access.len(), 1, "{printed:#?}");
    let line = &access[0];
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "GET /api/queue/status");
    assert_eq!(line["status"], 401);
    assert_eq!(line["request_id"], "trace-me-42");
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);

    let quiet = serve_once(&[("ACCESS_LOG", "off")]).await;
    assert!(
        !quiet.iter().any(|l| l.contains("concert_queue::access")),
        "{quiet:#?}"
    );
    assert!(
        quiet.iter().any(|l| l.contains("shutting down")),
        "{quiet:#?}"
    );
}
