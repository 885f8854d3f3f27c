use std::time::Duration;

use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};
use tests::redis_server::ThrowawayRedis;
use tests::{assert_problem, eventually};

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
    let token = app.join(&queue, "patient").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
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
    assert_problem(
        app.client
            .get(app.url(&format!("/v1/queues/{queue}")))
            .send()
            .await
            .unwrap(),
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
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
