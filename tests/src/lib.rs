//! Test support: start the real services on random ports against real
//! Redis and MariaDB, each test with its own database and queue ids, plus
//! throwaway servers and a cuttable TCP proxy for fault tests.

pub mod auth;
pub mod load;
pub mod mariadb_server;
pub mod mysql;
pub mod process;
pub mod proxy;
pub mod queue_app;
pub mod redis_cluster;
pub mod redis_server;
pub mod reservation_app;

/// Development secrets the test apps share (both services must agree).
pub const TEST_TOKEN_SECRET: &str = "test-queue-token-secret-0123456789";
pub const TEST_ADMIN_KEY: &str = "test-admin-key-0123456789";

/// Where the machine's shared servers are, overridable for other set-ups.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn mysql_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A service binary of the workspace, from the target directory and
/// profile this test was built in (`cargo test --workspace` builds them).
pub fn service_binary(name: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = test
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(name))
        .unwrap();
    assert!(
        path.exists(),
        "{} is not built: run cargo build -p {name} (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// A short random suffix that keeps tests' queue ids and databases apart.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Polls `probe` every 50 ms until it returns `Some`, or panics after
/// `timeout` with `what` — for outcomes that need a scheduler tick.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Asserts an error response is problem+json with the given status and code.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    let actual_status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Read the body first so a wrong status shows what came instead.
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(actual_status, status, "status for {code}; body: {body}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "content-type {content_type:?} for {code}; body: {body}"
    );
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem lacks {field}: {body}");
    }
    body
}
