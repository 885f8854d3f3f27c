//! Fail closed: with MySQL or Redis unreachable (cut at a proxy in front of
//! the shared server, never by stopping it), requests that need it get 503
//! problem+json, and the service recovers by itself once it is back.

use std::time::{Duration, Instant};

use serde_json::json;
use tests::assert_problem;
use tests::reservation_app::{
    ReservationAppOptions, TestReservationApp, spawn_reservation_app_with,
};

async fn eventually_ok(app: &TestReservationApp, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app
            .client
            .get(app.url(path))
            .header("X-User-Id", "alice")
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not recover: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_down_answers_503_and_the_service_recovers_without_a_restart() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        mysql_via_proxy: true,
        db_acquire_timeout_ms: 1_000,
        ..ReservationAppOptions::default()
    })
    .await;
    let concert = app.create_open_concert(3, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;
    // Warms the schedule cache, so the next hold passes the gate and fails
    // at the database itself.
    app.hold_ok("alice", &token, schedule, seats[0]).await;

    let proxy = app.mysql_proxy.as_ref().unwrap();
    proxy.cut().await;

    assert_problem(
        app.hold("alice", &token, schedule, seats[1]).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let listing = app
        .client
        .get(app.url("/v1/concerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(listing.headers()["retry-after"], "1");
    assert_problem(listing, 503, "SERVICE_UNAVAILABLE").await;
    assert_problem(
        app.charge("alice", "during-outage", json!(100)).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let balance = app
        .client
        .get(app.url("/v1/users/me/balance"))
        .header("X-User-Id", "alice")
        .send()
        .await
        .unwrap();
    assert_problem(balance, 503, "SERVICE_UNAVAILABLE").await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let body = assert_problem(ready, 503, "SERVICE_UNAVAILABLE").await;
    assert!(body["detail"].as_str().unwrap().contains("mysql"), "{body}");
    // Liveness does not depend on MySQL.
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);

    proxy.restore().await.unwrap();
    eventually_ok(&app, "/readyz").await;
    eventually_ok(&app, "/v1/concerts").await;
    app.hold_ok("alice", &token, schedule, seats[1]).await;
    assert_eq!(
        app.charge("alice", "after-outage", json!(100))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.balance("alice").await,
        5_100,
        "the refused charge left no trace"
    );
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_refuses_gated_calls_with_503_and_recovers() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        redis_via_proxy: true,
        ..ReservationAppOptions::default()
    })
    .await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.hold_ok("alice", &token, schedule, seats[0]).await;

    let proxy = app.redis_proxy.as_ref().unwrap();
    proxy.cut().await;
    assert_problem(
        app.hold("alice", &token, schedule, seats[1]).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let body = assert_problem(ready, 503, "SERVICE_UNAVAILABLE").await;
    assert!(body["detail"].as_str().unwrap().contains("redis"), "{body}");
    // Calls that need no queue check still work.
    assert_eq!(app.balance("alice").await, 0);
    assert!(
        app.seats(schedule, "?status=available").await.len() == 1,
        "nothing was held on a guess"
    );

    proxy.restore().await.unwrap();
    eventually_ok(&app, "/readyz").await;
    app.hold_ok("alice", &token, schedule, seats[1]).await;
}
