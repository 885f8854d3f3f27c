use serde_json::json;
use shared::ids::{QueueId, UserId};
use shared::token::{QueueTicket, TokenCodec};
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};
use tests::{TEST_ADMIN_KEY, assert_problem};

#[tokio::test]
async fn tampered_foreign_and_missing_tokens_are_refused() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("auth", queue_config(10, 10, 600, 60))
        .await;
    let other_queue = app
        .create_queue("auth-other", queue_config(10, 10, 600, 60))
        .await;
    let token = app.join_token(&queue, "alice").await;
    let foreign = app.join_token(&other_queue, "alice").await;

    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_problem(
        app.heartbeat(&queue, "alice", &tampered).await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    assert_problem(
        app.heartbeat(&queue, "alice", "not-a-token").await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    assert_problem(
        app.heartbeat(&queue, "alice", &foreign).await,
        401,
        "TOKEN_INVALID",
    )
    .await;

    // Signed with another secret, as if forged by someone who guessed the format.
    let forged =
        TokenCodec::new(&"some-other-secret-0123456789".to_owned().into()).encode(&QueueTicket {
            queue_id: queue.clone(),
            user_id: UserId::parse("alice").unwrap(),
            seq: 1,
        });
    assert_problem(
        app.heartbeat(&queue, "alice", &forged).await,
        401,
        "TOKEN_INVALID",
    )
    .await;

    let missing = app
        .client
        .post(app.url(&format!("/v1/queues/{queue}/heartbeat")))
        .header("X-User-Id", "alice")
        .send()
        .await
        .unwrap();
    assert_problem(missing, 401, "TOKEN_MISSING").await;

    assert_problem(
        app.heartbeat(&queue, "mallory", &token).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    assert_problem(
        app.leave(&queue, "mallory", &token).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;
    assert_problem(
        app.leave(&queue, "alice", &tampered).await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    // None of that cost alice her place.
    assert_eq!(app.heartbeat(&queue, "alice", &token).await.status(), 200);
}

#[tokio::test]
async fn a_stale_token_from_an_earlier_place_is_gone() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("stale", queue_config(10, 10, 600, 60))
        .await;
    let old = app.join_token(&queue, "bob").await;
    assert_eq!(app.leave(&queue, "bob", &old).await.status(), 204);
    let new = app.join_token(&queue, "bob").await;
    assert_ne!(old, new);
    assert_problem(
        app.heartbeat(&queue, "bob", &old).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_eq!(app.heartbeat(&queue, "bob", &new).await.status(), 200);
}

#[tokio::test]
async fn user_identity_is_required_and_validated() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("identity", queue_config(10, 10, 600, 60))
        .await;
    let missing = app
        .client
        .post(app.url(&format!("/v1/queues/{queue}/tokens")))
        .send()
        .await
        .unwrap();
    assert_problem(missing, 401, "USER_ID_MISSING").await;
    for bad in ["has space", "a:b", "{tag}", &"x".repeat(65)] {
        assert_problem(app.issue(&queue, bad).await, 401, "USER_ID_INVALID").await;
    }
}

#[tokio::test]
async fn admin_calls_need_the_admin_key() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let url = app.url("/v1/admin/queues/t-admin-key");
    let body = json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10});
    let none = app.client.put(&url).json(&body).send().await.unwrap();
    assert_problem(none, 401, "ADMIN_UNAUTHORIZED").await;
    let wrong = app
        .client
        .put(&url)
        .bearer_auth("wrong-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401, "ADMIN_UNAUTHORIZED").await;
    let basic = app
        .client
        .put(&url)
        .basic_auth("admin", Some(TEST_ADMIN_KEY))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "ADMIN_UNAUTHORIZED").await;
}

#[tokio::test]
async fn malformed_or_out_of_bounds_queue_settings_are_400() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = QueueId::parse(&format!("t-bounds-{}", tests::unique_suffix())).unwrap();
    let valid = json!({"max_active": 5, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10});
    let cases = [
        (
            json!({"max_active": 0, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10}),
            "INVALID_QUEUE_CONFIG",
        ),
        (
            json!({"max_active": 5, "admit_per_second": 0, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10}),
            "INVALID_QUEUE_CONFIG",
        ),
        (
            json!({"max_active": 5, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 3601}),
            "INVALID_QUEUE_CONFIG",
        ),
        (
            json!({"max_active": 5.5, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10}),
            "MALFORMED_JSON",
        ),
        (
            json!({"max_active": -1, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10}),
            "MALFORMED_JSON",
        ),
        (
            json!({"max_active": "many", "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10}),
            "MALFORMED_JSON",
        ),
        (json!({"max_active": 5}), "MALFORMED_JSON"),
        (
            json!({"max_active": 5, "admit_per_second": 2, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 10, "typo": 1}),
            "MALFORMED_JSON",
        ),
    ];
    for (body, code) in cases {
        assert_problem(app.put_queue(&queue, &body).await, 400, code).await;
    }
    let not_json = app
        .client
        .put(app.url(&format!("/v1/admin/queues/{queue}")))
        .bearer_auth(TEST_ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 400, "MALFORMED_JSON").await;
    let bad_id = app
        .client
        .put(app.url("/v1/admin/queues/bad%20id"))
        .bearer_auth(TEST_ADMIN_KEY)
        .json(&valid)
        .send()
        .await
        .unwrap();
    assert_problem(bad_id, 400, "INVALID_PATH").await;
    // Nothing was half-created by the refused calls.
    assert_problem(app.get_stats(&queue).await, 404, "QUEUE_NOT_FOUND").await;
}

#[tokio::test]
async fn unknown_queues_routes_and_methods_are_problems() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    assert_problem(
        app.issue(&QueueId::parse("t-never-created").unwrap(), "u1")
            .await,
        404,
        "QUEUE_NOT_FOUND",
    )
    .await;
    let unknown = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404, "NOT_FOUND").await;
    let wrong_method = app
        .client
        .patch(app.url("/v1/queues/anything"))
        .send()
        .await
        .unwrap();
    assert_problem(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn updating_a_queue_answers_200_and_takes_effect() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("update", queue_config(10, 10, 600, 60))
        .await;
    let response = app
        .put_queue(&queue, &json!({"max_active": 3, "admit_per_second": 7, "active_ttl_seconds": 600, "heartbeat_ttl_seconds": 60}))
        .await;
    assert_eq!(response.status(), 200);
    let stats = app.stats(&queue).await;
    assert_eq!(stats["max_active"], 3);
    assert_eq!(stats["admit_per_second"], 7);
    assert_eq!(stats["queue_id"], queue.as_str());
}
