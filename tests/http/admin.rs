//! The admin API's envelope: its own listener, only with ADMIN_TOKEN; 401 without or with
//! a wrong token, 404 for an unknown concert, 400 INVALID_SETTING naming the setting, 405
//! for a wrong method; a refused change changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::onsale::{with_admin, ADMIN_TOKEN};
use crate::helpers::TestServer;

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
}

#[tokio::test]
async fn without_the_right_token_every_admin_request_is_401() {
    let server = TestServer::start("admin-auth", with_admin).await;
    server.add_concert(1).await;
    let wrong = format!("Bearer {ADMIN_TOKEN}x");
    for authorization in [
        None,
        Some("Bearer nope"),
        Some(wrong.as_str()),
        Some(ADMIN_TOKEN),
    ] {
        for (method, path) in [
            (Method::GET, "/admin/concerts/1/queue"),
            (Method::POST, "/admin/concerts/1/queue/pause"),
            (Method::GET, "/admin/anything"),
        ] {
            let answer = server
                .admin_as(authorization, method.clone(), path, None)
                .await;
            assert_error(&answer, 401, "UNAUTHENTICATED");
        }
    }
    assert_eq!(
        server.figures(1).await["state"],
        "OPEN",
        "nothing was paused"
    );
    // The public listener has no admin routes.
    let (status, _) = server
        .send(Method::GET, "/admin/concerts/1/queue", None, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn unknown_concerts_are_404_and_wrong_methods_405() {
    let server = TestServer::start("admin-404", with_admin).await;
    for (method, path, body) in [
        (Method::GET, "/admin/concerts/9/queue", None),
        (
            Method::PATCH,
            "/admin/concerts/9/queue",
            Some(json!({"maxActive": 3})),
        ),
        (Method::POST, "/admin/concerts/9/queue/pause", None),
        (Method::POST, "/admin/concerts/9/queue/open", None),
        (Method::DELETE, "/admin/concerts/9/queue/users/1", None),
    ] {
        let answer = server.admin(method, path, body).await;
        assert_error(&answer, 404, "CONCERT_NOT_FOUND");
    }
    let answer = server.admin(Method::GET, "/admin/concerts/9", None).await;
    assert_error(&answer, 404, "NOT_FOUND");
    let answer = server
        .admin(Method::PUT, "/admin/concerts/9/queue", None)
        .await;
    assert_error(&answer, 405, "METHOD_NOT_ALLOWED");
    let keys = server.written_keys().await;
    assert!(
        keys.is_empty(),
        "nothing written for an unknown concert: {keys:?}"
    );
}

#[tokio::test]
async fn settings_out_of_range_are_400_naming_the_setting_and_change_nothing() {
    let server = TestServer::start("admin-400", with_admin).await;
    server.add_concert(1).await;
    let before = server.figures(1).await;
    for (body, field) in [
        (json!({"admitPerSec": -5}), "admitPerSec"),
        (json!({"maxActive": 100_001}), "maxActive"),
        (json!({"maxActive": 5, "activeTtlSecs": 0}), "activeTtlSecs"),
        (json!({"idleTimeoutSecs": 3600}), "idleTimeoutSecs"),
        (json!({"paused": 1}), "paused"),
        (json!({"opensAt": "next friday"}), "opensAt"),
        (json!({"speed": 3}), "speed"),
    ] {
        let answer = server
            .admin(Method::PATCH, "/admin/concerts/1/queue", Some(body.clone()))
            .await;
        assert_error(&answer, 400, "INVALID_SETTING");
        let message = answer.1["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let answer = server
        .admin(Method::PATCH, "/admin/concerts/1/queue", Some(json!([1])))
        .await;
    assert_error(&answer, 400, "BAD_REQUEST");
    // A queue that took an entry has opened: opensAt, past or future, is refused.
    server.join_token(5, 1).await;
    let now = server.redis_now_ms().await;
    for at in [now - 60_000, now + 60_000] {
        let answer = server
            .admin(
                Method::PATCH,
                "/admin/concerts/1/queue",
                Some(json!({"opensAt": concert_queue::time::rfc3339_millis(at), "maxActive": 9})),
            )
            .await;
        assert_error(&answer, 400, "INVALID_SETTING");
        assert!(answer.1["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("opensAt"));
    }
    let after = server.figures(1).await;
    assert_eq!(after["settings"], before["settings"], "nothing changed");
    assert_eq!(after["ownSettings"], json!([]));
}

#[tokio::test]
async fn without_admin_token_there_is_no_admin_listener() {
    let server = TestServer::start("admin-off", |_| {}).await;
    assert!(server.admin_base.is_none());
    // `run` binds ADMIN_BIND_ADDR only with a token: a configuration without one starts
    // and serves with the admin port left alone.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = server.config.clone();
    config.admin_bind_addr = taken.local_addr().unwrap(); // binding it would fail
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(concert_queue::run(listener, config, async {
        let _ = stopped.await;
    }));
    let health = server
        .http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}
