//! Admission that follows the sale and the origin, driven through the same
//! Redis keys the reservation service writes (its own tests check that it
//! writes them; the whole loop runs in the end-to-end suite).

use std::time::Duration;

use deadpool_redis::redis;
use serde_json::Value;
use shared::origin::{HealthSample, SEATS_TTL_MS};
use tests::queue_app::{QueueAppOptions, TestQueueApp, line_up, queue_config, spawn_queue_app};

async fn feed_seats(app: &TestQueueApp, queue: &shared::ids::QueueId, left: u64, held: u64) {
    let mut conn = app.store.pool().get().await.unwrap();
    let key = app.store.keys(queue).seats();
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(&key)
        .arg("left")
        .arg(left)
        .arg("held")
        .arg(held)
        .arg("at_ms")
        .arg(0)
        .cmd("PEXPIRE")
        .arg(&key)
        .arg(SEATS_TTL_MS)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn admission_stops_at_the_seats_left_and_a_sell_out_is_told_to_everyone() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let mut config = queue_config(1_000, 10_000, 600, 600);
    config.admit_per_seat = 1.5;
    let queue = app.create_queue("seats", config).await;
    let tickets = line_up(&app.store, &queue, "s", 400).await;

    feed_seats(&app, &queue, 100, 0).await;
    let report = app.tick(&queue).await;
    assert_eq!(report.active, 150, "ceil(100 x 1.5), not max_active");
    // Buyers hold 60 seats: 40 left justify 60 active, fewer than now.
    feed_seats(&app, &queue, 40, 60).await;
    assert_eq!(app.tick(&queue).await.promoted, 0);

    // Every seat held, none free: nobody new, and waiting users are told
    // seats may come back.
    feed_seats(&app, &queue, 0, 100).await;
    assert_eq!(app.tick(&queue).await.promoted, 0);
    let last = tickets.last().unwrap();
    let token =
        shared::token::TokenCodec::new(&secrecy::SecretString::from(tests::TEST_TOKEN_SECRET))
            .encode(last);
    let status: Value = app
        .heartbeat(&queue, last.user_id.as_str(), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "waiting");
    assert_eq!(
        (status["seats_left"].as_u64(), status["seats_held"].as_u64()),
        (Some(0), Some(100))
    );

    // Holds expired: admission resumes for the seats that came back.
    feed_seats(&app, &queue, 30, 0).await;
    let resumed = app.tick(&queue).await;
    assert!(
        resumed.promoted == 0 || resumed.active <= 150,
        "{resumed:?}"
    );

    // Sold out: new joiners are refused, the waiting are told, stats say so.
    feed_seats(&app, &queue, 0, 0).await;
    let status: Value = app
        .heartbeat(&queue, last.user_id.as_str(), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "sold_out", "{status}");
    let refused = app.issue(&queue, "too-late").await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "SOLD_OUT");
    let stats = app.stats(&queue).await;
    assert_eq!(
        (stats["sold_out"].as_bool(), stats["seats_left"].as_u64()),
        (Some(true), Some(0))
    );
}

#[tokio::test]
async fn without_a_seat_feed_nothing_changes() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("no-feed", queue_config(20, 1_000, 600, 600))
        .await;
    line_up(&app.store, &queue, "n", 30).await;
    assert_eq!(app.tick(&queue).await.active, 20);
    let stats = app.stats(&queue).await;
    assert!(
        stats["seats_left"].is_null() && stats["sold_out"] == false,
        "{stats}"
    );
    let status = app.join(&queue, "n29").await;
    assert!(status["seats_left"].is_null());
}

async fn report_origin(app: &TestQueueApp, replica: &str, p95_ms: f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let sample = HealthSample {
        at_ms: now,
        requests: 500,
        p95_ms,
        error_ratio: 0.0,
        pool_wait_ms: 1.0,
    };
    let mut conn = app.store.pool().get().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(app.store.pool().keyspace().origin_health())
        .arg(replica)
        .arg(sample.encode())
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// The effective rate as the public stats show it, with the time it was
/// read, sampled every 100 ms while the origin reports `p95_ms`, until
/// `done` says so or 40 s have passed.
async fn rates_while(
    app: &TestQueueApp,
    queue: &shared::ids::QueueId,
    p95_ms: f64,
    done: impl Fn(f64) -> bool,
) -> Vec<(Duration, f64)> {
    let started = std::time::Instant::now();
    let mut rates = Vec::new();
    while started.elapsed() < Duration::from_secs(40) {
        report_origin(app, "replica-a", p95_ms).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rate = app.stats(queue).await["effective_admit_per_second"]
            .as_f64()
            .unwrap();
        rates.push((started.elapsed(), rate));
        if done(rate) {
            break;
        }
    }
    rates
}

#[tokio::test]
async fn a_slow_origin_halves_admission_to_its_floor_and_a_healthy_one_brings_it_back() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("origin", queue_config(100_000, 60, 600, 600))
        .await;

    let slow = rates_while(&app, &queue, 2_000.0, |rate| rate <= 6.0).await;
    let &(floor_after, floor) = slow.last().unwrap();
    eprintln!("slow origin: {slow:?}");
    assert!((floor - 6.0).abs() < 0.01, "down to 10 % of 60/s: {floor}");
    assert!(slow.windows(2).all(|w| w[1].1 <= w[0].1), "only ever down");
    // Halved at most once a second: 60, 30, 15, 7.5, then the floor.
    assert!(
        floor_after >= Duration::from_millis(2_500),
        "{floor_after:?}"
    );

    let healthy = rates_while(&app, &queue, 40.0, |rate| rate >= 60.0).await;
    eprintln!("healthy origin: {healthy:?}");
    assert!(healthy.windows(2).all(|w| w[1].1 >= w[0].1), "only ever up");
    let &(back_after, back) = healthy.last().unwrap();
    assert!((back - 60.0).abs() < 0.01, "{healthy:?}");
    // +4/s per second: from 6 to 60 takes about 13.5 s.
    assert!(
        (Duration::from_secs(12)..=Duration::from_secs(20)).contains(&back_after),
        "back after {back_after:?}"
    );
}

#[tokio::test]
async fn a_queue_with_admit_per_seat_zero_ignores_the_seats() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let mut config = queue_config(50, 1_000, 600, 600);
    config.admit_per_seat = 0.0;
    let queue = app.create_queue("seatless", config).await;
    line_up(&app.store, &queue, "z", 60).await;
    feed_seats(&app, &queue, 0, 0).await;
    assert_eq!(app.tick(&queue).await.active, 50, "no seat cap");
    assert_eq!(
        app.issue(&queue, "latecomer").await.status(),
        201,
        "no sell-out"
    );
    let stats = app.stats(&queue).await;
    assert!(
        stats["seats_left"].is_null() && stats["sold_out"] == false,
        "{stats}"
    );
}
