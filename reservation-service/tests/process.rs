//! The real binary, as an orchestrator runs it: refuses to start without
//! its secrets, runs migrations alone on `migrate`, and exits cleanly on
//! SIGTERM.

use std::time::Duration;

#[path = "../../tests/src/process.rs"]
mod process;
mod support;
use process::{assert_stops_cleanly_on_sigterm, free_port};
use support::{Database, service};

#[test]
fn sigterm_stops_the_service_and_its_expiry_worker() {
    let database = Database::create();
    let port = free_port();
    let mut child = service(&database, &[("PORT", &port.to_string())])
        .spawn()
        .unwrap();
    assert_stops_cleanly_on_sigterm(&mut child, port, Duration::from_secs(30));
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let database = Database::create();
    for _ in 0..2 {
        let output = service(&database, &[]).arg("migrate").output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn refuses_to_start_without_a_secret_and_names_it() {
    let database = Database::create();
    let output = service(&database, &[("ADMIN_API_KEY", "")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ADMIN_API_KEY"), "{stderr}");
}
