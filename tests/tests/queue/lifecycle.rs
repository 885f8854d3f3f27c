//! A queue's life beyond its sale: deleted by an admin (tokens answer 410,
//! nothing of it is left ticking or labelled), and brought back without an
//! admin when Redis loses its data: declared queues always, other queues
//! from the scheduler's memory. Outages, meanwhile, cost nobody their place.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_redis::redis;
use serde_json::Value;
use shared::ids::QueueId;
use tests::queue_app::{
    QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app, unique_queue,
};
use tests::redis_server::ThrowawayRedis;
use tests::{TEST_ADMIN_KEY, assert_problem, eventually};

async fn delete(app: &TestQueueApp, queue: &QueueId) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/v1/admin/queues/{queue}")))
        .bearer_auth(TEST_ADMIN_KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deleted_queue_answers_410_to_its_tokens_and_leaves_nothing_behind() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("deleted", queue_config(1, 10, 600, 60))
        .await;
    let first = app.join_token(&queue, "first").await;
    let second = app.join_token(&queue, "second").await;
    let label = format!("queue=\"{queue}\"");
    eventually(
        "the scheduler to label the queue",
        Duration::from_secs(5),
        || async { app.metrics_text().await.contains(&label).then_some(()) },
    )
    .await;

    assert_eq!(delete(&app, &queue).await.status(), 204);
    assert_problem(
        app.heartbeat(&queue, "first", &first).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_problem(
        app.heartbeat(&queue, "second", &second).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_problem(app.get_stats(&queue).await, 404, "QUEUE_NOT_FOUND").await;
    assert_problem(app.issue(&queue, "third").await, 404, "QUEUE_NOT_FOUND").await;
    assert_problem(delete(&app, &queue).await, 404, "QUEUE_NOT_FOUND").await;
    assert!(!app.store.queue_ids().await.unwrap().contains(&queue));
    let keys = app.store.keys(&queue).all();
    let mut conn = app.store.pool().get().await.unwrap();
    let left: i64 = redis::cmd("EXISTS")
        .arg(&keys[..])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "no key of the queue is left");
    assert!(
        !app.metrics_text().await.contains(&label),
        "its series are gone"
    );
    // A leave of a deleted queue's token is a no-op, not an error.
    assert_eq!(app.leave(&queue, "first", &first).await.status(), 204);
}

#[tokio::test]
async fn deleting_needs_the_admin_key() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("guarded", queue_config(1, 1, 60, 60))
        .await;
    let response = app
        .client
        .delete(app.url(&format!("/v1/admin/queues/{queue}")))
        .bearer_auth("wrong-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "ADMIN_UNAUTHORIZED").await;
    assert_eq!(app.get_stats(&queue).await.status(), 200);
}

#[tokio::test]
async fn declared_queues_come_back_whenever_redis_loses_them() {
    let redis = ThrowawayRedis::start();
    let declared = unique_queue("declared");
    let app = spawn_queue_app(QueueAppOptions {
        redis_url: redis.url(),
        declared: BTreeMap::from([(declared.to_string(), queue_config(3, 3, 600, 60))]),
        ..QueueAppOptions::default()
    })
    .await;
    let back = || async { (app.get_stats(&declared).await.status() == 200).then_some(()) };
    eventually(
        "the declared queue to be created",
        Duration::from_secs(5),
        back,
    )
    .await;
    assert_problem(delete(&app, &declared).await, 409, "QUEUE_DECLARED").await;

    flush(&redis).await;
    assert_problem(app.get_stats(&declared).await, 404, "QUEUE_NOT_FOUND").await;
    eventually(
        "the declared queue to come back",
        Duration::from_secs(2),
        back,
    )
    .await;
    assert_eq!(app.stats(&declared).await["max_active"], 3);
}

#[tokio::test]
async fn other_queues_come_back_after_redis_restarts_empty_and_their_users_rejoin() {
    let mut redis = ThrowawayRedis::start();
    let app = spawn_queue_app(QueueAppOptions {
        redis_url: redis.url(),
        ..QueueAppOptions::default()
    })
    .await;
    let queue = app
        .create_queue("remembered", queue_config(1, 1, 600, 60))
        .await;
    let first = app.join_token(&queue, "first").await;
    let waiting = app.join_token(&queue, "waiting").await;
    // One scheduler round sees the queue and remembers it.
    tokio::time::sleep(Duration::from_millis(400)).await;

    redis.restart(); // no persistence: everything is gone
    eventually("the queue to come back", Duration::from_secs(3), || async {
        (app.get_stats(&queue).await.status() == 200).then_some(())
    })
    .await;
    let stats = app.stats(&queue).await;
    assert_eq!(
        (stats["max_active"].as_u64(), stats["waiting"].as_u64()),
        (Some(1), Some(0))
    );
    // Places cannot survive a Redis that lost them: 410, then join again.
    assert_problem(
        app.heartbeat(&queue, "first", &first).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_problem(
        app.heartbeat(&queue, "waiting", &waiting).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_eq!(app.issue(&queue, "waiting").await.status(), 201);

    // A queue deleted while Redis keeps its data stays deleted.
    assert_eq!(delete(&app, &queue).await.status(), 204);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_problem(app.get_stats(&queue).await, 404, "QUEUE_NOT_FOUND").await;
}

async fn flush(redis: &ThrowawayRedis) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
}

/// The reproduction from the field: heartbeat TTL short, Redis with AOF
/// killed with `kill -9` and started again after twice the TTL, clients
/// polling (and getting 503) all along. Nobody may lose their place.
#[tokio::test]
async fn an_outage_longer_than_the_heartbeat_ttl_costs_nobody_their_place() {
    let mut redis = ThrowawayRedis::start_with_aof();
    let app = Arc::new(
        spawn_queue_app(QueueAppOptions {
            redis_url: redis.url(),
            ..QueueAppOptions::default()
        })
        .await,
    );
    let ttl_seconds = 2;
    let queue = app
        .create_queue("outage", queue_config(3, 100, 600, ttl_seconds))
        .await;
    let users: Vec<String> = (0..12).map(|i| format!("fan{i:02}")).collect();
    let mut tokens = Vec::new();
    for user in &users {
        tokens.push(app.join_token(&queue, user).await);
    }
    let quiet = app.join_token(&queue, "quiet").await; // never polls
    eventually("three users admitted", Duration::from_secs(5), || async {
        (app.stats(&queue).await["active"] == 3).then_some(())
    })
    .await;

    // Every fan polls every 400 ms, as a page obeying poll_after_ms would
    // (a third of the TTL and less), straight through the outage.
    let polling = Arc::new(AtomicBool::new(true));
    let pollers: Vec<_> = users
        .iter()
        .zip(&tokens)
        .map(|(user, token)| {
            let (app, queue, polling) = (app.clone(), queue.clone(), polling.clone());
            let (user, token) = (user.clone(), token.clone());
            tokio::spawn(async move {
                while polling.load(Ordering::Relaxed) {
                    let _ = app.heartbeat(&queue, &user, &token).await;
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.stop(); // kill -9
    tokio::time::sleep(Duration::from_secs(2 * u64::from(ttl_seconds))).await;
    redis.restart();
    // Several TTLs of normal service after the outage.
    tokio::time::sleep(Duration::from_secs(3 * u64::from(ttl_seconds))).await;
    polling.store(false, Ordering::Relaxed);
    for poller in pollers {
        poller.await.unwrap();
    }

    let mut active = Vec::new();
    let mut waiting = Vec::new();
    for (user, token) in users.iter().zip(&tokens) {
        let response = app.heartbeat(&queue, user, token).await;
        assert_eq!(response.status(), 200, "{user} lost their place");
        let status: Value = response.json().await.unwrap();
        match status["status"].as_str().unwrap() {
            "active" => active.push(user.clone()),
            _ => waiting.push((status["position"].as_u64().unwrap(), user.clone())),
        }
    }
    assert_eq!(active, users[..3], "the active ones are still active");
    waiting.sort();
    let order: Vec<&String> = waiting.iter().map(|(_, user)| user).collect();
    assert_eq!(
        order,
        users[3..].iter().collect::<Vec<_>>(),
        "the line kept its order"
    );
    let positions: Vec<u64> = waiting.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>());
    // Silence after the outage still counts: the quiet user is gone.
    assert_problem(
        app.heartbeat(&queue, "quiet", &quiet).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(&format!(
            "queue_outage_credited_milliseconds_total{{queue=\"{queue}\""
        )),
        "the credited outage is counted"
    );
}
