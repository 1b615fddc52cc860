//! The server starts on port 0, answers health, and stops cleanly.
use crate::helpers::TestServer;

#[tokio::test]
async fn server_answers_health_and_stops_cleanly() {
    let server = TestServer::start("smoke", |_| {}).await;
    let resp = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    server.stop().await.unwrap();
}
