//! What production does to the system, done for real: the reservation
//! service killed mid-payment, the database killed mid-rush, Redis frozen.
//! Each runs on servers of its own (a throwaway MariaDB or Redis, a service
//! binary this test starts), never on the shared ones other tests use, and
//! each is bounded in time. (Redis killed with `kill -9` mid-rush is in the
//! queue suite: `lifecycle::an_outage_longer_than_the_heartbeat_ttl_...`.)

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use queue_service::store::QueueStore;
use serde_json::{Value, json};
use shared::config::RedisSettings;
use shared::ids::{QueueId, UserId};
use sqlx::mysql::MySqlPoolOptions;
use tests::load::fixtures::admit;
use tests::mariadb_server::ThrowawayMariaDb;
use tests::mysql::TestDatabase;
use tests::process::{free_port, wait_until_ready};
use tests::queue_app::unique_key_prefix;
use tests::redis_server::ThrowawayRedis;
use tests::reservation_app::{
    ReservationAppOptions, assert_sql_invariants, rfc3339, spawn_reservation_app_with, test_codec,
};
use tests::service_binary;
use tests::{TEST_ADMIN_KEY, TEST_TOKEN_SECRET, redis_url, unique_suffix};
use time::OffsetDateTime;

const PRICE: i64 = 1_000;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// A concert bookable now, in `queue`, with `seats` seats; its seat ids.
async fn open_concert(
    client: &reqwest::Client,
    base: &str,
    queue: &QueueId,
    seats: u32,
) -> (u64, Vec<u64>) {
    let now = OffsetDateTime::now_utc();
    let concert: Value = client
        .post(format!("{base}/v1/admin/concerts"))
        .bearer_auth(TEST_ADMIN_KEY)
        .json(&json!({
            "title": "Fault test", "queue_id": queue.as_str(),
            "schedules": [{
                "starts_at": rfc3339(now + time::Duration::days(2)),
                "booking_opens_at": rfc3339(now - time::Duration::hours(1)),
                "booking_closes_at": rfc3339(now + time::Duration::days(1)),
                "seat_count": seats, "price": PRICE,
            }],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schedule = concert["schedules"][0]["id"].as_u64().unwrap();
    let listed: Vec<Value> = client
        .get(format!(
            "{base}/v1/schedules/{schedule}/seats?limit={seats}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        schedule,
        listed.iter().map(|s| s["id"].as_u64().unwrap()).collect(),
    )
}

/// Active queue tokens for `users` (the queue's own scripts, on the Redis
/// and key prefix the services use).
async fn active_tokens(
    redis_url: &str,
    prefix: &str,
    queue: &QueueId,
    users: &[String],
) -> Vec<String> {
    let pool = shared::redis_pool::build_pool(&RedisSettings {
        url: redis_url.to_owned(),
        cluster_urls: String::new(),
        pool_size: 4,
        timeout_ms: 2_000,
        key_prefix: prefix.to_owned(),
    })
    .unwrap();
    let ids: Vec<UserId> = users.iter().map(|u| UserId::parse(u).unwrap()).collect();
    admit(&QueueStore::new(pool), &test_codec(), queue, &ids)
        .await
        .unwrap()
}

/// One buyer: top up, hold its seat, pay; every step retried with the same
/// idempotency key (or, for the hold, the same seat, which hands a retry its
/// own running hold back) until it gets a definite answer, as a client does
/// through an outage. Counts the attempts that got no answer or a 5xx.
/// Returns whether it paid before `deadline`.
async fn buy(
    client: reqwest::Client,
    base: Arc<dyn Fn() -> String + Send + Sync>,
    (user, token): (String, String),
    (schedule, seat): (u64, u64),
    deadline: Instant,
    unanswered: Arc<AtomicU64>,
) -> bool {
    let mut reservation = None;
    let mut step = 0;
    while Instant::now() < deadline {
        let base = base();
        let request = match (step, reservation) {
            (0, _) => client
                .post(format!("{base}/v1/users/me/balance/charges"))
                .header("Idempotency-Key", format!("charge-{user}"))
                .json(&json!({"amount": 2 * PRICE})),
            (1, _) => client
                .post(format!("{base}/v1/reservations"))
                .header("X-Queue-Token", &token)
                .json(&json!({"schedule_id": schedule, "seat_id": seat})),
            (_, Some(id)) => client
                .post(format!("{base}/v1/reservations/{id}/payment"))
                .header("X-Queue-Token", &token)
                .header("Idempotency-Key", format!("pay-{user}")),
            (_, None) => unreachable!("a hold precedes its payment"),
        };
        let response = match request.header("X-User-Id", &user).send().await {
            Ok(response) if !response.status().is_server_error() => response,
            _ => {
                unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        match (step, status) {
            (0, 200) => step = 1,
            (1, 200 | 201) => {
                reservation = body["reservation_id"].as_u64();
                step = 2;
            }
            (2, 200) => return true,
            (step, status) => panic!("{user} step {step}: unexpected {status} {body}"),
        }
    }
    false
}

/// Buyers `users` (with their tokens) each buying one of `seats`,
/// `concurrency` at a time, against whatever `base` says at each attempt.
fn buyers(
    client: reqwest::Client,
    base: Arc<dyn Fn() -> String + Send + Sync>,
    users: Vec<(String, String)>,
    (schedule, seats): (u64, Vec<u64>),
    concurrency: usize,
    unanswered: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Vec<bool>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    tokio::spawn(async move {
        stream::iter(users.into_iter().zip(seats))
            .map(|(user, seat)| {
                buy(
                    client.clone(),
                    base.clone(),
                    user,
                    (schedule, seat),
                    deadline,
                    unanswered.clone(),
                )
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<bool>>()
            .await
    })
}

fn spawn_reservation_service(port: u16, database_url: &str, prefix: &str) -> Child {
    Command::new(service_binary("reservation-service"))
        .env_clear()
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", prefix)
        .env("QUEUE_TOKEN_SECRET", TEST_TOKEN_SECRET)
        .env("ADMIN_API_KEY", TEST_ADMIN_KEY)
        .env("AUTH_MODE", "trusted-header")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn count(db: &sqlx::MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// `kill -9` of the reservation service while a hundred buyers top up, hold
/// and pay; a new process takes over; the buyers retry as clients do.
/// Nobody pays twice, no seat is sold twice, every balance equals its
/// ledger, no seat is held without its reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_reservation_service_mid_payment_loses_no_money_and_sells_no_seat_twice() {
    const BUYERS: usize = 100;
    let database = TestDatabase::create().await;
    let db = MySqlPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&database.url())
        .unwrap();
    let prefix = unique_key_prefix();
    let port = Arc::new(AtomicU16::new(free_port()));
    let mut child =
        spawn_reservation_service(port.load(Ordering::SeqCst), &database.url(), &prefix);
    wait_until_ready(port.load(Ordering::SeqCst), Duration::from_secs(30));
    let client = client();
    let base: Arc<dyn Fn() -> String + Send + Sync> = {
        let port = port.clone();
        Arc::new(move || format!("http://127.0.0.1:{}", port.load(Ordering::SeqCst)))
    };
    let queue = QueueId::parse(&format!("kill-{}", unique_suffix())).unwrap();
    let (schedule, seats) = open_concert(&client, &base(), &queue, BUYERS as u32).await;
    let users: Vec<String> = (0..BUYERS).map(|i| format!("buyer{i}")).collect();
    let tokens = active_tokens(&redis_url(), &prefix, &queue, &users).await;

    let unanswered = Arc::new(AtomicU64::new(0));
    let running = buyers(
        client.clone(),
        base.clone(),
        users.into_iter().zip(tokens).collect(),
        (schedule, seats),
        32,
        unanswered.clone(),
    );
    // Mid-rush: kill, and start a new process on another port.
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let paid_before_kill = count(&db, "SELECT COUNT(*) FROM payments").await;
    port.store(free_port(), Ordering::SeqCst);
    let mut child =
        spawn_reservation_service(port.load(Ordering::SeqCst), &database.url(), &prefix);
    wait_until_ready(port.load(Ordering::SeqCst), Duration::from_secs(30));
    let paid = running.await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    assert_sql_invariants(&db).await;
    let payments = count(&db, "SELECT COUNT(*) FROM payments").await;
    let unanswered = unanswered.load(Ordering::Relaxed);
    eprintln!(
        "kill -9 mid-payment: {paid_before_kill} payments committed before the kill, \
         {unanswered} requests unanswered while it was down, {payments}/{BUYERS} paid in the end"
    );
    assert!(
        paid.iter().all(|&p| p),
        "every buyer paid once the service was back"
    );
    assert_eq!(payments, BUYERS as i64);
    assert!(paid_before_kill < BUYERS as i64, "the kill came mid-rush");
    let balances: Vec<i64> = sqlx::query_scalar("SELECT balance FROM balances")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(
        balances.iter().all(|&b| b == PRICE),
        "each paid exactly once: {balances:?}"
    );
    db.close().await;
}

/// MariaDB killed (`kill -9`) mid-rush and started again: meanwhile every
/// request that needs it is answered 503 within two seconds, never 500;
/// afterwards everything recovers without a restart, invariants intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_mariadb_mid_rush_answers_503_quickly_and_recovers_with_invariants_intact() {
    const BUYERS: usize = 60;
    let mut mariadb = tokio::task::spawn_blocking(ThrowawayMariaDb::start)
        .await
        .unwrap();
    let prefix = unique_key_prefix();
    let app = spawn_reservation_app_with(ReservationAppOptions {
        mysql_admin_url: Some(mariadb.admin_url()),
        db_acquire_timeout_ms: 1_000,
        redis_key_prefix: prefix.clone(),
        ..ReservationAppOptions::default()
    })
    .await;
    let concert = app.create_open_concert(BUYERS as u32, PRICE).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let users: Vec<String> = (0..BUYERS).map(|i| format!("fan{i}")).collect();
    let tokens = active_tokens(&redis_url(), &prefix, &app.queue_id, &users).await;

    // A probe reads a balance every 50 ms, timed, all through the outage.
    let probes = {
        let (client, url) = (app.client.clone(), app.url("/v1/users/me/balance"));
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                let started = Instant::now();
                let status = client
                    .get(&url)
                    .header("X-User-Id", "probe")
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                answers.push((status, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answers
        })
    };
    let unanswered = Arc::new(AtomicU64::new(0));
    let base: Arc<dyn Fn() -> String + Send + Sync> = {
        let address = app.address.clone();
        Arc::new(move || address.clone())
    };
    let running = buyers(
        app.client.clone(),
        base,
        users.into_iter().zip(tokens).collect(),
        (schedule, seats),
        16,
        unanswered.clone(),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    mariadb.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mariadb = tokio::task::spawn_blocking(move || {
        mariadb.restart();
        mariadb
    })
    .await
    .unwrap();
    let paid = running.await.unwrap();
    let answers = probes.await.unwrap();

    let refused: Vec<&(u16, Duration)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    let slowest = refused.iter().map(|(_, d)| *d).max().unwrap_or_default();
    eprintln!(
        "mariadb kill mid-rush: {} probe reads, {} refused while it was down (slowest {slowest:?}), \
         {} buyer requests unanswered or 5xx; {}/{BUYERS} paid in the end",
        answers.len(),
        refused.len(),
        unanswered.load(Ordering::Relaxed),
        paid.iter().filter(|&&p| p).count()
    );
    assert!(!refused.is_empty(), "the outage was seen");
    assert!(
        refused.iter().all(|(s, _)| *s == 503),
        "only 503 while down: {refused:?}"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "refused within 2 s: {slowest:?}"
    );
    assert_eq!(
        answers.last().map(|(s, _)| *s),
        Some(200),
        "recovered without a restart"
    );
    assert!(
        paid.iter().all(|&p| p),
        "every buyer paid once the database was back"
    );
    app.assert_invariants().await;
    drop(app);
    drop(mariadb);
}

/// Redis frozen (`SIGSTOP`) for ten seconds under polling: every request is
/// answered 503 within two seconds, the service's memory stays bounded, and
/// it serves again as soon as Redis does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_gets_prompt_503s_and_bounded_memory() {
    let redis = ThrowawayRedis::start();
    let port = free_port();
    let mut child = Command::new(service_binary("queue-service"))
        .env_clear()
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url())
        .env("QUEUE_TOKEN_SECRET", TEST_TOKEN_SECRET)
        .env("ADMIN_API_KEY", TEST_ADMIN_KEY)
        .env("AUTH_MODE", "trusted-header")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_ready(port, Duration::from_secs(20));
    let base = format!("http://127.0.0.1:{port}");
    let client = client();
    let config = json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 600,
        "heartbeat_ttl_seconds": 600, "limits": {"issues_per_minute_per_address": 0,
        "issues_per_minute_per_user": 0, "min_poll_interval_percent": 0}});
    let created = client
        .put(format!("{base}/v1/admin/queues/frozen"))
        .bearer_auth(TEST_ADMIN_KEY)
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut tokens = Vec::new();
    for i in 0..40 {
        let status: Value = client
            .post(format!("{base}/v1/queues/frozen/tokens"))
            .header("X-User-Id", format!("u{i}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(status["token"].as_str().unwrap().to_owned());
    }
    let pid = child.id();
    let rss_before = rss_kb(pid);
    let started = Instant::now();
    let pollers: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while started.elapsed() < Duration::from_secs(15) {
                    let sent = Instant::now();
                    let status = client
                        .post(format!("{base}/v1/queues/frozen/heartbeat"))
                        .header("X-User-Id", format!("u{i}"))
                        .header("X-Queue-Token", &token)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    answers.push((sent - started, status, sent.elapsed()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.freeze();
    let mut rss_peak = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_peak = rss_peak.max(rss_kb(pid));
    }
    redis.thaw();
    let mut answers = Vec::new();
    for poller in pollers {
        answers.extend(poller.await.unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Sent while frozen (2-12 s), allowing a second for the freeze to show.
    let frozen: Vec<_> = answers
        .iter()
        .filter(|(at, _, _)| *at > Duration::from_secs(3) && *at < Duration::from_secs(11))
        .collect();
    let after: Vec<_> = answers
        .iter()
        .filter(|(at, _, _)| *at > Duration::from_secs(13))
        .collect();
    let slowest = frozen
        .iter()
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "redis SIGSTOP 10 s: {} polls while frozen, answered {:?}, slowest {slowest:?}; \
         RSS {rss_before} kB before, {rss_peak} kB at most while frozen; {} polls after, {} answered 200",
        frozen.len(),
        frozen
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<std::collections::BTreeSet<_>>(),
        after.len(),
        after.iter().filter(|(_, s, _)| *s == 200).count()
    );
    assert!(frozen.len() > 100, "the pollers kept polling");
    assert!(
        frozen.iter().all(|(_, s, _)| *s == 503),
        "only 503 while frozen"
    );
    assert!(
        slowest <= Duration::from_secs(2),
        "answered within 2 s: {slowest:?}"
    );
    assert!(
        after.iter().all(|(_, s, _)| *s == 200),
        "serving again after the thaw"
    );
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "memory bounded: {rss_before} kB -> {rss_peak} kB"
    );
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
