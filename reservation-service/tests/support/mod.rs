//! What the binary tests share: a scratch database, the service command
//! with test settings, and a readiness wait.

use std::process::{Command, Stdio};

use sqlx::Connection;

use super::process::free_port;

fn mysql_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A database of its own, dropped at the end.
pub struct Database(String);

impl Database {
    pub fn create() -> Self {
        let name = format!("rs_process_{}_{}", std::process::id(), free_port());
        run_sql(&format!("CREATE DATABASE `{name}`"));
        Self(name)
    }

    pub fn url(&self) -> String {
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

pub fn service(database: &Database, envs: &[(&str, &str)]) -> Command {
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
