//! Every answer names its request in `X-Request-Id`, every problem body
//! repeats it as `request_id`, and the gateway's id is kept when sane.

use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use shared::request_id::RequestId;
use tests::assert_problem;
use tests::queue_app::{QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app};

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

/// The id in the header and in the problem body, asserting they agree.
async fn problem_id(response: Response, status: u16, code: &str) -> String {
    let id = request_id(&response);
    let body = assert_problem(response, status, code).await;
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    id
}

async fn get(app: &TestQueueApp, path: &str, request_id: Option<HeaderValue>) -> Response {
    let mut request = app.client.get(app.url(path));
    if let Some(id) = request_id {
        request = request.header("X-Request-Id", id);
    }
    request.send().await.expect("request sent")
}

#[tokio::test]
async fn problems_carry_the_request_id_of_their_answer() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app.create_queue("rid", queue_config(10, 10, 600, 60)).await;

    let from_router = problem_id(get(&app, "/nowhere", None).await, 404, "NOT_FOUND").await;
    let wrong_method = app
        .client
        .request(Method::DELETE, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    let from_endpoint = problem_id(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
    let from_handler = problem_id(
        app.heartbeat(&queue, "alice", "not-a-token").await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    let from_extractor = problem_id(
        app.client
            .put(app.url(&format!("/v1/admin/queues/{queue}")))
            .bearer_auth(tests::TEST_ADMIN_KEY)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
        400,
        "MALFORMED_JSON",
    )
    .await;

    let ids = [from_router, from_endpoint, from_handler, from_extractor];
    for (i, id) in ids.iter().enumerate() {
        assert!(!ids[..i].contains(id), "ids repeat: {ids:?}");
    }
}

#[tokio::test]
async fn a_sane_gateway_id_is_kept_on_success_and_on_problems() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let id = "0123456789abcdef0123456789abcdef";

    let ok = get(&app, "/healthz", Some(HeaderValue::from_static(id))).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(request_id(&ok), id);

    let problem = get(
        &app,
        "/nowhere",
        Some(HeaderValue::from_static("edge-7:req_1.a")),
    )
    .await;
    assert_eq!(
        problem_id(problem, 404, "NOT_FOUND").await,
        "edge-7:req_1.a"
    );
}

#[tokio::test]
async fn an_insane_gateway_id_is_replaced_and_never_echoed() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let too_long = "a".repeat(129);
    let insane = [
        HeaderValue::from_str(&too_long).unwrap(),
        HeaderValue::from_static("two words"),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        HeaderValue::from_static("{\"json\":1}"),
        HeaderValue::from_static(""),
    ];
    for value in insane {
        let sent = value.as_bytes().to_vec();
        let ok = get(&app, "/healthz", Some(value.clone())).await;
        let replaced = request_id(&ok);
        assert_ne!(replaced.as_bytes(), &sent[..]);
        assert_eq!(replaced.len(), 36, "a fresh UUID: {replaced}");

        let problem = get(&app, "/nowhere", Some(value)).await;
        let replaced = problem_id(problem, 404, "NOT_FOUND").await;
        assert_ne!(replaced.as_bytes(), &sent[..]);
    }
}
