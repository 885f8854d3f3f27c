//! What the service tells the queue through Redis: each queue's seats left
//! and held (written by one replica, under a lease, expiring when the feed
//! stops), and each replica's health sample (its requests, latency, 5xx
//! share and database pool wait, removed at shutdown).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use reservation_service::config::DatabaseSettings;
use reservation_service::storage;
use shared::ids::QueueId;
use shared::origin::{HealthSample, SEATS_TTL_MS, seat_field};
use shared::redis_pool::RedisPool;
use sqlx::Row;
use tests::reservation_app::{
    ReservationAppOptions, TestReservationApp, spawn_reservation_app_with,
};
use tests::{eventually, unique_suffix};
use time::OffsetDateTime;

/// Short, for quick tests, but with a lease (three rounds) that outlasts
/// the pauses of a loaded test machine.
const FEED_INTERVAL_MS: u64 = 200;

fn fast_feed() -> ReservationAppOptions {
    ReservationAppOptions {
        seats_feed_interval_ms: FEED_INTERVAL_MS,
        ..ReservationAppOptions::default()
    }
}

async fn redis_now_ms(redis: &RedisPool) -> i64 {
    let mut conn = redis.get().await.unwrap();
    let (seconds, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    seconds * 1000 + micros / 1000
}

async fn seats_key(app: &TestReservationApp, queue: &QueueId) -> HashMap<String, i64> {
    let mut conn = app.redis_pool.get().await.unwrap();
    redis::cmd("HGETALL")
        .arg(app.redis_pool.keyspace().queue(queue).seats())
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Waits for a round that wrote `left` and `held` for `queue`.
async fn await_seats(app: &TestReservationApp, queue: &QueueId, left: i64, held: i64) {
    eventually(
        &format!("{queue}: {left} left, {held} held"),
        Duration::from_secs(10),
        || async {
            let fields = seats_key(app, queue).await;
            (fields.get(seat_field::LEFT) == Some(&left)
                && fields.get(seat_field::HELD) == Some(&held))
            .then_some(())
        },
    )
    .await;
}

async fn redis_get(app: &TestReservationApp, key: &str) -> Option<String> {
    let mut conn = app.redis_pool.get().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn health_field(app: &TestReservationApp, replica: &str) -> Option<HealthSample> {
    let mut conn = app.redis_pool.get().await.unwrap();
    let encoded: Option<String> = redis::cmd("HGET")
        .arg(app.redis_pool.keyspace().origin_health())
        .arg(replica)
        .query_async(&mut conn)
        .await
        .unwrap();
    encoded.map(|e| HealthSample::decode(&e).expect("a well-formed sample"))
}

/// A metric of the service at `address`, summed over its series.
async fn metric(client: &reqwest::Client, address: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Sets a held seat's hold (and its reservation's) to have run out a
/// minute ago, as if its buyer had walked away; the sweep is off in these
/// tests, so the seat stays HELD in the table.
async fn expire_hold(app: &TestReservationApp, seat_id: u64, reservation_id: u64) {
    let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    sqlx::query("UPDATE seats SET hold_expires_at = ? WHERE id = ? AND status = 'HELD'")
        .bind(past)
        .bind(seat_id)
        .execute(&app.db_pool)
        .await
        .unwrap();
    sqlx::query("UPDATE reservations SET hold_expires_at = ? WHERE id = ?")
        .bind(past)
        .bind(reservation_id)
        .execute(&app.db_pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_queue_gets_the_seats_left_and_held_of_its_bookable_schedules() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        sweep_interval_ms: 3_600_000,
        ..fast_feed()
    })
    .await;
    let now = OffsetDateTime::now_utc();
    let hours = time::Duration::hours;
    let open = app.create_open_concert(10, 1_000).await.schedules[0].id;
    // Same queue, outside their booking windows: not counted.
    app.create_concert_with_window(&app.queue_id, now + hours(1), now + hours(2), 5, 1_000)
        .await;
    app.create_concert_with_window(&app.queue_id, now - hours(2), now - hours(1), 7, 1_000)
        .await;
    let other_queue = QueueId::parse(&format!("rq-{}", unique_suffix())).unwrap();
    app.create_open_concert_in(&other_queue, 3, 1_000).await;
    let not_yet_open = QueueId::parse(&format!("rq-{}", unique_suffix())).unwrap();
    app.create_concert_with_window(&not_yet_open, now + hours(1), now + hours(2), 4, 1_000)
        .await;

    await_seats(&app, &app.queue_id, 10, 0).await;
    await_seats(&app, &other_queue, 3, 0).await;

    let seats = app.seat_ids(open).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 10_000).await;
    let mut reservations = Vec::new();
    for seat in &seats[..4] {
        reservations.push(app.hold_ok("alice", &token, open, *seat).await);
    }
    await_seats(&app, &app.queue_id, 6, 4).await;

    let paid = app.pay("alice", &token, reservations[0], "pay-1").await;
    assert_eq!(paid.status().as_u16(), 200);
    expire_hold(&app, seats[1], reservations[1]).await;
    // One sold, two held, and the expired hold is for sale again.
    await_seats(&app, &app.queue_id, 7, 2).await;
    assert_eq!(
        app.seats(open, "?status=available").await.len(),
        7,
        "the feed agrees with the seat listing"
    );

    let fields = seats_key(&app, &app.queue_id).await;
    let age = redis_now_ms(&app.redis_pool).await - fields[seat_field::AT_MS];
    assert!(
        (0..2_000).contains(&age),
        "at_ms is the Redis clock of a recent round: {age} ms old"
    );
    let mut conn = app.redis_pool.get().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(app.redis_pool.keyspace().queue(&app.queue_id).seats())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=SEATS_TTL_MS as i64).contains(&ttl),
        "the counts expire: {ttl}"
    );
    assert!(
        seats_key(&app, &not_yet_open).await.is_empty(),
        "a queue with nothing bookable now gets no counts"
    );
    assert_eq!(
        metric(
            &app.client,
            &app.address,
            "reservation_seats_feed_failures_total"
        )
        .await,
        0.0
    );
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seat_counts_expire_once_the_feed_stops() {
    let mut app = spawn_reservation_app_with(fast_feed()).await;
    app.create_open_concert(2, 1_000).await;
    await_seats(&app, &app.queue_id, 2, 0).await;

    app.shut_down().await;
    let stopped = Instant::now();
    eventually(
        "the seat counts to expire",
        Duration::from_millis(SEATS_TTL_MS + 2_000),
        || async {
            seats_key(&app, &app.queue_id)
                .await
                .is_empty()
                .then_some(())
        },
    )
    .await;
    assert!(
        stopped.elapsed() >= Duration::from_millis(SEATS_TTL_MS / 2),
        "the counts outlive a missed round or two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_holds_the_feed_lease_and_hands_it_over_at_shutdown() {
    let mut first = spawn_reservation_app_with(fast_feed()).await;
    let mut second = first.spawn_replica(fast_feed()).await;
    first.create_open_concert(5, 1_000).await;
    await_seats(&first, &first.queue_id, 5, 0).await;
    let lease_key = first.redis_pool.keyspace().seats_feed_lease();

    let holder = redis_get(&first, &lease_key).await.expect("a lease holder");
    let replicas = [
        (&first.replica_id, &first.address),
        (&second.replica_id, &second.address),
    ];
    assert!(
        replicas.iter().any(|(id, _)| **id == holder),
        "the lease names one of the replicas"
    );
    // Ten rounds later the same replica holds it, and only it has fed.
    tokio::time::sleep(Duration::from_millis(FEED_INTERVAL_MS * 10)).await;
    assert_eq!(
        redis_get(&first, &lease_key).await.as_deref(),
        Some(holder.as_str())
    );
    for (id, address) in replicas {
        let rounds = metric(
            &first.client,
            address,
            "reservation_seats_feed_round_seconds_count",
        )
        .await;
        let held = metric(&first.client, address, "reservation_seats_feed_lease_held").await;
        if *id == holder {
            assert!(rounds >= 5.0, "the holder feeds every round: {rounds}");
            assert_eq!(held, 1.0);
        } else {
            assert_eq!((rounds, held), (0.0, 0.0), "the other replica only waits");
        }
    }

    let (survivor_id, survivor_address) = if first.replica_id == holder {
        first.shut_down().await;
        (second.replica_id.clone(), second.address.clone())
    } else {
        second.shut_down().await;
        (first.replica_id.clone(), first.address.clone())
    };
    assert_ne!(
        redis_get(&first, &lease_key).await.as_deref(),
        Some(holder.as_str()),
        "the lease is given up at shutdown"
    );
    eventually(
        "the survivor to take the lease",
        Duration::from_secs(5),
        || async { (redis_get(&first, &lease_key).await? == survivor_id).then_some(()) },
    )
    .await;
    let before = seats_key(&first, &first.queue_id).await[seat_field::AT_MS];
    eventually(
        "the survivor to write the counts",
        Duration::from_secs(5),
        || async {
            let fields = seats_key(&first, &first.queue_id).await;
            (fields.get(seat_field::AT_MS) > Some(&before)
                && fields.get(seat_field::LEFT) == Some(&5))
            .then_some(())
        },
    )
    .await;
    assert_eq!(
        metric(
            &first.client,
            &survivor_address,
            "reservation_seats_feed_lease_held"
        )
        .await,
        1.0
    );
}

/// MySQL unreachable from the lease holder alone: it must not keep the
/// lease and starve the feed, nor stop serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_count_leaves_the_feed_to_one_that_can() {
    let cut_off = spawn_reservation_app_with(ReservationAppOptions {
        mysql_via_proxy: true,
        db_acquire_timeout_ms: 500,
        ..fast_feed()
    })
    .await;
    cut_off.create_open_concert(4, 1_000).await;
    await_seats(&cut_off, &cut_off.queue_id, 4, 0).await;
    let lease_key = cut_off.redis_pool.keyspace().seats_feed_lease();
    assert_eq!(
        redis_get(&cut_off, &lease_key).await,
        Some(cut_off.replica_id.clone()),
        "the only replica feeds"
    );
    let healthy = cut_off.spawn_replica(fast_feed()).await;

    cut_off.mysql_proxy.as_ref().unwrap().cut().await;
    eventually(
        "the replica that can count to take the lease",
        Duration::from_secs(5),
        || async { (redis_get(&cut_off, &lease_key).await? == healthy.replica_id).then_some(()) },
    )
    .await;
    let before = seats_key(&cut_off, &cut_off.queue_id).await[seat_field::AT_MS];
    eventually("fresh counts", Duration::from_secs(5), || async {
        let fields = seats_key(&cut_off, &cut_off.queue_id).await;
        (fields.get(seat_field::AT_MS) > Some(&before)).then_some(())
    })
    .await;
    // Ten rounds on, the lease has stayed with the replica that can count.
    tokio::time::sleep(Duration::from_millis(FEED_INTERVAL_MS * 10)).await;
    assert_eq!(
        redis_get(&cut_off, &lease_key).await,
        Some(healthy.replica_id.clone())
    );
    assert!(
        metric(
            &cut_off.client,
            &cut_off.address,
            "reservation_seats_feed_failures_total"
        )
        .await
            >= 1.0,
        "the failed round is counted, and the replica still serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_publishes_its_health_and_withdraws_it_at_shutdown() {
    let mut healthy = spawn_reservation_app_with(ReservationAppOptions::default()).await;
    let mut failing = healthy
        .spawn_replica(ReservationAppOptions {
            mysql_via_proxy: true,
            db_acquire_timeout_ms: 500,
            ..ReservationAppOptions::default()
        })
        .await;
    // Admin calls and probes are not what buyers see: not counted.
    healthy.create_open_concert(3, 1_000).await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        healthy.client.get(healthy.url(path)).send().await.unwrap();
    }
    for _ in 0..20 {
        let response = healthy
            .client
            .get(healthy.url("/v1/concerts"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let sample = eventually(
        "the healthy replica's sample to count its requests",
        Duration::from_secs(5),
        || async {
            health_field(&healthy, &healthy.replica_id)
                .await
                .filter(|s| s.requests == 20)
        },
    )
    .await;
    assert_eq!(sample.error_ratio, 0.0);
    assert!(sample.p95_ms > 0.0 && sample.p95_ms < 1_000.0, "{sample:?}");
    assert!(sample.pool_wait_ms < 1_000.0, "{sample:?}");
    let age = redis_now_ms(&healthy.redis_pool).await - sample.at_ms;
    assert!((0..2_000).contains(&age), "a fresh sample: {age} ms old");

    failing.mysql_proxy.as_ref().unwrap().cut().await;
    // At once: each may wait out the pool's acquire timeout, and one after
    // the other they would not fit in the five-second window.
    let refused = futures_util::future::join_all(
        (0..10).map(|_| failing.client.get(failing.url("/v1/concerts")).send()),
    )
    .await;
    for response in refused {
        assert_eq!(response.unwrap().status().as_u16(), 503);
    }
    let sample = eventually(
        "the failing replica's sample to show its errors",
        Duration::from_secs(10),
        || async {
            health_field(&healthy, &failing.replica_id)
                .await
                .filter(|s| s.requests >= 10 && s.pool_wait_ms >= 500.0)
        },
    )
    .await;
    assert!(
        sample.error_ratio > 0.99,
        "every request failed: {sample:?}"
    );
    assert_eq!(
        health_field(&healthy, &healthy.replica_id)
            .await
            .map(|s| s.error_ratio),
        Some(0.0),
        "each replica reports its own requests"
    );

    failing.shut_down().await;
    assert_eq!(health_field(&healthy, &failing.replica_id).await, None);
    assert!(health_field(&healthy, &healthy.replica_id).await.is_some());
    let mut conn = healthy.redis_pool.get().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(healthy.redis_pool.keyspace().origin_health())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=10_000).contains(&ttl),
        "the hash expires with its replicas: {ttl}"
    );
    healthy.shut_down().await;
    assert_eq!(health_field(&healthy, &healthy.replica_id).await, None);
}

/// The feed counts every bookable schedule every half second, so its
/// statement must stay cheap for a large hall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_a_100000_seat_schedule_takes_milliseconds() {
    const SEATS: u32 = 100_000;
    let app = spawn_reservation_app_with(ReservationAppOptions {
        sweep_interval_ms: 3_600_000,
        ..ReservationAppOptions::default()
    })
    .await;
    let schedule = app.create_open_concert(SEATS, 1_000).await.schedules[0].id;
    // A third held, a sixth of them by holds that have run out.
    for (filter, expires) in [
        ("MOD(id, 3) = 0", "NOW(3) + INTERVAL 5 MINUTE"),
        ("MOD(id, 6) = 1", "NOW(3) - INTERVAL 5 MINUTE"),
    ] {
        sqlx::query(&format!(
            "UPDATE seats SET status = 'HELD', holder_user_id = 'bulk', hold_expires_at = {expires} \
              WHERE schedule_id = ? AND {filter}"
        ))
        .bind(schedule)
        .execute(&app.db_pool)
        .await
        .unwrap();
    }
    let (left, held): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(status = 'AVAILABLE' OR hold_expires_at < NOW(3)) AS SIGNED), \
                CAST(SUM(status = 'HELD' AND hold_expires_at >= NOW(3)) AS SIGNED) \
           FROM seats WHERE schedule_id = ?",
    )
    .bind(schedule)
    .fetch_one(&app.db_pool)
    .await
    .unwrap();

    // Configured like the service's own pool.
    let pool = storage::build_pool(&DatabaseSettings {
        url: app.database.url().into(),
        pool_size: 1,
        acquire_timeout_ms: 10_000,
    })
    .unwrap();
    let mut timings = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let counts = storage::seat_counts::open_schedules(&pool).await.unwrap();
        timings.push(started.elapsed());
        assert_eq!(counts.len(), 1);
        assert_eq!((counts[0].seats_left, counts[0].seats_held), (left, held));
    }
    timings.sort();
    eprintln!(
        "seat feed count of one {SEATS}-seat schedule: median {:?}, fastest {:?}, slowest {:?}",
        timings[2], timings[0], timings[4]
    );
    // About 20 ms on an idle two-core machine; the bound leaves room for a
    // loaded CI runner. The plan is what keeps it cheap: only index entries
    // of the schedule's free and held seats are read.
    assert!(
        timings[2] < Duration::from_secs(2),
        "the count must stay far below a second: {timings:?}"
    );
    let plan = sqlx::query(&format!("EXPLAIN {}", storage::seat_counts::OPEN_SCHEDULES))
        .fetch_all(&app.db_pool)
        .await
        .unwrap();
    let seat_reads: Vec<(Option<String>, Option<String>)> = plan
        .iter()
        .filter(|row| {
            row.try_get::<Option<String>, _>("table")
                .ok()
                .flatten()
                .as_deref()
                == Some("seats")
        })
        .map(|row| (row.try_get("key").unwrap(), row.try_get("Extra").unwrap()))
        .collect();
    assert_eq!(seat_reads.len(), 3, "{seat_reads:?}");
    for (key, extra) in &seat_reads {
        assert_eq!(
            key.as_deref(),
            Some("idx_seats_schedule_status"),
            "{seat_reads:?}"
        );
        assert!(
            extra.as_deref().unwrap_or_default().contains("Using index"),
            "index only: {seat_reads:?}"
        );
    }
    await_seats(&app, &app.queue_id, left, held).await;
}
