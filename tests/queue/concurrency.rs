//! 1,000 buyers joining at once get 1,000 distinct, gap-free positions.

use crate::helpers::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_simultaneous_joins_get_gap_free_positions() {
    // About outcomes, not latency: on a busy machine 1,000 scripts at once can queue past
    // the harness's 500 ms Redis bound, which would turn into clean 503s.
    let server = TestServer::start("thousand", |c| {
        c.queue_max_active = 0;
        c.redis_timeout = std::time::Duration::from_secs(5);
    })
    .await;
    server.add_concert(1).await;
    // Many connections: one client per 10 buyers, each request on its own task.
    let clients: Vec<reqwest::Client> = (0..100).map(|_| reqwest::Client::new()).collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (1..=1000u64)
        .map(|user| {
            let client = clients[(user % 100) as usize].clone();
            let url = server.url("/api/queue/token");
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let resp = client
                    .post(url)
                    .json(&json!({"userId": user, "concertId": 1}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap();
                (user, status, body)
            })
        })
        .collect();
    let mut positions = Vec::new();
    let mut by_seq = Vec::new();
    let signer = concert_queue::queue::TokenSigner::new(server.config.token_secret.as_bytes());
    for task in tasks {
        let (user, status, body) = task.await.unwrap();
        assert_eq!(status, 201, "user {user}: {body}");
        let position = body["position"].as_u64().unwrap();
        positions.push(position);
        let claims = signer.verify(body["token"].as_str().unwrap()).unwrap();
        by_seq.push((claims.seq, position));
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=1000).collect::<Vec<u64>>());
    // Positions follow the queue sequence exactly.
    by_seq.sort_unstable();
    let ordered: Vec<u64> = by_seq.iter().map(|&(_, p)| p).collect();
    assert_eq!(ordered, (1..=1000).collect::<Vec<u64>>());
}
