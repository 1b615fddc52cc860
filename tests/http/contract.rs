//! The HTTP envelope: 404/405/400/413/429, JSON errors, health and metrics.

use std::time::Duration;

use crate::helpers::TestServer;
use serde_json::json;

fn assert_error(status: u16, body: &serde_json::Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let server = TestServer::start("routes", |_| {}).await;
    let resp = server
        .http
        .get(server.url("/api/nothing"))
        .send()
        .await
        .unwrap();
    let (s, b) = crate::helpers::split(resp).await;
    assert_error(s, &b, 404, "NOT_FOUND");
    let resp = server
        .http
        .delete(server.url("/api/queue/token"))
        .send()
        .await
        .unwrap();
    let (s, b) = crate::helpers::split(resp).await;
    assert_error(s, &b, 405, "METHOD_NOT_ALLOWED");
    let resp = server
        .http
        .post(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn malformed_or_mistyped_bodies_are_400_and_change_nothing() {
    let server = TestServer::start("bad-input", |_| {}).await;
    server.add_concert(1).await;
    let cases = [
        json!({}),
        json!({"userId": 1}),
        json!({"userId": "1", "concertId": 1}),
        json!({"userId": -1, "concertId": 1}),
        json!({"userId": 0, "concertId": 1}),
        json!({"userId": 1, "concertId": 0}),
        json!({"userId": 1.5, "concertId": 1}),
        json!({"userId": 9007199254740992u64, "concertId": 1}),
        json!([1, 2]),
    ];
    for case in cases {
        let (s, b) = server.post("/api/queue/token", case.clone()).await;
        assert_eq!(s, 400, "{case} gave {b}");
        assert_error(s, &b, 400, "BAD_REQUEST");
    }
    let resp = server
        .http
        .post(server.url("/api/queue/token"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (s, b) = crate::helpers::split(resp).await;
    assert_error(s, &b, 400, "BAD_REQUEST");

    let mut conn = server.redis().await;
    let waiting: u64 = redis::cmd("ZCARD")
        .arg(server.keys().queue(1).line)
        .query_async(&mut conn)
        .await
        .unwrap();
    let active: u64 = redis::cmd("ZCARD")
        .arg(server.keys().queue(1).active)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((waiting, active), (0, 0), "nothing entered the queue");
}

#[tokio::test]
async fn bodies_over_16_kib_are_413() {
    let server = TestServer::start("too-large", |_| {}).await;
    let padding = "x".repeat(17 * 1024);
    let (s, b) = server
        .post(
            "/api/queue/token",
            json!({"userId": 1, "concertId": 1, "pad": padding}),
        )
        .await;
    assert_error(s, &b, 413, "PAYLOAD_TOO_LARGE");
    // Without a Content-Length (chunked), the cap still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 1024])).collect();
    let resp = server
        .http
        .post(server.url("/api/queue/token"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn a_burst_over_the_issuance_limit_gets_429_with_retry_after_never_5xx() {
    let server = TestServer::start("burst", |c| {
        c.token_rate_limit_per_sec = 5;
        c.queue_max_active = 0;
    })
    .await;
    server.add_concert(1).await;
    let requests = (1..=60u64).map(|u| {
        let http = server.http.clone();
        let url = server.url("/api/queue/token");
        async move {
            http.post(url)
                .json(&json!({"userId": u, "concertId": 1}))
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut limited = 0;
    for resp in responses {
        match resp.status().as_u16() {
            201 => created += 1,
            429 => {
                let retry: u64 = resp.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                let (_, body) = crate::helpers::split(resp).await;
                assert_eq!(body["error"]["code"], "RATE_LIMITED");
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        (5..=10).contains(&created),
        "about one second's quota admitted: {created}"
    );
    assert_eq!(created + limited, 60);
    // Other routes are not limited.
    let resp = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn health_and_metrics_report_the_engine() {
    let server = TestServer::start("ops", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    server.join_token(1, 1).await;
    let resp = server.http.get(server.url("/health")).send().await.unwrap();
    let (s, body) = crate::helpers::split(resp).await;
    // This server has no MySQL: the hot path is up, the catalog is not.
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "DEGRADED");
    assert_eq!(body["redis"]["status"], "UP");
    assert_eq!(body["mysql"]["status"], "DOWN");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{route="POST /api/queue/token",status="201"}"#),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("queue_waiting{concert=\"1\"}"));
    assert!(text.contains("queue_admissions_total"));
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let server = TestServer::start("shutdown", |_| {}).await;
    let url = server.url("/health");
    server.stop().await.unwrap();
    let client = reqwest::Client::new();
    assert!(
        client.get(url).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let server = TestServer::start("drain", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let url = server.url("/api/queue/token");
    // The body arrives in two halves, 400 ms apart; shutdown is signalled in between.
    let body = r#"{"userId": 1, "concertId": 1}"#.as_bytes();
    let (head, tail) = (body[..10].to_vec(), body[10..].to_vec());
    let stream = futures::stream::unfold(0, move |step| {
        let (head, tail) = (head.clone(), tail.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(head), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    Some((Ok(tail), 2))
                }
                _ => None,
            }
        }
    });
    let http = server.http.clone();
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stopped = tokio::spawn(server.stop());
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(resp.status(), 201);
    stopped.await.unwrap().unwrap();
}
