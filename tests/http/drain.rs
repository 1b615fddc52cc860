//! Shutdown drains: from the signal on, `/health/ready` answers 503 while the listener
//! keeps accepting for `SHUTDOWN_READY_DELAY_SECS`; only then does the server stop.

use std::time::Duration;

use crate::helpers::TestServer;

#[tokio::test]
async fn ready_turns_503_first_and_the_listener_keeps_accepting_for_the_delay() {
    let mut server = TestServer::start("drain", |c| {
        c.shutdown_ready_delay = Duration::from_secs(3);
    })
    .await;
    server.add_concert(1).await;
    let ready = server.http.get(server.url("/health/ready")).send().await;
    assert_eq!(ready.unwrap().status(), 200);

    server.begin_shutdown();
    let body = loop {
        let resp = server
            .http
            .get(server.url("/health/ready"))
            .send()
            .await
            .expect("the listener still accepts");
        if resp.status() == 503 {
            break resp.json::<serde_json::Value>().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(body["reason"], "DRAINING");
    // New connections are still accepted and served while draining.
    let fresh = reqwest::Client::new();
    let live = fresh.get(server.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let (status, body) = server.join(1, 1).await;
    assert_eq!(status, 201, "{body}");

    let url = server.url("/health/live");
    server.stop().await.unwrap();
    let after = reqwest::Client::new().get(url).send().await;
    assert!(
        after.is_err(),
        "the listener is closed once the server stopped"
    );
}
