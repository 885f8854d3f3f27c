//! Slow and stalled clients against the real binary. A test binary of its
//! own, so no other test's database work runs beside its measurements.

use std::time::Duration;

#[path = "../../tests/src/process.rs"]
mod process;
mod support;
use process::{assert_stops_cleanly_on_sigterm, free_port, wait_until_ready};
use support::{Database, service};

/// Requests whose body never finishes: 5,000 connections send their
/// headers and one byte of a 100-byte body, then nothing. Every one must be
/// answered 408 and closed by the request deadline, while a canary client
/// keeps reading its balance quickly the whole time.
#[test]
fn stalled_bodies_are_cut_off_by_the_deadline_and_starve_nobody() {
    const STALLED: usize = 5_000;
    const DEADLINE_MS: u64 = 4_000;
    let database = Database::create();
    let port = free_port();
    let mut child = service(
        &database,
        &[
            ("PORT", &port.to_string()),
            ("AUTH_MODE", "trusted-header"),
            ("HTTP_REQUEST_TIMEOUT_MS", &DEADLINE_MS.to_string()),
            ("HTTP_WORKERS", "2"),
        ],
    )
    .spawn()
    .unwrap();
    wait_until_ready(port, Duration::from_secs(30));

    // The canary runs on a thread of its own with a blocking socket, so
    // what it measures is the service, not this test's scheduler.
    let stalling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let canary = {
        let stalling = stalling.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            while !stalling.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut latencies = Vec::new();
            let mut buffer = vec![0u8; 4096];
            while stalling.load(std::sync::atomic::Ordering::Acquire) {
                let started = std::time::Instant::now();
                stream
                    .write_all(b"GET /v1/users/me/balance HTTP/1.1\r\nHost: t\r\nX-User-Id: canary\r\n\r\n")
                    .unwrap();
                let n = stream.read(&mut buffer).unwrap();
                assert!(
                    buffer[..n].starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&buffer[..n])
                );
                latencies.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(10));
            }
            latencies.sort();
            let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
            (p99, latencies.len())
        })
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (closed_in_time, answered_408) = runtime.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let all_sent = std::sync::Arc::new(tokio::sync::Barrier::new(STALLED + 1));
        let stall = |i: usize, all_sent: std::sync::Arc<tokio::sync::Barrier>| async move {
            let mut stream = loop {
                match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    Ok(stream) => break stream,
                    // The listen backlog overflows for an instant.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            let head = format!(
                "POST /v1/users/me/balance/charges HTTP/1.1\r\nHost: t\r\nX-User-Id: stall{i}\r\n\
                 Idempotency-Key: k{i}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            );
            let started = std::time::Instant::now();
            stream.write_all(head.as_bytes()).await.unwrap();
            all_sent.wait().await;
            let mut reply = Vec::new();
            let read = tokio::time::timeout(
                Duration::from_millis(DEADLINE_MS * 3 + 10_000),
                stream.read_to_end(&mut reply),
            )
            .await;
            let closed = matches!(read, Ok(Ok(_)));
            (closed, started.elapsed(), reply.starts_with(b"HTTP/1.1 408"))
        };
        let stalled: Vec<_> = (0..STALLED)
            .map(|i| tokio::spawn(stall(i, all_sent.clone())))
            .collect();
        all_sent.wait().await;
        stalling.store(true, std::sync::atomic::Ordering::Release);
        let mut closed_in_time = 0;
        let mut answered_408 = 0;
        for task in stalled {
            let (closed, took, got_408) = task.await.unwrap();
            if closed && took < Duration::from_millis(DEADLINE_MS + 5_000) {
                closed_in_time += 1;
            }
            if got_408 {
                answered_408 += 1;
            }
        }
        stalling.store(false, std::sync::atomic::Ordering::Release);
        (closed_in_time, answered_408)
    });
    let (canary, samples) = canary.join().unwrap();
    eprintln!(
        "stalled bodies: {closed_in_time}/{STALLED} closed by the deadline, {answered_408} with a 408; \
         canary balance read p99 {canary:?} over {samples} reads while they stalled"
    );
    assert_eq!(
        closed_in_time, STALLED,
        "every stalled connection is closed by the deadline"
    );
    assert_eq!(answered_408, STALLED, "each with a 408 problem");
    assert!(canary < Duration::from_millis(100), "canary p99 {canary:?}");
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(5));
}

/// The header checks of a gated route come before its body is read: a hold
/// without a queue token is refused at once, though its body never arrives.
#[test]
fn a_gated_request_is_refused_on_its_headers_before_its_body_arrives() {
    use std::io::{Read, Write};
    let database = Database::create();
    let port = free_port();
    let mut child = service(
        &database,
        &[("PORT", &port.to_string()), ("AUTH_MODE", "trusted-header")],
    )
    .spawn()
    .unwrap();
    wait_until_ready(port, Duration::from_secs(30));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let started = std::time::Instant::now();
    stream
        .write_all(
            b"POST /v1/reservations HTTP/1.1\r\nHost: t\r\nX-User-Id: eve\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .unwrap();
    let mut reply = [0u8; 512];
    let n = stream.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(reply.contains("TOKEN_MISSING"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(5));
}
