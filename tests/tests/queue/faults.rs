use std::time::Duration;

use deadpool_redis::redis;
use queue_service::store::TickParams;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app, unique_queue};
use tests::redis_server::ThrowawayRedis;
use tests::{assert_problem, eventually};

async fn redis_cmd<T: redis::FromRedisValue>(
    app: &tests::queue_app::TestQueueApp,
    cmd: &mut redis::Cmd,
) -> T {
    let mut conn = app.store.pool().get().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn redis_stopped_answers_503_and_the_service_recovers_without_a_restart() {
    let mut redis = ThrowawayRedis::start();
    let app = spawn_queue_app(QueueAppOptions {
        redis_url: redis.url(),
        ..Default::default()
    })
    .await;
    let queue = app
        .create_queue("fault", queue_config(10, 10, 600, 60))
        .await;
    let token = app.join_token(&queue, "patient").await;
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    redis.stop();
    assert_problem(
        app.issue(&queue, "newcomer").await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let heartbeat = app.heartbeat(&queue, "patient", &token).await;
    assert!(heartbeat.headers().contains_key("retry-after"));
    assert_problem(heartbeat, 503, "SERVICE_UNAVAILABLE").await;
    assert_problem(app.get_stats(&queue).await, 503, "SERVICE_UNAVAILABLE").await;
    assert_problem(
        app.client.get(app.url("/readyz")).send().await.unwrap(),
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    // Liveness does not depend on Redis: the process is fine.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The restarted server is empty (it keeps nothing on disk): the same
    // app, without a restart, serves again once the queue is set up anew.
    redis.restart();
    eventually("readiness", Duration::from_secs(10), || async {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        (ready.status() == 200).then_some(())
    })
    .await;
    let recreated = app
        .put_queue(
            &queue,
            &serde_json::to_value(queue_config(10, 10, 600, 60)).unwrap(),
        )
        .await;
    assert_eq!(recreated.status(), 201);
    assert_eq!(app.issue(&queue, "newcomer").await.status(), 201);
    assert_problem(
        app.heartbeat(&queue, "patient", &token).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn a_full_redis_answers_503_not_500() {
    let redis = ThrowawayRedis::start();
    let app = spawn_queue_app(QueueAppOptions {
        redis_url: redis.url(),
        ..QueueAppOptions::without_scheduler()
    })
    .await;
    let queue = app
        .create_queue("full", queue_config(10, 10, 600, 60))
        .await;
    let token = app.join_token(&queue, "early").await;

    // Out of memory with nothing it may evict: every write is refused.
    let _: () = redis_cmd(
        &app,
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(1),
    )
    .await;
    let issue = app.issue(&queue, "late").await;
    assert!(issue.headers().contains_key("retry-after"));
    assert_problem(issue, 503, "SERVICE_UNAVAILABLE").await;
    assert_problem(
        app.heartbeat(&queue, "early", &token).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;

    let _: () = redis_cmd(
        &app,
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0),
    )
    .await;
    assert_eq!(app.issue(&queue, "late").await.status(), 201);
}

#[tokio::test]
async fn a_queue_whose_registration_fails_is_not_left_configured_but_unscheduled() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let registry = app.store.pool().keyspace().registry();
    // A string where the registry set should be: registering fails.
    let _: () = redis_cmd(&app, redis::cmd("SET").arg(&registry).arg("not-a-set")).await;
    let queue = unique_queue("unregistered");
    app.clean_up_after(&queue);
    let config = serde_json::to_value(queue_config(10, 10, 600, 60)).unwrap();
    assert_problem(app.put_queue(&queue, &config).await, 500, "INTERNAL_ERROR").await;
    // No settings were written: no queue that takes users but never admits.
    assert_problem(app.get_stats(&queue).await, 404, "QUEUE_NOT_FOUND").await;
    assert_problem(app.issue(&queue, "early").await, 404, "QUEUE_NOT_FOUND").await;

    // The retry completes it.
    let _: () = redis_cmd(&app, redis::cmd("DEL").arg(&registry)).await;
    assert_eq!(app.put_queue(&queue, &config).await.status(), 201);
    assert!(app.store.queue_ids().await.unwrap().contains(&queue));

    // The worst a failure between the two writes can leave: a registered
    // queue without settings. The scheduler skips it, metrics still render.
    let ghost = unique_queue("ghost");
    app.clean_up_after(&ghost);
    let _: () = redis_cmd(&app, redis::cmd("SADD").arg(&registry).arg(ghost.as_str())).await;
    assert_eq!(
        app.store
            .tick(&ghost, TickParams::by_hand(10_000))
            .await
            .unwrap(),
        None
    );
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
}
