//! Every error path answers application/problem+json with a stable code.

use serde_json::json;
use shared::ids::{QueueId, UserId};
use shared::token::{QueueTicket, TokenCodec};
use tests::assert_problem;
use tests::reservation_app::spawn_reservation_app;
use tests::{TEST_ADMIN_KEY, unique_suffix};

#[tokio::test]
async fn gated_calls_without_credentials_are_401() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let token = app.activate("alice").await;
    let hold = json!({ "schedule_id": schedule, "seat_id": seat });

    let no_user = app
        .client
        .post(app.url("/v1/reservations"))
        .header("X-Queue-Token", &token)
        .json(&hold)
        .send()
        .await
        .unwrap();
    assert_problem(no_user, 401, "USER_ID_MISSING").await;

    let bad_user = app.hold("not a user id!", &token, schedule, seat).await;
    assert_problem(bad_user, 401, "USER_ID_INVALID").await;

    let no_token = app
        .client
        .post(app.url("/v1/reservations"))
        .header("X-User-Id", "alice")
        .json(&hold)
        .send()
        .await
        .unwrap();
    assert_problem(no_token, 401, "TOKEN_MISSING").await;

    let no_user_on_balance = app
        .client
        .get(app.url("/v1/users/me/balance"))
        .send()
        .await
        .unwrap();
    assert_problem(no_user_on_balance, 401, "USER_ID_MISSING").await;
}

#[tokio::test]
async fn tampered_forged_and_foreign_queue_tokens_are_401_token_invalid() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let token = app.activate("alice").await;

    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    let forged =
        TokenCodec::new(&"another-secret-0123456789".to_owned().into()).encode(&QueueTicket {
            queue_id: app.queue_id.clone(),
            user_id: UserId::parse("alice").unwrap(),
            seq: 1,
        });
    let other_queue = QueueId::parse(&format!("rq-{}", unique_suffix())).unwrap();
    let foreign = app.activate_in(&other_queue, "alice").await;

    for bad in [
        tampered.as_str(),
        forged.as_str(),
        foreign.as_str(),
        "v1.garbage",
        "x",
    ] {
        let body = assert_problem(
            app.hold("alice", bad, schedule, seat).await,
            401,
            "TOKEN_INVALID",
        )
        .await;
        assert!(
            !body["detail"].as_str().unwrap().contains(bad),
            "token echoed back"
        );
    }
    assert_eq!(app.seats(schedule, "?status=available").await.len(), 2);
}

#[tokio::test]
async fn someone_elses_token_and_an_inactive_token_are_403() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let alices = app.activate("alice").await;
    assert_problem(
        app.hold("mallory", &alices, schedule, seat).await,
        403,
        "TOKEN_NOT_YOURS",
    )
    .await;

    // Correctly signed for carol, but carol was never admitted.
    let carols = app.codec.encode(&QueueTicket {
        queue_id: app.queue_id.clone(),
        user_id: UserId::parse("carol").unwrap(),
        seq: 999_999,
    });
    assert_problem(
        app.hold("carol", &carols, schedule, seat).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    // A stale token of an admitted user (an older sequence number) neither.
    let _current = app.activate("dave").await;
    let stale = app.codec.encode(&QueueTicket {
        queue_id: app.queue_id.clone(),
        user_id: UserId::parse("dave").unwrap(),
        seq: 0,
    });
    assert_problem(
        app.hold("dave", &stale, schedule, seat).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
}

#[tokio::test]
async fn admin_calls_need_the_admin_key() {
    let app = spawn_reservation_app().await;
    let body = json!({ "title": "x", "queue_id": "q", "schedules": [] });
    let wrong = app
        .client
        .post(app.url("/v1/admin/concerts"))
        .bearer_auth(format!("{TEST_ADMIN_KEY}-not"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401, "ADMIN_UNAUTHORIZED").await;
    let missing = app
        .client
        .post(app.url("/v1/admin/concerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(missing, 401, "ADMIN_UNAUTHORIZED").await;
}

#[tokio::test]
async fn unknown_things_are_404() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let token = app.activate("alice").await;
    let get = |path: String| {
        let request = app.client.get(app.url(&path)).header("X-User-Id", "alice");
        async move { request.send().await.unwrap() }
    };

    assert_problem(
        get("/v1/concerts/999999/schedules".into()).await,
        404,
        "CONCERT_NOT_FOUND",
    )
    .await;
    assert_problem(
        get("/v1/schedules/999999/seats".into()).await,
        404,
        "SCHEDULE_NOT_FOUND",
    )
    .await;
    assert_problem(
        get("/v1/reservations/999999".into()).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(get("/v1/no/such/route".into()).await, 404, "NOT_FOUND").await;
    assert_problem(
        app.hold("alice", &token, 999_999, 1).await,
        404,
        "SCHEDULE_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.hold("alice", &token, schedule, 999_999).await,
        404,
        "SEAT_NOT_FOUND",
    )
    .await;
    // A seat of another schedule is not a seat of this one.
    let other = app.create_open_concert(1, 1_000).await;
    let foreign_seat = app.seat_ids(other.schedules[0].id).await[0];
    assert_problem(
        app.hold("alice", &token, schedule, foreign_seat).await,
        404,
        "SEAT_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.release("alice", 999_999).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.pay("alice", &token, 999_999, "k").await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;

    // Someone else's reservation reads as absent.
    let seat = app.seat_ids(schedule).await[0];
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;
    let bob = app
        .client
        .get(app.url(&format!("/v1/reservations/{reservation}")))
        .header("X-User-Id", "bob")
        .send()
        .await
        .unwrap();
    assert_problem(bob, 404, "RESERVATION_NOT_FOUND").await;
    let bobs_token = app.activate("bob").await;
    assert_problem(
        app.pay("bob", &bobs_token, reservation, "k").await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_is_405_problem_with_allow() {
    let app = spawn_reservation_app().await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/v1/reservations/1", "GET, DELETE"),
        (reqwest::Method::POST, "/v1/schedules/1/seats", "GET"),
        (reqwest::Method::GET, "/v1/reservations", "POST"),
        (reqwest::Method::DELETE, "/v1/users/me/balance", "GET"),
        (reqwest::Method::GET, "/v1/reservations/1/payment", "POST"),
        (reqwest::Method::PATCH, "/v1/admin/concerts", "POST"),
        (reqwest::Method::POST, "/healthz", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .header("X-User-Id", "alice")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn malformed_input_is_400() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let token = app.activate("alice").await;

    let malformed = app
        .client
        .post(app.url("/v1/reservations"))
        .header("X-User-Id", "alice")
        .header("X-Queue-Token", &token)
        .header("content-type", "application/json")
        .body("{\"schedule_id\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400, "MALFORMED_JSON").await;

    let negative = app
        .client
        .post(app.url("/v1/reservations"))
        .header("X-User-Id", "alice")
        .header("X-Queue-Token", &token)
        .json(&json!({ "schedule_id": -1, "seat_id": 1 }))
        .send()
        .await
        .unwrap();
    assert_problem(negative, 400, "MALFORMED_JSON").await;

    assert_problem(
        app.hold("alice", &token, 0, 1).await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert_problem(
        app.hold("alice", &token, schedule, 0).await,
        400,
        "INVALID_REQUEST",
    )
    .await;

    for path in [
        "/v1/reservations/0",
        "/v1/concerts/0/schedules",
        "/v1/schedules/0/seats",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("X-User-Id", "alice")
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    for path in [
        "/v1/reservations/abc",
        "/v1/reservations/-3",
        "/v1/schedules/1.5/seats",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("X-User-Id", "alice")
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_PATH").await;
    }
    for query in ["?status=lost", "?limit=-1", "?after=x"] {
        let response = app
            .client
            .get(app.url(&format!("/v1/schedules/{schedule}/seats{query}")))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_QUERY").await;
    }
    let zero_limit = app
        .client
        .get(app.url(&format!("/v1/schedules/{schedule}/seats?limit=0")))
        .send()
        .await
        .unwrap();
    assert_problem(zero_limit, 400, "INVALID_REQUEST").await;

    let no_key = app
        .client
        .post(app.url("/v1/users/me/balance/charges"))
        .header("X-User-Id", "alice")
        .json(&json!({ "amount": 10 }))
        .send()
        .await
        .unwrap();
    assert_problem(no_key, 400, "IDEMPOTENCY_KEY_MISSING").await;
    let no_key_payment = app
        .client
        .post(app.url("/v1/reservations/1/payment"))
        .header("X-User-Id", "alice")
        .header("X-Queue-Token", &token)
        .send()
        .await
        .unwrap();
    assert_problem(no_key_payment, 400, "IDEMPOTENCY_KEY_MISSING").await;
}

#[tokio::test]
async fn invalid_concerts_are_400_with_a_clear_detail() {
    let app = spawn_reservation_app().await;
    let schedule = |opens: &str, closes: &str, seats: i64, price: i64| {
        json!({
            "starts_at": "2030-06-01T19:00:00Z",
            "booking_opens_at": opens,
            "booking_closes_at": closes,
            "seat_count": seats,
            "price": price,
        })
    };
    let good = schedule("2030-05-01T10:00:00Z", "2030-06-01T18:00:00Z", 10, 100);
    let cases = [
        (
            json!({ "title": "", "queue_id": "q", "schedules": [good] }),
            "title",
        ),
        (
            json!({ "title": "x".repeat(201), "queue_id": "q", "schedules": [good] }),
            "title",
        ),
        (
            json!({ "title": "T", "queue_id": "bad queue", "schedules": [good] }),
            "queue_id",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": [] }),
            "schedules",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": vec![good.clone(); 51] }),
            "schedules",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": [
                schedule("2030-06-01T18:00:00Z", "2030-05-01T10:00:00Z", 10, 100)] }),
            "booking_opens_at",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": [
                schedule("2030-05-01T10:00:00Z", "2030-06-01T18:00:00Z", 0, 100)] }),
            "seat_count",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": [
                schedule("2030-05-01T10:00:00Z", "2030-06-01T18:00:00Z", 100_001, 100)] }),
            "seat_count",
        ),
        (
            json!({ "title": "T", "queue_id": "q", "schedules": [
                schedule("2030-05-01T10:00:00Z", "2030-06-01T18:00:00Z", 10, 0)] }),
            "price",
        ),
    ];
    for (body, mentioned) in cases {
        let problem = assert_problem(app.create_concert(&body).await, 400, "INVALID_REQUEST").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(mentioned),
            "{mentioned}: {problem}"
        );
    }
    // Valid RFC 3339, but in UTC a moment after the year 9999.
    let mut past_the_last_year = good.clone();
    past_the_last_year["starts_at"] = json!("9999-12-31T23:30:00-01:00");
    let problem = assert_problem(
        app.create_concert(
            &json!({ "title": "T", "queue_id": "q", "schedules": [past_the_last_year] }),
        )
        .await,
        400,
        "INVALID_REQUEST",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("starts_at"),
        "{problem}"
    );
    let bad_time = json!({ "title": "T", "queue_id": "q", "schedules": [
        schedule("yesterday", "2030-06-01T18:00:00Z", 10, 100)] });
    assert_problem(app.create_concert(&bad_time).await, 400, "MALFORMED_JSON").await;
    // A leap second parses as 23:59:59.999999999, which nobody wrote.
    let leap = json!({ "title": "T", "queue_id": "q", "schedules": [
        schedule("2030-05-01T10:00:00Z", "2030-05-31T23:59:60Z", 10, 100)] });
    let problem = assert_problem(app.create_concert(&leap).await, 400, "MALFORMED_JSON").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("leap"),
        "{problem}"
    );
    let invisible = json!({ "title": "\u{200B}\u{FEFF}", "queue_id": "q", "schedules": [good] });
    let problem =
        assert_problem(app.create_concert(&invisible).await, 400, "INVALID_REQUEST").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("visible"),
        "{problem}"
    );
    let concerts: Vec<serde_json::Value> = app
        .client
        .get(app.url("/v1/concerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(concerts.is_empty(), "nothing was created");
}
