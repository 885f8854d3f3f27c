//! A fresh MariaDB/MySQL database per test, dropped when the test ends.

use sqlx::{Connection, MySqlConnection};

use crate::{mysql_admin_url, unique_suffix};

/// Statements that wait longer than this for a metadata lock (e.g. a
/// connection of the test's app still mid-transaction) give up, so a
/// teardown never hangs the test run.
const DROP_LOCK_WAIT_SECONDS: u32 = 10;

/// A database `rt_<suffix>` on the shared server. Dropping it drops the
/// database (on a thread of its own, since `Drop` cannot await).
pub struct TestDatabase {
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        Self::create_on(&mysql_admin_url()).await
    }

    /// A database on the server at `admin_url` (e.g. a throwaway one).
    pub async fn create_on(admin_url: &str) -> TestDatabase {
        let admin_url = admin_url.to_owned();
        let name = format!("rt_{}", unique_suffix());
        let mut conn = MySqlConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach MySQL at {admin_url}: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        TestDatabase { name, admin_url }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `mysql://.../rt_<suffix>` on the shared server.
    pub fn url(&self) -> String {
        database_url(&self.admin_url, &self.name)
    }

    /// The same database reached through another `host:port` (a proxy).
    pub fn url_via(&self, host_port: &str) -> String {
        let (scheme_and_auth, _) = split_host(&self.admin_url);
        format!("{scheme_and_auth}{host_port}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the teardown");
            runtime.block_on(async move {
                let mut conn = MySqlConnection::connect(&admin_url).await?;
                sqlx::raw_sql(&format!(
                    "SET SESSION lock_wait_timeout = {DROP_LOCK_WAIT_SECONDS}"
                ))
                .execute(&mut conn)
                .await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

fn database_url(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let (scheme_and_auth, host_port) = split_host(base);
    let mut url = format!("{scheme_and_auth}{host_port}/{database}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// `mysql://user:pw@host:port/db` → (`mysql://user:pw@`, `host:port`).
fn split_host(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let host_start = url[after_scheme..authority_end]
        .rfind('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    (&url[..host_start], &url[host_start..authority_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_database_urls() {
        assert_eq!(
            database_url("mysql://root@127.0.0.1:3306", "rt_x"),
            "mysql://root@127.0.0.1:3306/rt_x"
        );
        assert_eq!(
            database_url("mysql://u:p@db:3306/other?ssl-mode=disabled", "rt_x"),
            "mysql://u:p@db:3306/rt_x?ssl-mode=disabled"
        );
        assert_eq!(
            split_host("mysql://u:p@db:3306/x"),
            ("mysql://u:p@", "db:3306")
        );
    }
}
