//! The real binary, as an orchestrator runs it: refuses to start without
//! its secrets, says how it identifies callers, and exits cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../../tests/src/process.rs"]
mod process;
use process::{assert_stops_cleanly_on_sigterm, free_port};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn service(envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_queue-service"));
    command
        .env_clear()
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", "process-test:")
        .env(
            "AUTH_JWT_SECRET",
            "process-test-jwt-secret-0123456789-abcdef",
        )
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn sigterm_stops_cleanly(scheduler_enabled: &str) {
    let port = free_port().to_string();
    let mut child = service(&[
        ("PORT", &port),
        ("QUEUE_TOKEN_SECRET", "process-test-secret-0123456789"),
        ("ADMIN_API_KEY", "process-test-admin-0123456789"),
        ("APP__SCHEDULER__ENABLED", scheduler_enabled),
    ])
    .spawn()
    .unwrap();
    let port: u16 = port.parse().unwrap();
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(20));
}

#[test]
fn sigterm_stops_the_service_and_its_scheduler() {
    sigterm_stops_cleanly("true");
}

#[test]
fn sigterm_stops_a_replica_without_scheduler() {
    sigterm_stops_cleanly("false");
}

#[test]
fn refuses_to_start_without_a_secret_and_names_it() {
    let output = service(&[("ADMIN_API_KEY", "process-test-admin-0123456789")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("QUEUE_TOKEN_SECRET"), "{stderr}");
}

#[test]
fn jwt_mode_without_a_key_refuses_to_start_and_names_the_variables() {
    let output = service(&[
        ("QUEUE_TOKEN_SECRET", "process-test-secret-0123456789"),
        ("ADMIN_API_KEY", "process-test-admin-0123456789"),
        ("AUTH_JWT_SECRET", ""),
    ])
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTH_JWT_SECRET"), "{stderr}");
    assert!(stderr.contains("AUTH_MODE=trusted-header"), "{stderr}");
}

#[test]
fn trusted_header_mode_says_so_at_start_up() {
    let port = free_port();
    let mut child = service(&[
        ("PORT", &port.to_string()),
        ("QUEUE_TOKEN_SECRET", "process-test-secret-0123456789"),
        ("ADMIN_API_KEY", "process-test-admin-0123456789"),
        ("AUTH_MODE", "trusted-header"),
        ("APP__SCHEDULER__ENABLED", "false"),
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(20));
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    assert!(
        logs.contains("AUTH_MODE=trusted-header: the user id is taken from X-User-Id"),
        "{logs}"
    );
}

#[test]
fn help_lists_the_settings_and_exits() {
    let output = service(&[])
        .arg("--help")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in ["QUEUE_TOKEN_SECRET", "AUTH_MODE", "TRUSTED_PROXIES"] {
        assert!(help.contains(variable), "{help}");
    }
}

/// A redis-server of this test's own, without persistence.
struct OwnRedis {
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An outage is logged as one line when it starts, counts while it lasts,
/// and one line when it ends; every refused request is counted in metrics.
#[test]
fn an_outage_is_logged_once_with_counts_not_once_per_request() {
    let redis_port = free_port();
    let mut redis = OwnRedis::start(redis_port);
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("queue-outage-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = service(&[
        ("PORT", &port.to_string()),
        ("QUEUE_TOKEN_SECRET", "process-test-secret-0123456789"),
        ("ADMIN_API_KEY", "process-test-admin-0123456789"),
        ("AUTH_MODE", "trusted-header"),
        ("REDIS_URL", &format!("redis://127.0.0.1:{redis_port}")),
        ("LOG_FORMAT", "json"),
    ])
    .stdout(log)
    .spawn()
    .unwrap();
    process::wait_until_ready(port, Duration::from_secs(20));
    let admin = "Authorization: Bearer process-test-admin-0123456789";
    let json = "Content-Type: application/json";
    let created = process::http(
        port,
        "PUT /v1/admin/queues/outage",
        &[admin, json],
        r#"{"max_active": 5, "admit_per_second": 5, "active_ttl_seconds": 60, "heartbeat_ttl_seconds": 30}"#,
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");

    drop(redis);
    for i in 0..200 {
        let reply = process::http(
            port,
            "POST /v1/queues/outage/tokens",
            &[&format!("X-User-Id: fan{i}")],
            "",
        );
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    }
    redis = OwnRedis::start(redis_port);
    process::wait_until_ready(port, Duration::from_secs(10));
    // The watch notices within its one-second probe.
    std::thread::sleep(Duration::from_millis(1_500));
    let metrics = process::http(port, "GET /metrics", &[], "");
    assert!(
        metrics.contains(
            "dependency_refusals_total{dependency=\"redis\",service=\"queue-service\"} 200"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("dependency_up{dependency=\"redis\",service=\"queue-service\"} 1"));
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(5));
    drop(redis);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("\"WARN\"")).collect();
    let down: Vec<&&str> = warnings
        .iter()
        .filter(|l| l.contains("redis is unavailable"))
        .collect();
    assert_eq!(down.len(), 1, "one line when it goes down: {warnings:#?}");
    assert!(
        warnings.len() <= 4,
        "a handful of warnings for 200 refused requests, not one each: {warnings:#?}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("redis answers again") && l.contains("\"refused\":200")),
        "one line when it is back, with the count: {logs}"
    );
}
