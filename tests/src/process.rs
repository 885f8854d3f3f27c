//! Driving a service binary as an orchestrator does: a free port, a
//! readiness probe, waiting for the process to exit. Standard library
//! only, because the services' own process tests include this file by path
//! (only a binary's own package can name it with `CARGO_BIN_EXE_*`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Sends one HTTP/1.1 request (`method path`, extra header lines, body) on
/// a fresh connection and returns the whole reply as text; empty when the
/// service cannot be reached.
pub fn http(port: u16, method_and_path: &str, headers: &[&str], body: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = format!("{method_and_path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let _ = stream.write_all(request.as_bytes());
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

/// Whether `/readyz` on the port answers 200.
fn ready(port: u16) -> bool {
    http(port, "GET /readyz", &[], "").starts_with("HTTP/1.1 200")
}

/// The exit status if the child ends within `within`; otherwise kills it
/// and returns `None`.
fn wait_for_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
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

/// Waits until the service on `port` answers `/readyz` with 200.
pub fn wait_until_ready(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while !ready(port) {
        assert!(Instant::now() < deadline, "the service never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the service on `port` to become ready, sends it SIGTERM, and
/// asserts it exits successfully within ten seconds.
pub fn assert_stops_cleanly_on_sigterm(child: &mut Child, port: u16, ready_within: Duration) {
    wait_until_ready(port, ready_within);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_for_exit(child, Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
}
