use std::time::Duration;

use serde_json::Value;
use tests::eventually;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};

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

    let metrics = app.metrics_text().await;
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
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
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

#[tokio::test]
async fn the_operator_lists_every_queue_with_its_settings_and_figures() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let busy = app
        .create_queue("list-b", queue_config(2, 10, 600, 60))
        .await;
    let quiet = app
        .create_queue("list-a", queue_config(7, 3, 600, 60))
        .await;
    for user in ["l1", "l2", "l3"] {
        app.join(&busy, user).await;
    }
    app.tick(&busy).await;

    let url = app.url("/v1/admin/queues");
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let list: Value = app
        .client
        .get(&url)
        .bearer_auth(tests::TEST_ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let queues = list["queues"].as_array().unwrap();
    let ids: Vec<&str> = queues
        .iter()
        .map(|q| q["settings"]["queue_id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in id order");
    let find = |queue: &shared::ids::QueueId| {
        queues
            .iter()
            .find(|q| q["settings"]["queue_id"] == queue.as_str())
            .unwrap()
            .clone()
    };
    let busy = find(&busy);
    assert_eq!(
        (busy["active"].as_u64(), busy["waiting"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(busy["settings"]["max_active"], 2);
    assert_eq!(busy["effective_admit_per_second"], 10.0);
    assert!(busy["seats_left"].is_null() && busy["sold_out"] == false);
    assert_eq!(find(&quiet)["settings"]["admit_per_second"], 3);
}
