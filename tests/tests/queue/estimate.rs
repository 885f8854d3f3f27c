//! The wait estimate must be honest: never a short wait the settings cannot
//! deliver, and close to the pace the line really moves at. The scheduler is
//! off in these tests; they tick by hand so time and pace are known.

use std::time::Duration;

use serde_json::Value;
use shared::ids::QueueId;
use tests::queue_app::{QueueAppOptions, TestQueueApp, line_up, queue_config, spawn_queue_app};

fn eta(status: &Value) -> u64 {
    status["estimated_wait_seconds"].as_u64().unwrap()
}

fn position(status: &Value) -> u64 {
    status["position"].as_u64().unwrap()
}

async fn status_of(app: &TestQueueApp, queue: &QueueId, user: &str, token: &str) -> Value {
    let response = app.heartbeat(queue, user, token).await;
    assert_eq!(response.status(), 200, "{user}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn waiting_status_carries_an_estimate_and_a_bounded_poll_interval() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    // 2 admissions per second and slots for everyone: the 40th in line
    // waits about 20 s.
    let queue = app
        .create_queue("eta", queue_config(1_000, 2, 600, 30))
        .await;
    let mut last = Value::Null;
    for i in 0..40 {
        last = app.join(&queue, &format!("eta-{i}")).await;
    }
    assert_eq!(last["status"], "waiting");
    assert_eq!(last["position"], 40);
    assert_eq!(last["estimated_wait_seconds"], 20);
    assert!(last["active_until"].is_null());
    let poll = last["poll_after_ms"].as_u64().unwrap();
    assert!(
        (1_000..=10_000).contains(&poll),
        "poll {poll} within [1 s, ttl/3]"
    );

    let head = app
        .heartbeat(
            &queue,
            "eta-0",
            app.join(&queue, "eta-0").await["token"].as_str().unwrap(),
        )
        .await;
    let head: Value = head.json().await.unwrap();
    assert_eq!(head["position"], 1);
    assert_eq!(head["poll_after_ms"], 1_000, "the head polls every second");
    assert!(poll > 1_000, "the back polls less often than the head");
}

#[tokio::test]
async fn with_few_slots_the_first_estimate_counts_whole_active_windows() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    // 1000/s would admit everyone at once, but 10 slots held for up to
    // 10 minutes let 10 users in per 10 minutes when nobody buys early:
    // the 190th in line is in the 19th group, 18 windows (3 hours) away.
    let queue = app
        .create_queue("eta-slots", queue_config(10, 1_000, 600, 600))
        .await;
    line_up(&app.store, &queue, "s", 200).await;
    let status = app.join(&queue, "s189").await;
    let token = status["token"].as_str().unwrap().to_owned();
    assert_eq!(position(&status), 190);
    let honest = 10_700..=10_900;
    assert!(
        honest.contains(&eta(&status)),
        "before any tick: {}",
        eta(&status)
    );

    // The first ticks fill the 10 slots in one burst; nobody leaves. That
    // burst is no pace the line keeps, and the estimate must not take it
    // for one.
    for _ in 0..5 {
        app.tick(&queue).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status = status_of(&app, &queue, "s189", &token).await;
        assert_eq!(position(&status), 180);
        assert!(
            honest.contains(&eta(&status)),
            "after a tick: {}",
            eta(&status)
        );
    }
}

#[tokio::test]
async fn a_line_that_kept_draining_does_not_slow_the_estimate_for_a_crowd() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("eta-drain", queue_config(1_000, 100, 600, 60))
        .await;
    // A trickle: each arrival is admitted by the next tick, so the line is
    // empty after every tick. That says how fast people arrive, not how
    // fast the line can move.
    for i in 0..12 {
        app.join(&queue, &format!("early-{i}")).await;
        let report = app.tick(&queue).await;
        assert_eq!((report.promoted, report.waiting), (1, 0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Then a crowd: 500 at once, with slots for all, at 100/s.
    line_up(&app.store, &queue, "crowd-", 499).await;
    let last = app.join(&queue, "crowd-last").await;
    assert_eq!(position(&last), 500);
    let told = eta(&last);
    assert!((5..=6).contains(&told), "told {told} s");

    let started = tokio::time::Instant::now();
    while app.tick(&queue).await.waiting > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed().as_secs_f64();
    assert!(
        took <= told as f64 + 1.0,
        "told {told} s, the line drained in {took:.1} s"
    );
}

#[tokio::test]
async fn the_estimate_follows_how_fast_buyers_free_their_slots() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    // Two slots, held for up to 10 minutes: until buyers are seen to
    // finish, the estimate counts on one pair per 10 minutes.
    let queue = app
        .create_queue("eta-measured", queue_config(2, 50, 600, 600))
        .await;
    let tickets = line_up(&app.store, &queue, "m", 400).await;
    let last = app.join(&queue, "m399").await;
    let token = last["token"].as_str().unwrap().to_owned();
    let initial = eta(&last);
    assert!(initial >= 100_000, "400 in line, 2 per 10 min: {initial}");

    // Buyers now finish as soon as they are let in, two per tick: the line
    // moves at about 20/s, and the estimate must come to say so.
    let mut cursor = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        app.tick(&queue).await;
        while cursor < tickets.len()
            && shared::queue::complete(app.store.pool(), &tickets[cursor])
                .await
                .unwrap()
        {
            cursor += 1;
        }
        let status = status_of(&app, &queue, "m399", &token).await;
        let (eta, position) = (eta(&status), position(&status));
        assert!(
            eta >= position / 25,
            "never faster than the line moves: {eta} s for {position}"
        );
        if eta <= position / 10 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {eta} s for {position} after {cursor} purchases"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sample_of_admitted_users_measures_how_honest_their_estimate_was() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("honesty", queue_config(1_000, 1_000, 600, 600))
        .await;
    let mut sampled = 0;
    for i in 0..64 {
        let status = app.join(&queue, &format!("honest-{i}")).await;
        assert_eq!(status["estimated_wait_seconds"], 1, "{status}");
        sampled += usize::from(queue_service::domain::samples_estimate(i + 1));
    }
    assert!(sampled > 0, "the sample rule picks some of 64");
    let report = app.tick(&queue).await;
    assert_eq!(report.promoted, 64);
    // Each was told "1 s" and admitted at once: about a second early.
    assert_eq!(report.estimate_errors_ms.len(), sampled, "{report:?}");
    assert!(
        report
            .estimate_errors_ms
            .iter()
            .all(|e| (-1_000..=0).contains(e)),
        "{report:?}"
    );
    // The next step has no samples left to report.
    assert!(app.tick(&queue).await.estimate_errors_ms.is_empty());
}
