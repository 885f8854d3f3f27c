use serde_json::Value;
use tests::reservation_app::{
    ReservationAppOptions, spawn_reservation_app, spawn_reservation_app_with,
};

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_reservation_app().await;
    let get = |path: &str| app.client.get(app.url(path)).send();

    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    // One hold so the service's own counters have a sample.
    let (schedule, seat) = app.one_open_seat(1_000).await;
    let token = app.activate("alice").await;
    app.hold_ok("alice", &token, schedule, seat).await;

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("reservation_holds_total"), "{metrics}");
    assert!(metrics.contains(r#"outcome="held""#), "{metrics}");
    assert!(
        metrics.contains(r#"route="/v1/reservations""#),
        "latency by route pattern: {metrics}"
    );

    let openapi: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    for path in [
        "/v1/admin/concerts",
        "/v1/concerts",
        "/v1/concerts/{concert_id}/schedules",
        "/v1/schedules/{schedule_id}/seats",
        "/v1/reservations",
        "/v1/reservations/{reservation_id}",
        "/v1/reservations/{reservation_id}/payment",
        "/v1/users/me/balance",
        "/v1/users/me/balance/charges",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} undocumented");
    }
}

#[tokio::test]
async fn a_configured_front_end_origin_may_call_the_api_from_a_browser() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        cors_allowed_origins: "https://demo.example".to_owned(),
        ..ReservationAppOptions::default()
    })
    .await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/reservations"))
        .header("Origin", "https://demo.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-user-id, x-queue-token, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://demo.example"
    );
    let other = app
        .client
        .get(app.url("/v1/concerts"))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
