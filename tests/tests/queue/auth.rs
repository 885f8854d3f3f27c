//! Who the caller is: bearer JWTs verified by the service (the default),
//! or `X-User-Id` from an authenticating gateway in trusted-header mode.

use std::path::PathBuf;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::auth::{AuthMode, AuthSettings};
use tests::auth::{TEST_JWT_SECRET, jwt_auth, trusted_header_auth};
use tests::queue_app::{QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app};
use tests::{assert_problem, unique_suffix};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/jwt")
        .join(name)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(algorithm: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()).unwrap(),
        None,
        claims,
    )
}

async fn jwt_app(auth: AuthSettings) -> TestQueueApp {
    spawn_queue_app(QueueAppOptions {
        auth,
        ..QueueAppOptions::without_scheduler()
    })
    .await
}

/// Joins `queue` with the given Authorization value (and extra headers).
async fn join_with(
    app: &TestQueueApp,
    queue: &shared::ids::QueueId,
    authorization: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/queues/{queue}/tokens")));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_jwt_identifies_its_subject_even_beside_an_x_user_id() {
    let app = jwt_app(jwt_auth()).await;
    let queue = app.create_queue("jwt", queue_config(5, 5, 600, 60)).await;
    let token = hs256(&json!({"sub": "alice", "exp": now() + 60}));
    let response = join_with(
        &app,
        &queue,
        Some(&format!("Bearer {token}")),
        &[("X-User-Id", "mallory")],
    )
    .await;
    assert_eq!(response.status(), 201);
    let status: Value = response.json().await.unwrap();
    let ticket = tests::reservation_app::test_codec()
        .decode(status["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        ticket.user_id.as_str(),
        "alice",
        "the JWT's subject, never the header's"
    );
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_its_own_code() {
    let app = jwt_app(AuthSettings {
        jwt_issuer: Some("https://id.example".to_owned()),
        jwt_audience: Some("tickets".to_owned()),
        ..jwt_auth()
    })
    .await;
    let queue = app
        .create_queue("jwt-bad", queue_config(5, 5, 600, 60))
        .await;
    let t = now();
    let good =
        json!({"sub": "alice", "exp": t + 60, "iss": "https://id.example", "aud": "tickets"});
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        format!("Bearer {}", hs256(&claims))
    };
    let alg_none = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "Bearer {}.{}.",
            b64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
            b64.encode(good.to_string())
        )
    };
    let rs256 = format!(
        "Bearer {}",
        sign(
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(&std::fs::read(fixture("rs256-private.pem")).unwrap())
                .unwrap(),
            None,
            &good,
        )
    );
    let other_secret = format!(
        "Bearer {}",
        sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another-secret-0123456789-0123456789").unwrap(),
            None,
            &good,
        )
    );
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "JWT_MISSING"),
        (Some("Basic YWxpY2U6cHc=".to_owned()), "JWT_MISSING"),
        (Some("Bearer not.a.jwt".to_owned()), "JWT_MALFORMED"),
        (Some(alg_none), "JWT_ALGORITHM_REFUSED"),
        (Some(rs256), "JWT_ALGORITHM_REFUSED"),
        (Some(other_secret), "JWT_SIGNATURE_INVALID"),
        (Some(with(json!({"exp": t - 120}))), "JWT_EXPIRED"),
        (Some(with(json!({"nbf": t + 120}))), "JWT_NOT_YET_VALID"),
        (
            Some(with(json!({"iss": "https://evil.example"}))),
            "JWT_ISSUER_INVALID",
        ),
        (
            Some(with(json!({"aud": "somebody-else"}))),
            "JWT_AUDIENCE_INVALID",
        ),
        (
            Some(with(json!({"sub": "not a valid id"}))),
            "JWT_SUBJECT_INVALID",
        ),
    ];
    for (authorization, code) in cases {
        let response = join_with(&app, &queue, authorization.as_deref(), &[]).await;
        assert_problem(response, 401, code).await;
    }
    assert_eq!(
        app.stats(&queue).await["waiting"],
        0,
        "no refused caller got a place"
    );
}

#[tokio::test]
async fn rs256_public_keys_and_es256_jwks_are_accepted() {
    let rs_app = jwt_app(AuthSettings {
        mode: AuthMode::Jwt,
        jwt_public_key_file: Some(fixture("rs256-public.pem").to_str().unwrap().to_owned()),
        ..AuthSettings::default()
    })
    .await;
    let queue = rs_app.create_queue("rs", queue_config(5, 5, 600, 60)).await;
    let rs_key =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rs256-private.pem")).unwrap()).unwrap();
    let token = sign(
        Algorithm::RS256,
        &rs_key,
        None,
        &json!({"sub": "carol", "exp": now() + 60}),
    );
    let response = join_with(&rs_app, &queue, Some(&format!("Bearer {token}")), &[]).await;
    assert_eq!(response.status(), 201);
    // An HS256 token "signed" with the public key as its secret: the
    // classic confusion attack.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&std::fs::read(fixture("rs256-public.pem")).unwrap()).unwrap(),
        None,
        &json!({"sub": "carol", "exp": now() + 60}),
    );
    assert_problem(
        join_with(&rs_app, &queue, Some(&format!("Bearer {confused}")), &[]).await,
        401,
        "JWT_ALGORITHM_REFUSED",
    )
    .await;

    let es_key =
        EncodingKey::from_ec_pem(&std::fs::read(fixture("es256-private.pem")).unwrap()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&es_key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("key-2026".to_owned());
    let jwks_path = std::env::temp_dir().join(format!("jwks-{}.json", unique_suffix()));
    std::fs::write(
        &jwks_path,
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    let es_app = jwt_app(AuthSettings {
        mode: AuthMode::Jwt,
        jwt_jwks_file: Some(jwks_path.to_str().unwrap().to_owned()),
        ..AuthSettings::default()
    })
    .await;
    std::fs::remove_file(&jwks_path).unwrap();
    let queue = es_app.create_queue("es", queue_config(5, 5, 600, 60)).await;
    let claims = json!({"sub": "dave", "exp": now() + 60});
    let token = sign(Algorithm::ES256, &es_key, Some("key-2026"), &claims);
    let response = join_with(&es_app, &queue, Some(&format!("Bearer {token}")), &[]).await;
    assert_eq!(response.status(), 201);
    let unknown_kid = sign(Algorithm::ES256, &es_key, Some("key-1999"), &claims);
    assert_problem(
        join_with(&es_app, &queue, Some(&format!("Bearer {unknown_kid}")), &[]).await,
        401,
        "JWT_KEY_UNKNOWN",
    )
    .await;
}

#[tokio::test]
async fn the_development_sign_in_mints_working_tokens_only_when_enabled() {
    let app = jwt_app(jwt_auth()).await;
    let queue = app.create_queue("dev", queue_config(5, 5, 600, 60)).await;
    let signed_in: Value = app
        .client
        .post(app.url("/v1/dev/sign-in"))
        .json(&json!({"user_id": "erin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(signed_in["token_type"], "Bearer");
    assert_eq!(signed_in["expires_in"], 900);
    let bearer = format!("Bearer {}", signed_in["access_token"].as_str().unwrap());
    assert_eq!(
        join_with(&app, &queue, Some(&bearer), &[]).await.status(),
        201
    );

    let off = jwt_app(AuthSettings {
        dev_signin: false,
        ..jwt_auth()
    })
    .await;
    let response = off
        .client
        .post(off.url("/v1/dev/sign-in"))
        .json(&json!({"user_id": "erin"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn trusted_header_mode_keeps_the_x_user_id_contract_and_refuses_it_twice() {
    let app = jwt_app(trusted_header_auth()).await;
    let queue = app.create_queue("hdr", queue_config(5, 5, 600, 60)).await;
    assert_eq!(
        join_with(&app, &queue, None, &[("X-User-Id", "frank")])
            .await
            .status(),
        201
    );
    assert_problem(
        join_with(&app, &queue, None, &[]).await,
        401,
        "USER_ID_MISSING",
    )
    .await;
    assert_problem(
        join_with(&app, &queue, None, &[("X-User-Id", "bad id")]).await,
        401,
        "USER_ID_INVALID",
    )
    .await;
    let twice = app
        .client
        .post(app.url(&format!("/v1/queues/{queue}/tokens")))
        .header("X-User-Id", "alice")
        .header("X-User-Id", "bob")
        .send()
        .await
        .unwrap();
    assert_problem(twice, 400, "HEADER_REPEATED").await;
    let token = app.join_token(&queue, "frank").await;
    let twice = app
        .client
        .post(app.url(&format!("/v1/queues/{queue}/heartbeat")))
        .header("X-User-Id", "frank")
        .header("X-Queue-Token", &token)
        .header("X-Queue-Token", &token)
        .send()
        .await
        .unwrap();
    assert_problem(twice, 400, "HEADER_REPEATED").await;
}

#[tokio::test]
async fn another_users_queue_token_gets_nothing_in_jwt_mode() {
    let app = jwt_app(jwt_auth()).await;
    let queue = app.create_queue("steal", queue_config(5, 5, 600, 60)).await;
    let alice_token = app.join_token(&queue, "alice").await;
    // Mallory, authenticated as herself, replays Alice's queue token.
    assert_problem(
        app.heartbeat(&queue, "mallory", &alice_token).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    assert_problem(
        app.leave(&queue, "mallory", &alice_token).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    assert_eq!(
        app.heartbeat(&queue, "alice", &alice_token).await.status(),
        200
    );
}
