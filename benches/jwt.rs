//! What `AUTH_MODE=jwt` adds to a request: verifying the user JWT (src/auth/jwt.rs) for
//! HS256, ES256 and RS256, and refusing a forged one, with the test-only keys of
//! tests/helpers/keys/.
//!
//!   cargo bench --bench jwt                # full run
//!   cargo bench --bench jwt -- --quick     # a short one

use std::hint::black_box;

use concert_queue::auth::jwt::sign_hs256;
use concert_queue::auth::JwtVerifier;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &[u8] = b"bench-jwt-secret-of-at-least-32-bytes!";
const ISSUER: &str = "https://login.bench";
const AUDIENCE: &str = "concert-queue";

fn key(kid: &str) -> (Algorithm, EncodingKey) {
    match kid {
        "rsa-1" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(include_bytes!("../tests/helpers/keys/rs256-private.pem"))
                .unwrap(),
        ),
        _ => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(include_bytes!("../tests/helpers/keys/es256-private.pem"))
                .unwrap(),
        ),
    }
}

fn signed_by(kid: &str, exp: u64) -> String {
    let (alg, key) = key(kid);
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = serde_json::json!({"sub": "4242424", "exp": exp, "iss": ISSUER, "aud": AUDIENCE});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn verification(c: &mut Criterion) {
    let jwks = JwkSet {
        keys: ["rsa-1", "ec-1"]
            .iter()
            .map(|kid| {
                let (alg, key) = key(kid);
                let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect(),
    };
    let verifier = JwtVerifier::new(
        Some(SECRET),
        Some(&serde_json::to_string(&jwks).unwrap()),
        Some(ISSUER),
        Some(AUDIENCE),
    )
    .unwrap();
    let exp = jsonwebtoken::get_current_timestamp() + 24 * 3600;
    let hs256 = sign_hs256(SECRET, 4_242_424, exp, Some(ISSUER), Some(AUDIENCE)).unwrap();
    let es256 = signed_by("ec-1", exp);
    let rs256 = signed_by("rsa-1", exp);
    for token in [&hs256, &es256, &rs256] {
        assert_eq!(verifier.verify(token).unwrap(), 4_242_424);
    }
    let forged = sign_hs256(b"another-secret-of-at-least-32-bytes", 1, exp, None, None).unwrap();
    assert!(verifier.verify(&forged).is_err());

    let mut group = c.benchmark_group("jwt/verify");
    for (name, token) in [
        ("HS256", &hs256),
        ("ES256", &es256),
        ("RS256", &rs256),
        ("HS256 forged", &forged),
    ] {
        group.bench_function(name, |b| b.iter(|| verifier.verify(black_box(token))));
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
