//! Hostile connections: bodies that never finish and answers nobody reads are cut off by
//! their deadlines, one client IP cannot hold more than its share of connections, and
//! other clients keep being served meanwhile; 405 answers name the allowed methods.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::TestServer;

/// A connection to `server` from the loopback address `from` (127.0.0.2, ...), so the
/// test's other clients (127.0.0.1) count as another IP.
async fn connect_from(from: [u8; 4], server: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind((from, 0).into()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Reads until the server closes the connection (EOF or a reset), with a bound so a
/// connection left open fails the test instead of hanging it; returns what was read.
async fn read_until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("{what}: the server left the connection open"),
        }
    }
}

/// The value of the counter `name` with `label` on the server's /metrics (0 when absent).
async fn counter(server: &TestServer, name: &str, label: &str) -> f64 {
    let text = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn slow_bodies_and_unread_answers_are_cut_off_while_others_are_served() {
    const SLOW_BODIES: usize = 200;
    const PER_IP: usize = 100;
    const UNREAD: usize = 20;
    let server = TestServer::start("hostile", |c| {
        c.max_connections = 150;
        c.max_connections_per_ip = PER_IP;
        c.request_read_timeout = Duration::from_secs(2);
        c.response_write_timeout = Duration::from_secs(2);
    })
    .await;
    server.add_concert(1).await;
    let addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let page = server
        .http
        .get(server.url("/book/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = page
        .split('"')
        .find(|part| part.starts_with("/assets/") && part.ends_with(".js"))
        .expect("the booking page links its script")
        .to_string();

    // Headers announcing 100 bytes of body, one byte of it, then nothing: more sockets
    // than one IP may hold.
    let mut slow = Vec::new();
    for _ in 0..SLOW_BODIES {
        let mut stream = connect_from([127, 0, 0, 2], addr, None).await;
        stream
            .write_all(
                b"POST /api/queue/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{",
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    // Pipelined requests for a large answer, from clients that never read a byte.
    let request = format!("GET {script} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut unread = Vec::new();
    for _ in 0..UNREAD {
        let mut stream = connect_from([127, 0, 0, 3], addr, Some(4096)).await;
        stream
            .write_all(request.repeat(1000).as_bytes())
            .await
            .unwrap();
        unread.push(stream);
    }

    // Another client is served all the while.
    for user in 1..=5 {
        let ready = server
            .http
            .get(server.url("/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let (status, body) = server.join(user, 1).await;
        assert_eq!(status, 201, "{body}");
    }

    // Every slow body ends: the ones over the per-IP cap closed at once, the others with a
    // 408 at the deadline; both see the connection closed.
    let mut timed_out = 0;
    for stream in &mut slow {
        let answer = read_until_closed(stream, "slow body").await;
        let text = String::from_utf8_lossy(&answer);
        if text.starts_with("HTTP/1.1 408") {
            assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
            timed_out += 1;
        } else {
            assert!(answer.is_empty(), "closed or 408, got {text:?}");
        }
    }
    assert_eq!(
        timed_out, PER_IP,
        "one IP holds at most its cap of connections"
    );

    // Every unread answer ends the connection at the write deadline.
    while counter(&server, "http_connections_closed_total", "write_timeout").await < UNREAD as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for stream in &mut unread {
        read_until_closed(stream, "unread answer").await;
    }
    let (status, body) = server.join(6, 1).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    let server = TestServer::start("allow", |_| {}).await;
    for (method, path, allow) in [
        ("GET", "/api/queue/token", "POST"),
        ("POST", "/api/queue/status", "GET, HEAD"),
        ("PUT", "/api/reservations/R1-1", "GET, HEAD, DELETE"),
        ("DELETE", "/health/ready", "GET, HEAD"),
    ] {
        let resp = server
            .http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn live_and_ready_answer_while_the_server_runs() {
    let server = TestServer::start("live-ready", |_| {}).await;
    for path in ["/health/live", "/health/ready"] {
        let resp = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "UP", "{path}");
    }
}
