use std::time::Duration;

use serde_json::Value;
use tests::eventually;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};

#[tokio::test]
async fn waiting_status_carries_an_estimate_and_a_bounded_poll_interval() {
    let app = spawn_queue_app(QueueAppOptions {
        tick_ms: None,
        ..Default::default()
    })
    .await;
    // 2 admissions per second: the 40th in line waits about 20 s.
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
async fn the_estimate_follows_the_measured_admission_rate() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    // Configured for 50/s, but only 2 slots that nobody frees: the line
    // stops moving, and the estimate must say so rather than echo 50/s.
    let queue = app
        .create_queue("measured", queue_config(2, 50, 600, 60))
        .await;
    for i in 0..200 {
        app.join(&queue, &format!("m-{i:03}")).await;
    }
    let last = app.join(&queue, "m-199").await;
    let token = last["token"].as_str().unwrap().to_owned();
    let initial = last["estimated_wait_seconds"].as_u64().unwrap();
    assert!(
        initial <= 5,
        "about 200 in line at the configured 50/s: {initial}"
    );
    let grown = eventually("estimate to double", Duration::from_secs(20), || async {
        let status: Value = app
            .heartbeat(&queue, "m-199", &token)
            .await
            .json()
            .await
            .unwrap();
        let eta = status["estimated_wait_seconds"].as_u64().unwrap();
        (eta >= 2 * initial).then_some(eta)
    })
    .await;
    assert!(grown >= 8);
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app.create_queue("ops", queue_config(5, 10, 600, 60)).await;
    app.join(&queue, "metric-user").await;
    eventually("a tick", Duration::from_secs(5), || async {
        (app.stats(&queue).await["active"] == 1).then_some(())
    })
    .await;

    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "http_request_duration_seconds_bucket",
        "queue_waiting_users",
        "queue_active_users",
        "queue_promoted_total",
        "queue_tick_duration_seconds",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
    assert!(
        metrics.contains(&format!(
            "queue_active_users{{queue=\"{queue}\",service=\"queue-service\"}} 1"
        )),
        "active gauge for the queue:\n{metrics}"
    );
    assert!(
        metrics.contains("route=\"/v1/queues/{queue_id}/tokens\""),
        "route label is the pattern"
    );

    let openapi: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/admin/queues/{queue_id}",
        "/v1/queues/{queue_id}",
        "/v1/queues/{queue_id}/tokens",
        "/v1/queues/{queue_id}/heartbeat",
        "/v1/queues/{queue_id}/tokens/me",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
}

#[tokio::test]
async fn browsers_on_configured_origins_may_call_the_api() {
    let app = spawn_queue_app(QueueAppOptions {
        tick_ms: None,
        ..Default::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                app.url("/v1/queues/any/heartbeat"),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-user-id,x-queue-token")
            .send()
    };
    let allowed = preflight("http://allowed.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://allowed.example"
    );
    let foreign = preflight("http://elsewhere.example").await.unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
