//! `AUTH_MODE=jwt`: the user is the verified JWT's `sub` on the routes that name a user
//! (joining a queue, the wallet); every malformed, forged, expired or wrongly signed JWT is
//! 401 UNAUTHENTICATED, never a 500; `none` stays v1 on loopback and is refused unset
//! anywhere else.

use reqwest::Method;
use serde_json::json;

use crate::helpers::jwt::{
    self, claims, hs256, hs256_with, jwt_server, raw, signed_by, AUDIENCE, ISSUER, SECRET,
};
use crate::helpers::TestServer;

/// Every route that takes a user JWT in jwt mode, as (method, path, body) for user 42.
fn user_routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    vec![
        (
            Method::POST,
            "/api/queue/token",
            Some(json!({"concertId": 1})),
        ),
        (Method::GET, "/api/users/42/balance", None),
        (
            Method::POST,
            "/api/users/42/balance/charge",
            Some(json!({"amount": 100})),
        ),
    ]
}

/// Attack (issue 10): "POST /api/queue/token {userId: Y} returns Y's live token" on main.
/// In jwt mode the user is the JWT's sub: another userId is 403, no JWT is 401, and the
/// victim's entry is untouched.
#[tokio::test]
async fn nobody_can_take_another_users_place_in_the_queue() {
    let (server, _jwks) = jwt_server("jwt-queue", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let victim = hs256(&claims("7"));
    let (status, mine) = server.join_as(&victim, json!({"concertId": 1})).await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(mine["userId"], 7, "the user is the JWT's sub");

    let attacker = hs256(&claims("666"));
    let (status, body) = server
        .join_as(&attacker, json!({"userId": 7, "concertId": 1}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert!(body.get("token").is_none());
    let (status, body) = server.join(7, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "no JWT at all"
    );

    // The victim's own JWT, with or without the matching userId, gets the same place.
    let (status, again) = server
        .join_as(&victim, json!({"userId": 7, "concertId": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["token"], mine["token"]);
    assert_eq!(again["position"], 1);
    // The queue token is the credential on its own routes, with no JWT.
    let st = server.status(mine["token"].as_str().unwrap()).await;
    assert_eq!(st["status"], "WAITING");
}

/// Attack (issue 10): "POST /api/users/{id}/balance/charge credits any user,
/// unauthenticated" on main. In jwt mode a wallet answers only to its own user's JWT.
#[tokio::test]
async fn a_wallet_answers_only_to_its_own_user() {
    let (server, _jwks) = jwt_server("jwt-wallet", |_| {}).await;
    let owner = hs256(&claims("42"));
    let other = hs256(&claims("43"));
    let charge = json!({"amount": 500});
    let path = "/api/users/42/balance/charge";
    let (status, body) = server
        .send(Method::POST, path, Some(&other), Some(charge.clone()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (status, body) = server
        .send(Method::POST, path, None, Some(charge.clone()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, body) = server
        .send(Method::GET, "/api/users/42/balance", Some(&other), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );

    let (status, body) = server
        .send(Method::POST, path, Some(&owner), Some(charge))
        .await;
    assert_eq!((status, body), (200, json!({"userId": 42, "balance": 500})));
    let (status, body) = server
        .send(Method::GET, "/api/users/42/balance", Some(&owner), None)
        .await;
    assert_eq!((status, body["balance"].as_u64()), (200, Some(500)));
    let outbox = server.outbox().await;
    assert_eq!(outbox.len(), 1, "only the owner's charge happened");
}

#[tokio::test]
async fn hs256_rs256_and_es256_tokens_and_a_rotated_key_are_all_accepted() {
    let (server, _jwks) = jwt_server("jwt-algorithms", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let tokens = [
        (1, hs256(&claims("1"))),
        (2, signed_by("rsa-1", &claims("2"))),
        (3, signed_by("ec-1", &claims("3"))),
        (4, signed_by("ec-2", &claims("4"))),
    ];
    for (user, token) in &tokens {
        let (status, body) = server.join_as(token, json!({"concertId": 1})).await;
        assert_eq!(
            (status, body["userId"].as_u64()),
            (201, Some(*user)),
            "{body}"
        );
    }
    // Within the 30 s leeway an expired token still passes.
    let mut late = claims("5");
    late["exp"] = json!(jwt::now() - 10);
    let (status, _) = server.join_as(&hs256(&late), json!({"concertId": 1})).await;
    assert_eq!(status, 201);
}

/// Bad input (issue 10): every malformed, forged, expired or wrongly signed JWT is 401
/// UNAUTHENTICATED on every route that takes one, never a 500, and changes nothing.
#[tokio::test]
async fn every_bad_jwt_is_401_unauthenticated_and_changes_nothing() {
    let (server, _jwks) = jwt_server("jwt-bad", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let good = claims("42");
    let rsa_public = jwt::key_file("rs256-public.pem");
    let ec_public = jwt::key_file("es256-public.pem");
    let with = |field: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let valid = hs256(&good);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut tampered_signature = signature.to_string();
    tampered_signature.replace_range(0..1, if signature.starts_with('A') { "B" } else { "A" });
    let huge_header = raw(
        &json!({"alg": "HS256", "typ": "JWT", "pad": "x".repeat(100 * 1024)}),
        &good,
        signature,
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            raw(&json!({"alg": "none", "typ": "JWT"}), &good, ""),
        ),
        ("alg None", raw(&json!({"alg": "None"}), &good, "")),
        (
            "HS256 signed with the RS256 public key, naming its kid",
            hs256_with(rsa_public.as_bytes(), Some("rsa-1"), &good),
        ),
        (
            "HS256 signed with the RS256 public key",
            hs256_with(rsa_public.as_bytes(), None, &good),
        ),
        (
            "HS256 signed with the ES256 public key, naming its kid",
            hs256_with(ec_public.as_bytes(), Some("ec-1"), &good),
        ),
        (
            "RS256 header on an ES256 key's kid",
            raw(&json!({"alg": "RS256", "kid": "ec-1"}), &good, signature),
        ),
        ("unknown kid", {
            let token = signed_by("ec-1", &good);
            let (_, rest) = token.split_once('.').unwrap();
            let header = raw(&json!({"alg": "ES256", "kid": "ec-9"}), &good, "");
            format!("{}.{rest}", header.split('.').next().unwrap())
        }),
        (
            "ES256 without a kid",
            raw(&json!({"alg": "ES256"}), &good, signature),
        ),
        ("sub not a number", hs256(&with("sub", json!("alice")))),
        ("sub zero", hs256(&with("sub", json!("0")))),
        ("sub negative", hs256(&with("sub", json!("-42")))),
        ("sub fractional", hs256(&with("sub", json!("4.2")))),
        (
            "sub past 2^53",
            hs256(&with("sub", json!("9007199254740992"))),
        ),
        ("sub as a JSON number", hs256(&with("sub", json!(42)))),
        ("no sub", hs256(&without("sub"))),
        ("no exp", hs256(&without("exp"))),
        ("exp a string", hs256(&with("exp", json!("tomorrow")))),
        (
            "expired past the leeway",
            hs256(&with("exp", json!(jwt::now() - 120))),
        ),
        (
            "not yet valid",
            hs256(&with("nbf", json!(jwt::now() + 3600))),
        ),
        (
            "wrong issuer",
            hs256(&with("iss", json!("https://evil.test"))),
        ),
        ("no issuer", hs256(&without("iss"))),
        ("wrong audience", hs256(&with("aud", json!("another-app")))),
        (
            "another secret",
            hs256_with(b"someone-elses-secret-of-32-bytes!!", None, &good),
        ),
        (
            "tampered payload",
            format!("{head}.{}.{signature}", {
                let forged = raw(&json!({}), &with("sub", json!("43")), "");
                forged.split('.').nth(1).unwrap().to_string()
            }),
        ),
        (
            "tampered signature",
            format!("{head}.{payload}.{tampered_signature}"),
        ),
        ("no signature", format!("{head}.{payload}")),
        ("garbage", "not-a-jwt".into()),
        ("empty", String::new()),
        ("a 100 KB header", huge_header),
        ("a queue token", "v1.1.42.1000000.1.c2lnbmF0dXJl".into()),
    ];
    for (what, token) in &cases {
        for (method, path, body) in user_routes() {
            let (status, reply) = server.send(method.clone(), path, Some(token), body).await;
            assert_eq!(
                (status, reply["error"]["code"].as_str()),
                (401, Some("UNAUTHENTICATED")),
                "{what} on {method} {path}: {reply}"
            );
        }
    }
    // Not even a Bearer: the right token under another scheme.
    let resp = server
        .http
        .post(server.url("/api/queue/token"))
        .header("Authorization", format!("Basic {valid}"))
        .json(&json!({"concertId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let mut conn = server.redis().await;
    let line: u64 = redis::cmd("ZCARD")
        .arg(server.keys().queue(1).line)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(line, 0, "nobody joined");
    assert!(server.outbox().await.is_empty(), "nothing was charged");
    // The good token works on the same server.
    let (status, _) = server.join_as(&valid, json!({"concertId": 1})).await;
    assert_eq!(status, 201);
}

/// Algorithm confusion again, on a server with no HS256 secret at all: an HS256 token made
/// with a JWKS public key is refused outright.
#[tokio::test]
async fn without_a_secret_no_hs256_token_is_accepted() {
    let (server, _jwks) = jwt_server("jwt-no-secret", |c| c.auth_jwt_secret = None).await;
    server.add_concert(1).await;
    for public in ["rs256-public.pem", "es256-public.pem"] {
        let pem = jwt::key_file(public);
        for kid in [None, Some("rsa-1"), Some("ec-1")] {
            let token = hs256_with(pem.as_bytes(), kid, &claims("42"));
            let (status, body) = server.join_as(&token, json!({"concertId": 1})).await;
            assert_eq!(status, 401, "{public} {kid:?}: {body}");
        }
    }
    let (status, _) = server
        .join_as(&signed_by("ec-1", &claims("42")), json!({"concertId": 1}))
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn none_mode_on_loopback_is_v1() {
    let server = TestServer::start("none-mode", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let (status, body) = server.join(9, 1).await;
    assert_eq!((status, body["userId"].as_u64()), (201, Some(9)));
    let (status, body) = server
        .post("/api/queue/token", json!({"concertId": 1}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "userId is required in none mode"
    );
}

fn serve_with(env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .arg("serve")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The contract: `serve` on a non-loopback address without AUTH_MODE refuses to start and
/// says why (before it binds anything); so does jwt mode without keys.
#[test]
fn serve_refuses_an_open_address_without_auth_mode_and_jwt_without_keys() {
    let output = serve_with(&[("BIND_ADDR", "0.0.0.0:1")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AUTH_MODE is not set") && stderr.contains("0.0.0.0:1"),
        "{stderr}"
    );
    let output = serve_with(&[("BIND_ADDR", "127.0.0.1:1"), ("AUTH_MODE", "jwt")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTH_JWT_SECRET"), "{stderr}");
}

#[tokio::test]
async fn run_refuses_an_open_address_without_auth_mode() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = crate::helpers::test_config("redis://127.0.0.1:1", "t:unused");
    config.bind_addr = "0.0.0.0:8080".parse().unwrap();
    let err = concert_queue::run(listener, config, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AUTH_MODE"), "{err}");
}

/// `concert-queue dev-jwt --sub 42` prints a token a jwt-mode server with the same
/// settings accepts for user 42.
#[tokio::test]
async fn dev_jwt_mints_a_token_the_server_accepts() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .args(["dev-jwt", "--sub", "42"])
        .env_clear()
        .env("AUTH_JWT_SECRET", SECRET)
        .env("AUTH_JWT_ISSUER", ISSUER)
        .env("AUTH_JWT_AUDIENCE", AUDIENCE)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let (server, _jwks) = jwt_server("dev-jwt", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    let (status, body) = server.join_as(&token, json!({"concertId": 1})).await;
    assert_eq!((status, body["userId"].as_u64()), (201, Some(42)), "{body}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .args(["dev-jwt", "--sub", "42"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success(), "no secret, no token");
}
