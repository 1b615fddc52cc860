//! Connection-level protections: the open-connection cap, the header read timeout, and
//! garbage requests that must never produce a 5xx.

use std::time::Duration;

use crate::helpers::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn host(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

async fn read_some(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        Ok(Err(_)) => Some(Vec::new()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = TestServer::start("conn-cap", |c| c.max_connections = 2).await;
    let addr = host(&server);
    let first = TcpStream::connect(&addr).await.unwrap();
    let _second = TcpStream::connect(&addr).await.unwrap();
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_some(&mut third, Duration::from_millis(300))
            .await
            .is_none(),
        "the third connection is not served while two are open"
    );
    drop(first);
    let answer = read_some(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot frees");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = TestServer::start("slowloris", |c| {
        c.header_read_timeout = Duration::from_millis(300)
    })
    .await;
    let mut stream = TcpStream::connect(host(&server)).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_some(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server closes the connection");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "closed or 408, got {text:?}"
    );
}

#[tokio::test]
async fn garbage_requests_never_produce_a_5xx() {
    let server = TestServer::start("garbage", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let bodies = [
        "",
        "null",
        "{}",
        "[]",
        "\"x\"",
        "{\"userId\":null,\"concertId\":1}",
        "{\"userId\":1e400,\"concertId\":1}",
        "{\"userId\":1,\"concertId\":1,\"userId\":2}",
        "{\"userId\":18446744073709551616,\"concertId\":1}",
        "\u{0}\u{1}\u{2}",
        "{\"userId\":1,\"concertId\":\"1\"}",
    ];
    for body in bodies {
        let resp = server
            .http
            .post(server.url("/api/queue/token"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_client_error(),
            "{body:?} gave {}",
            resp.status()
        );
    }
    let paths = [
        "/api/queue/status?x=%ff",
        "/api//queue/token",
        "/api/queue/token/../status",
        "/%2e%2e/health",
        "/api/queue/status/extra",
    ];
    for path in paths {
        let resp = server.http.get(server.url(path)).send().await.unwrap();
        assert!(
            resp.status().as_u16() < 500,
            "{path} gave {}",
            resp.status()
        );
    }
    for method in ["PUT", "PATCH", "OPTIONS", "TRACE"] {
        let resp = server
            .http
            .request(method.parse().unwrap(), server.url("/api/queue/token"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
    }
    let resp = server
        .http
        .head(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
