//! The real binary, as an orchestrator runs it: refuses to start without
//! its secrets, and exits cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn service(envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_queue-service"));
    command
        .env_clear()
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", "process-test:")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

fn wait_for_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(port) {
        assert!(Instant::now() < deadline, "the service never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_for_exit(&mut child, Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
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
