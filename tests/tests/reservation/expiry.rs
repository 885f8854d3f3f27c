use std::time::{Duration, Instant};

use reservation_service::config::DatabaseSettings;
use reservation_service::{expiry, storage};
use serde_json::Value;
use tests::reservation_app::{ReservationAppOptions, spawn_reservation_app_with};

#[tokio::test]
async fn the_expiry_worker_returns_expired_holds_to_sale_and_marks_reservations_expired() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        hold_ttl_seconds: 2,
        sweep_interval_ms: 100,
        ..ReservationAppOptions::default()
    })
    .await;
    let concert = app.create_open_concert(4, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 1_000).await;
    let lapsing: Vec<u64> = futures_util::future::join_all(
        seats[..3]
            .iter()
            .map(|seat| app.hold_ok("alice", &token, schedule, *seat)),
    )
    .await;
    let paid = app.hold_ok("alice", &token, schedule, seats[3]).await;
    assert_eq!(
        app.pay("alice", &token, paid, "p").await.status().as_u16(),
        200
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (available, expired): (i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM seats WHERE status = 'AVAILABLE' AND holder_user_id IS NULL \
                  AND hold_expires_at IS NULL), \
               (SELECT COUNT(*) FROM reservations WHERE status = 'EXPIRED')",
        )
        .fetch_one(&app.db_pool)
        .await
        .unwrap();
        if (available, expired) == (3, 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "swept {available} seats, {expired} reservations"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in lapsing {
        let body: Value = app.get_reservation("alice", id).await.json().await.unwrap();
        assert_eq!(body["status"], "expired");
    }
    let confirmed: Value = app
        .get_reservation("alice", paid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        confirmed["status"], "confirmed",
        "a paid hold is never expired"
    );
    assert_eq!(app.seats(schedule, "?status=sold").await.len(), 1);
    app.assert_invariants().await;
}

/// Several replicas sweep at once: every statement is conditional, so each
/// expired hold is returned exactly once, in small batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_sweeps_return_each_expired_hold_once() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        hold_ttl_seconds: 1,
        // The app's own worker stays out of the way.
        sweep_interval_ms: 3_600_000,
        ..ReservationAppOptions::default()
    })
    .await;
    let concert = app.create_open_concert(120, 1_000).await;
    let schedule = concert.schedules[0].id;
    let token = app.activate("alice").await;
    for seat in app.seat_ids(schedule).await {
        app.hold_ok("alice", &token, schedule, seat).await;
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // Configured like the service's own pool (isolation level included).
    let replicas = storage::build_pool(&DatabaseSettings {
        url: app.database.url().into(),
        pool_size: 4,
        acquire_timeout_ms: 10_000,
    })
    .unwrap();
    let sweeps = futures_util::future::join_all((0..4).map(|_| {
        let pool = replicas.clone();
        tokio::spawn(async move { expiry::sweep(&pool, 7).await.expect("sweep") })
    }))
    .await;
    let released: u64 = sweeps
        .iter()
        .map(|s| s.as_ref().unwrap().seats_released)
        .sum();
    let expired: u64 = sweeps
        .iter()
        .map(|s| s.as_ref().unwrap().reservations_expired)
        .sum();
    assert_eq!((released, expired), (120, 120));
    assert_eq!(app.seats(schedule, "?status=available").await.len(), 120);
}
