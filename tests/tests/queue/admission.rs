use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use queue_service::store::TickParams;
use tests::queue_app::{QueueAppOptions, line_up, queue_config, spawn_queue_app};

const TICKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_schedulers_never_exceed_max_active_nor_promote_twice() {
    const USERS: usize = 10_000;
    const MAX_ACTIVE: u64 = 250;
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue(
            "four-tickers",
            queue_config(MAX_ACTIVE as u32, 100_000, 600, 600),
        )
        .await;
    let tickets = line_up(&app.store, &queue, "u", USERS).await;
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
                    promoted += store
                        .tick(&queue, TickParams::by_hand(10_000))
                        .await
                        .unwrap()
                        .unwrap()
                        .promoted;
                }
                promoted
            })
        })
        .collect();

    // A sampler watches the active count the whole time.
    let max_seen = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (store, queue, done, max_seen) = (
            app.store.clone(),
            queue.clone(),
            done.clone(),
            max_seen.clone(),
        );
        tokio::spawn(async move {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                let active = store.stats(&queue).await.unwrap().unwrap().active;
                max_seen.fetch_max(active, Ordering::Relaxed);
                samples += 1;
            }
            samples
        })
    };

    // Completers finish whoever is active, the way payments do, and count
    // how often each user could be completed.
    let mut completions = vec![0u32; USERS];
    let mut cursor = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cursor < USERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {cursor} completed"
        );
        let window = cursor..(cursor + MAX_ACTIVE as usize * 2).min(USERS);
        let freed: Vec<(usize, bool)> = stream::iter(window)
            .map(|i| {
                let pool = app.store.pool().clone();
                let ticket = tickets[i].clone();
                async move { (i, shared::queue::complete(&pool, &ticket).await.unwrap()) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (i, was_active) in freed {
            if was_active {
                completions[i] += 1;
            }
        }
        while cursor < USERS && completions[cursor] > 0 {
            cursor += 1;
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut promoted_by_tickers = 0;
    for ticker in tickers {
        promoted_by_tickers += ticker.await.unwrap();
    }
    let samples = sampler.await.unwrap();

    assert!(
        completions.iter().all(|&n| n == 1),
        "a user was admitted twice or never"
    );
    assert_eq!(
        promoted_by_tickers, USERS as u64,
        "each user promoted exactly once"
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
    let stats = app.stats(&queue).await;
    assert_eq!(
        (stats["waiting"].as_u64(), stats["active"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promotions_stay_within_admit_per_second_with_concurrent_schedulers() {
    const RATE: u64 = 40;
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("rate", queue_config(100_000, RATE as u32, 600, 600))
        .await;
    line_up(&app.store, &queue, "u", 2_000).await;

    let window = Duration::from_millis(2_500);
    let started = tokio::time::Instant::now();
    let tickers: Vec<_> = (0..TICKERS)
        .map(|_| {
            let store = app.store.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                while started.elapsed() < window {
                    store
                        .tick(&queue, TickParams::by_hand(10_000))
                        .await
                        .unwrap();
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
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
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
