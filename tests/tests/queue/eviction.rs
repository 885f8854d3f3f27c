use std::time::Duration;

use queue_service::store::TickParams;
use serde_json::Value;
use shared::ids::UserId;
use shared::token::TokenCodec;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};
use tests::{TEST_TOKEN_SECRET, assert_problem, eventually};

async fn status_of(
    app: &tests::queue_app::TestQueueApp,
    queue: &shared::ids::QueueId,
    user: &str,
    token: &str,
) -> Value {
    let response = app.heartbeat(queue, user, token).await;
    assert_eq!(response.status(), 200, "{user}");
    response.json().await.unwrap()
}

fn token_of(status: &Value) -> String {
    status["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_silent_user_is_evicted_after_the_heartbeat_ttl_and_rejoins_at_the_back() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    // One active slot, taken by the first user; the other two wait.
    let queue = app.create_queue("silent", queue_config(1, 10, 60, 1)).await;
    let holder = token_of(&app.join(&queue, "holder").await);
    let silent = token_of(&app.join(&queue, "silent").await);
    let chatty = token_of(&app.join(&queue, "chatty").await);

    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2_000) {
        status_of(&app, &queue, "holder", &holder).await;
        status_of(&app, &queue, "chatty", &chatty).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_problem(
        app.heartbeat(&queue, "silent", &silent).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    let chatty_status = status_of(&app, &queue, "chatty", &chatty).await;
    assert_eq!(chatty_status["status"], "waiting");
    assert_eq!(
        chatty_status["position"], 1,
        "the evicted user no longer counts"
    );
    assert_eq!(
        status_of(&app, &queue, "holder", &holder).await["status"],
        "active"
    );

    let rejoined = app.issue(&queue, "silent").await;
    assert_eq!(rejoined.status(), 201, "a new token, not the old one");
    let rejoined: Value = rejoined.json().await.unwrap();
    assert_ne!(token_of(&rejoined), silent);
    assert_eq!(rejoined["position"], 2, "at the back");
    assert_problem(
        app.heartbeat(&queue, "silent", &silent).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn a_silent_active_user_loses_the_slot_to_the_next_in_line() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("silent-active", queue_config(1, 10, 60, 1))
        .await;
    let first = token_of(&app.join(&queue, "first").await);
    let second = token_of(&app.join(&queue, "second").await);
    eventually("first promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "first", &first).await["status"] == "active").then_some(())
    })
    .await;
    // "first" goes quiet; "second" keeps polling and inherits the slot.
    eventually("second promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "second", &second).await["status"] == "active").then_some(())
    })
    .await;
    assert_problem(
        app.heartbeat(&queue, "first", &first).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn an_active_window_ends_after_active_ttl_even_with_heartbeats() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("active-ttl", queue_config(5, 10, 1, 1))
        .await;
    let token = token_of(&app.join(&queue, "shopper").await);
    eventually("promotion", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "shopper", &token).await["status"] == "active").then_some(())
    })
    .await;
    eventually("active window to close", Duration::from_secs(5), || async {
        let response = app.heartbeat(&queue, "shopper", &token).await;
        (response.status() == 410).then_some(())
    })
    .await;
}

#[tokio::test]
async fn leaving_frees_the_slot_for_the_next_in_line() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("leave", queue_config(1, 10, 600, 60))
        .await;
    let first = token_of(&app.join(&queue, "first").await);
    let second = token_of(&app.join(&queue, "second").await);
    eventually("first promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "first", &first).await["status"] == "active").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&app, &queue, "second", &second).await["status"],
        "waiting"
    );

    assert_eq!(app.leave(&queue, "first", &first).await.status(), 204);
    assert_eq!(
        app.leave(&queue, "first", &first).await.status(),
        204,
        "idempotent"
    );
    assert_problem(
        app.heartbeat(&queue, "first", &first).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    eventually("second promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "second", &second).await["status"] == "active").then_some(())
    })
    .await;
}

#[tokio::test]
async fn leaving_the_line_while_waiting_moves_everyone_behind_up() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("leave-waiting", queue_config(1, 10, 600, 60))
        .await;
    let a = token_of(&app.join(&queue, "a").await);
    let b = token_of(&app.join(&queue, "b").await);
    assert_eq!(status_of(&app, &queue, "b", &b).await["position"], 2);
    assert_eq!(app.leave(&queue, "a", &a).await.status(), 204);
    assert_eq!(status_of(&app, &queue, "b", &b).await["position"], 1);
    assert_eq!(app.stats(&queue).await["waiting"], 1);
}

#[tokio::test]
async fn completing_a_token_after_payment_frees_the_slot_for_the_next_in_line() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("complete", queue_config(1, 10, 600, 60))
        .await;
    let buyer = token_of(&app.join(&queue, "buyer").await);
    let next = token_of(&app.join(&queue, "next").await);
    eventually("buyer promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "buyer", &buyer).await["status"] == "active").then_some(())
    })
    .await;

    // What the reservation service runs after a payment commits.
    let codec = TokenCodec::new(&TEST_TOKEN_SECRET.to_owned().into());
    let ticket = codec
        .verify_for(&buyer, &queue, &UserId::parse("buyer").unwrap())
        .unwrap();
    assert!(
        shared::queue::complete(app.store.pool(), &ticket)
            .await
            .unwrap()
    );
    assert!(
        !shared::queue::complete(app.store.pool(), &ticket)
            .await
            .unwrap(),
        "only once"
    );

    assert_problem(
        app.heartbeat(&queue, "buyer", &buyer).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    eventually("next promoted", Duration::from_secs(5), || async {
        (status_of(&app, &queue, "next", &next).await["status"] == "active").then_some(())
    })
    .await;
}

#[tokio::test]
async fn each_tick_sweeps_a_bounded_number_of_users() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("bounded", queue_config(100, 100, 1, 1))
        .await;
    let users: Vec<UserId> = (0..30)
        .map(|i| UserId::parse(&format!("b{i:02}")).unwrap())
        .collect();
    tests::load::fixtures::issue_many(app.store.pool(), &queue, &users)
        .await
        .unwrap();
    let admitted = app
        .store
        .tick(&queue, TickParams::by_hand(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((admitted.promoted, admitted.active), (30, 30));

    // Everyone's window (and heartbeat) runs out; each tick removes at most
    // 10 users per reason, so clearing 30 takes several ticks.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut removed_per_tick = Vec::new();
    loop {
        let report = app
            .store
            .tick(&queue, TickParams::by_hand(10))
            .await
            .unwrap()
            .unwrap();
        let removed =
            report.evicted_silent_active + report.evicted_silent_waiting + report.expired_active;
        assert!(
            report.evicted_silent_active <= 10 && report.expired_active <= 10,
            "{report:?}"
        );
        removed_per_tick.push(removed);
        if report.active == 0 {
            break;
        }
        assert!(removed_per_tick.len() < 10, "{removed_per_tick:?}");
    }
    assert_eq!(removed_per_tick.iter().sum::<u64>(), 30);
    assert!(removed_per_tick.len() >= 2, "{removed_per_tick:?}");
}

#[tokio::test]
async fn issuing_again_after_the_active_window_ran_out_counts_as_an_expiry() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("late-reissue", queue_config(5, 10, 1, 1))
        .await;
    let first = token_of(&app.join(&queue, "late").await);
    assert_eq!(app.tick(&queue).await.promoted, 1);

    // The window closes; the user asks again before any sweep.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let again = app.issue(&queue, "late").await;
    assert_eq!(again.status(), 201, "a new place");
    let again: Value = again.json().await.unwrap();
    assert_ne!(token_of(&again), first);
    assert_eq!(again["status"], "waiting");

    let evicted_total = || async {
        let mut conn = app.store.pool().get().await.unwrap();
        deadpool_redis::redis::cmd("HGET")
            .arg(app.store.keys(&queue).state())
            .arg("evicted_total")
            .query_async::<Option<u64>>(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(evicted_total().await, Some(1));
    let metrics = app.metrics_text().await;
    let expired = format!(
        "queue_evicted_total{{queue=\"{queue}\",reason=\"active_expired\",service=\"queue-service\"}} 1"
    );
    assert!(metrics.contains(&expired), "{expired} in:\n{metrics}");

    // The sweep that follows does not count the same window again.
    let report = app.tick(&queue).await;
    assert_eq!(
        (report.expired_active, report.evicted_silent_active),
        (0, 0)
    );
    assert_eq!(evicted_total().await, Some(1));
}
