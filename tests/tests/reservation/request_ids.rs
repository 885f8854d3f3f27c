//! Every answer names its request in `X-Request-Id`, every problem body
//! repeats it as `request_id`, and the gateway's id is kept when sane.

use reqwest::Response;
use reqwest::header::HeaderValue;
use shared::request_id::RequestId;
use tests::assert_problem;
use tests::reservation_app::spawn_reservation_app;

fn request_id(response: &Response) -> String {
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on a {} answer", response.status()))
        .to_str()
        .expect("a visible ASCII id")
        .to_owned();
    assert!(RequestId::parse(id.as_bytes()).is_some(), "{id:?}");
    id
}

async fn problem_id(response: Response, status: u16, code: &str) -> String {
    let id = request_id(&response);
    let body = assert_problem(response, status, code).await;
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    id
}

#[tokio::test]
async fn problems_carry_the_request_id_of_their_answer() {
    let app = spawn_reservation_app().await;

    let not_found = app.client.get(app.url("/nowhere")).send().await.unwrap();
    problem_id(not_found, 404, "NOT_FOUND").await;
    let wrong_method = app.client.delete(app.url("/healthz")).send().await.unwrap();
    problem_id(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
    let bad_path = app
        .client
        .get(app.url("/v1/schedules/not-a-number/seats"))
        .send()
        .await
        .unwrap();
    problem_id(bad_path, 400, "INVALID_PATH").await;
    let missing_reservation = app.get_reservation("alice", 987_654_321).await;
    problem_id(missing_reservation, 404, "RESERVATION_NOT_FOUND").await;
}

#[tokio::test]
async fn a_sane_gateway_id_is_kept_and_an_insane_one_replaced() {
    let app = spawn_reservation_app().await;

    let ok = app
        .client
        .get(app.url("/v1/concerts"))
        .header("X-Request-Id", "gw-5f2c")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(request_id(&ok), "gw-5f2c");

    let refused = app
        .client
        .get(app.url("/v1/reservations/1"))
        .header("X-Request-Id", "gw-5f2d")
        .send()
        .await
        .unwrap();
    assert_eq!(problem_id(refused, 401, "USER_ID_MISSING").await, "gw-5f2d");

    for insane in [
        HeaderValue::from_str(&"b".repeat(200)).unwrap(),
        HeaderValue::from_static("id with spaces"),
        HeaderValue::from_static("ctl\there"),
    ] {
        let sent = insane.as_bytes().to_vec();
        let response = app
            .client
            .get(app.url("/v1/concerts"))
            .header("X-Request-Id", insane)
            .send()
            .await
            .unwrap();
        let replaced = request_id(&response);
        assert_ne!(replaced.as_bytes(), &sent[..]);
        assert_eq!(replaced.len(), 36, "a fresh UUID: {replaced}");
    }
}
