//! A virtual user's set-up, before the measured window: join a concert's queue and, when
//! the scenario views seats, poll until ACTIVE. Nothing here is recorded.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{Answer, Call, Connection};

/// How long set-up waits between polls, and after a 429.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// One virtual user: who they are and the queue token they hold.
#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: u64,
    pub concert_id: u64,
    pub token: Option<String>,
    pub active: bool,
}

/// The JSON body of an answer, or Null.
pub fn body_json(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

/// `POST /api/queue/token` for a user; with `--jwt-secret`, carrying the user's JWT.
pub fn token_call(user_id: u64, concert_id: u64) -> Call<'static> {
    let call = Call::post(
        "/api/queue/token".into(),
        json!({"userId": user_id, "concertId": concert_id}).to_string(),
    );
    crate::identity::signed_in(call, user_id)
}

/// Joins the queue (retrying 429s) and, if `want_active`, polls until ACTIVE; gives up at
/// `give_up`, leaving the session without a token or not active.
pub async fn open(
    conn: &mut Connection,
    user_id: u64,
    concert_id: u64,
    want_active: bool,
    give_up: Instant,
) -> Session {
    let mut session = Session {
        user_id,
        concert_id,
        token: None,
        active: false,
    };
    while Instant::now() < give_up {
        match conn.send(token_call(user_id, concert_id)).await {
            Ok(answer) if answer.status == 200 || answer.status == 201 => {
                let body = body_json(&answer);
                session.token = body["token"].as_str().map(str::to_owned);
                session.active = body["status"] == "ACTIVE";
                break;
            }
            _ => tokio::time::sleep(POLL_EVERY).await,
        }
    }
    if want_active {
        wait_until_active(conn, &mut session, give_up).await;
    }
    session
}

/// Polls the queue status until ACTIVE, EXPIRED or `give_up`.
pub async fn wait_until_active(conn: &mut Connection, session: &mut Session, give_up: Instant) {
    let Some(token) = session.token.clone() else {
        return;
    };
    while !session.active && Instant::now() < give_up {
        tokio::time::sleep(POLL_EVERY).await;
        let call = Call::get("/api/queue/status".into()).with_bearer(&token);
        if let Ok(answer) = conn.send(call).await {
            match body_json(&answer)["status"].as_str() {
                Some("ACTIVE") => session.active = true,
                Some("EXPIRED") => return,
                _ => {}
            }
        }
    }
}
