use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis;
use futures_util::StreamExt;
use futures_util::stream;
use shared::ids::UserId;
use shared::token::QueueTicket;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};

const TICKERS: usize = 4;

/// Fills a queue with `n` waiting users through the store (the HTTP path is
/// covered elsewhere; here only the volume matters).
async fn fill(store: &queue_service::store::QueueStore, queue: &shared::ids::QueueId, n: usize) {
    stream::iter(0..n)
        .for_each_concurrent(64, |i| async move {
            let user = UserId::parse(&format!("u{i:05}")).unwrap();
            store.issue(queue, &user).await.unwrap();
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_schedulers_never_exceed_max_active_nor_promote_twice() {
    const USERS: usize = 10_000;
    const MAX_ACTIVE: u64 = 250;
    let app = spawn_queue_app(QueueAppOptions {
        tick_ms: None,
        ..Default::default()
    })
    .await;
    let queue = app
        .create_queue(
            "four-tickers",
            queue_config(MAX_ACTIVE as u32, 100_000, 600, 600),
        )
        .await;
    fill(&app.store, &queue, USERS).await;
    let keys = app.store.keys(&queue);
    let pool = app.store.pool().clone();
    let done = Arc::new(AtomicBool::new(false));

    // Four schedulers tick as fast as they can, with no lease between them.
    let tickers: Vec<_> = (0..TICKERS)
        .map(|_| {
            let store = app.store.clone();
            let queue = queue.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut promoted = 0;
                while !done.load(Ordering::Relaxed) {
                    promoted += store.tick(&queue, 10_000).await.unwrap().unwrap().promoted;
                }
                promoted
            })
        })
        .collect();

    // A sampler watches the active set the whole time.
    let max_seen = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (pool, keys, done, max_seen) =
            (pool.clone(), keys.clone(), done.clone(), max_seen.clone());
        tokio::spawn(async move {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                let mut conn = pool.get().await.unwrap();
                let active: u64 = redis::cmd("ZCARD")
                    .arg(keys.active())
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                max_seen.fetch_max(active, Ordering::Relaxed);
                samples += 1;
            }
            samples
        })
    };

    // Completers finish whoever is active, the way payments do, and record
    // each user they complete.
    let mut completed: HashMap<String, u32> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while completed.len() < USERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} completed",
            completed.len()
        );
        let mut conn = pool.get().await.unwrap();
        let holders: Vec<(String, u64)> = redis::cmd("HGETALL")
            .arg(keys.active_seq())
            .query_async(&mut conn)
            .await
            .unwrap();
        drop(conn);
        let freed: Vec<(String, bool)> = stream::iter(holders)
            .map(|(user, seq)| {
                let pool = pool.clone();
                let ticket = QueueTicket {
                    queue_id: queue.clone(),
                    user_id: UserId::parse(&user).unwrap(),
                    seq,
                };
                async move { (user, shared::queue::complete(&pool, &ticket).await.unwrap()) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (user, was_active) in freed {
            if was_active {
                *completed.entry(user).or_default() += 1;
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut promoted_by_us = 0;
    for ticker in tickers {
        promoted_by_us += ticker.await.unwrap();
    }
    let samples = sampler.await.unwrap();

    assert!(
        completed.values().all(|&n| n == 1),
        "someone was promoted twice"
    );
    assert_eq!(completed.len(), USERS, "everyone was promoted exactly once");
    assert!(
        promoted_by_us <= USERS as u64,
        "promoted {promoted_by_us} > {USERS}"
    );
    let max_seen = max_seen.load(Ordering::Relaxed);
    assert!(
        max_seen <= MAX_ACTIVE,
        "active reached {max_seen} > {MAX_ACTIVE}"
    );
    assert!(
        max_seen > MAX_ACTIVE / 2,
        "the test should fill the active set, saw {max_seen}"
    );
    assert!(samples > 100, "too few samples: {samples}");
    assert_eq!(app.stats(&queue).await["waiting"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promotions_stay_within_admit_per_second_with_concurrent_schedulers() {
    const RATE: u64 = 40;
    let app = spawn_queue_app(QueueAppOptions {
        tick_ms: None,
        ..Default::default()
    })
    .await;
    let queue = app
        .create_queue("rate", queue_config(100_000, RATE as u32, 600, 600))
        .await;
    fill(&app.store, &queue, 2_000).await;

    let window = Duration::from_millis(2_500);
    let started = tokio::time::Instant::now();
    let tickers: Vec<_> = (0..TICKERS)
        .map(|_| {
            let store = app.store.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                while started.elapsed() < window {
                    store.tick(&queue, 10_000).await.unwrap();
                }
            })
        })
        .collect();
    for ticker in tickers {
        ticker.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let active = app.stats(&queue).await["active"].as_u64().unwrap();
    // The bucket starts full (one second's worth) and refills at RATE/s.
    let ceiling = RATE + (RATE as f64 * elapsed).ceil() as u64;
    assert!(
        active <= ceiling,
        "promoted {active} in {elapsed:.2}s, ceiling {ceiling}"
    );
    assert!(
        active as f64 >= RATE as f64 * (elapsed - 0.5),
        "admission should keep pace: {active} in {elapsed:.2}s"
    );
}

#[tokio::test]
async fn only_one_scheduler_holds_a_queue_lease_until_it_lapses() {
    let app = spawn_queue_app(QueueAppOptions {
        tick_ms: None,
        ..Default::default()
    })
    .await;
    let queue = app.create_queue("lease", queue_config(1, 1, 60, 10)).await;
    assert!(app.store.try_lease(&queue, "replica-a", 300).await.unwrap());
    assert!(!app.store.try_lease(&queue, "replica-b", 300).await.unwrap());
    assert!(
        app.store.try_lease(&queue, "replica-a", 300).await.unwrap(),
        "renewal"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        app.store.try_lease(&queue, "replica-b", 300).await.unwrap(),
        "takeover"
    );
    assert!(!app.store.try_lease(&queue, "replica-a", 300).await.unwrap());
}
