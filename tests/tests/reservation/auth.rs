//! In JWT mode nobody reaches a seat or a balance as someone else: not with
//! another user's queue token, not with a token signed by another key, not
//! with an `X-User-Id` header.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tests::assert_problem;
use tests::auth::jwt_auth;
use tests::reservation_app::{ReservationAppOptions, spawn_reservation_app_with};

fn forged(user: &str) -> String {
    let claims = json!({"sub": user, "exp": jsonwebtoken::get_current_timestamp() + 60});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"not-the-services-secret-0123456789").unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_stolen_queue_token_or_a_forged_jwt_reaches_no_seat_and_no_balance() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        auth: jwt_auth(),
        ..ReservationAppOptions::default()
    })
    .await;
    let (schedule, seat) = app.one_open_seat(1_000).await;
    let alice_token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;

    // Mallory, signed in as herself, with Alice's queue token.
    assert_problem(
        app.hold("mallory", &alice_token, schedule, seat).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    // A token signed with another key, claiming to be Alice.
    let as_alice = app
        .client
        .post(app.url("/v1/reservations"))
        .bearer_auth(forged("alice"))
        .header("X-Queue-Token", &alice_token)
        .json(&json!({"schedule_id": schedule, "seat_id": seat}))
        .send()
        .await
        .unwrap();
    assert_problem(as_alice, 401, "JWT_SIGNATURE_INVALID").await;
    for request in [
        app.client.get(app.url("/v1/users/me/balance")),
        app.client
            .post(app.url("/v1/users/me/balance/charges"))
            .header("Idempotency-Key", "k")
            .json(&json!({"amount": 1})),
    ] {
        let response = request.bearer_auth(forged("alice")).send().await.unwrap();
        assert_problem(response, 401, "JWT_SIGNATURE_INVALID").await;
    }
    // The gateway header means nothing to a JWT-mode service.
    let by_header = app
        .client
        .get(app.url("/v1/users/me/balance"))
        .header("X-User-Id", "alice")
        .send()
        .await
        .unwrap();
    assert_problem(by_header, 401, "JWT_MISSING").await;
    // Mallory's own valid JWT beside a header naming Alice reads Mallory's.
    let mixed = app
        .as_user(app.client.get(app.url("/v1/users/me/balance")), "mallory")
        .header("X-User-Id", "alice")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = mixed.json().await.unwrap();
    assert_eq!(
        (body["user_id"].as_str(), body["balance"].as_i64()),
        (Some("mallory"), Some(0))
    );

    // Alice herself still books and pays.
    let reservation = app.hold_ok("alice", &alice_token, schedule, seat).await;
    assert_problem(
        app.pay("mallory", &alice_token, reservation, "steal").await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    assert_eq!(
        app.pay("alice", &alice_token, reservation, "pay")
            .await
            .status(),
        200
    );
    assert_eq!(app.balance("alice").await, 4_000);
    app.assert_invariants().await;
}
