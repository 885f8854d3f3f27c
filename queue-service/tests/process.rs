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
