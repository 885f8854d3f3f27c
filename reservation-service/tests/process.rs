//! The real binary, as an orchestrator runs it: refuses to start without
//! its secrets, runs migrations alone on `migrate`, and exits cleanly on
//! SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

#[path = "../../tests/src/process.rs"]
mod process;
use process::{assert_stops_cleanly_on_sigterm, free_port};

fn mysql_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database of its own, dropped at the end.
struct Database(String);

impl Database {
    fn create() -> Self {
        let name = format!("rs_process_{}_{}", std::process::id(), free_port());
        run_sql(&format!("CREATE DATABASE `{name}`"));
        Self(name)
    }

    fn url(&self) -> String {
        format!("{}/{}", mysql_admin_url(), self.0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        run_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.0));
    }
}

fn run_sql(statement: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::MySqlConnection::connect(&mysql_admin_url())
            .await
            .unwrap();
        sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    });
}

fn service(database: &Database, envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reservation-service"));
    command
        .env_clear()
        .env("REDIS_URL", redis_url())
        .env("DATABASE_URL", database.url())
        .env("QUEUE_TOKEN_SECRET", "process-test-secret-0123456789")
        .env("ADMIN_API_KEY", "process-test-admin-0123456789")
        .env(
            "AUTH_JWT_SECRET",
            "process-test-jwt-secret-0123456789-abcdef",
        )
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

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
