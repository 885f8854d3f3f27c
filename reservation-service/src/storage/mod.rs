//! MySQL access. Single statements take any executor (the pool or an open
//! transaction); the multi-statement flows (hold, release, pay, charge) take
//! the pool, open their one transaction, and report business results as
//! outcome enums so that the caller, not the SQL, decides what HTTP says.
//!
//! All SQL runs on MySQL 8.x and MariaDB 10.11: no `RETURNING`, affected-row
//! counts decide conditional updates, `last_insert_id()` gives new ids, and
//! unique violations are recognised by kind, not by constraint name.

pub mod balances;
pub mod catalog;
pub mod holds;
pub mod idempotency;
pub mod payments;
pub mod reservations;
pub mod seat_counts;
pub mod seats;

use std::future::Future;
use std::str::FromStr;

use secrecy::ExposeSecret;
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};

use crate::config::DatabaseSettings;

/// MySQL error numbers that mean "try again", not "bug".
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_CON_COUNT_ERROR: u16 = 1040;
const ER_SERVER_SHUTDOWN: u16 = 1053;
const ER_QUERY_INTERRUPTED: u16 = 1317;
const ER_CONNECTION_KILLED: u16 = 1927;

/// How often a transaction that lost a deadlock is replayed before the
/// caller gets a 503.
const DEADLOCK_ATTEMPTS: usize = 4;

/// Row locks are held for milliseconds on the hot paths; anything waiting
/// longer than this is a stuck transaction, answered with 503 quickly
/// instead of InnoDB's default 50 s.
const LOCK_WAIT_TIMEOUT_SECONDS: u32 = 5;

pub fn connect_options(settings: &DatabaseSettings) -> Result<MySqlConnectOptions, sqlx::Error> {
    Ok(MySqlConnectOptions::from_str(settings.url.expose_secret())?
        .timezone(Some("+00:00".to_owned())))
}

/// The pool, built once at start-up. Connections open lazily, so the
/// service starts (and reports not-ready) while MySQL is still coming up.
///
/// No ping before each checkout (sqlx's default): it is a second round trip,
/// and a second server thread wake-up, for every statement. A connection
/// that died fails its statement with an I/O error, which is answered with
/// 503 and drops the connection, and `idle_timeout` retires connections
/// that sat unused long enough for a server or proxy to have closed them.
///
/// Every connection runs READ COMMITTED: InnoDB then takes no gap locks for
/// searches, so the expiry worker's range scan cannot deadlock with holds
/// that move index entries, and a statement that waited for a row lock sees
/// the row as committed by its holder (the payment re-read relies on it).
/// All correctness comes from conditional single-row updates, which need no
/// stronger isolation.
pub fn build_pool(settings: &DatabaseSettings) -> Result<MySqlPool, sqlx::Error> {
    let options = connect_options(settings)?;
    Ok(MySqlPoolOptions::new()
        .max_connections(settings.pool_size.max(1))
        .acquire_timeout(settings.acquire_timeout())
        .test_before_acquire(false)
        .idle_timeout(Some(std::time::Duration::from_secs(60)))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await?;
                conn.execute(
                    format!("SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_SECONDS}")
                        .as_str(),
                )
                .await?;
                Ok(())
            })
        })
        .connect_lazy_with(options))
}

/// Applies the migrations in `reservation-service/migrations`. Safe to run
/// from several replicas at once: sqlx takes a MySQL advisory lock.
pub async fn migrate(pool: &MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}

fn mysql_error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

/// Whether the database could not serve the request (down, unreachable,
/// overloaded, or a lock conflict that outlived its retries): answered with
/// 503 so clients retry, never with a guess.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(_) => matches!(
            mysql_error_number(err),
            Some(
                ER_LOCK_WAIT_TIMEOUT
                    | ER_LOCK_DEADLOCK
                    | ER_CON_COUNT_ERROR
                    | ER_SERVER_SHUTDOWN
                    | ER_QUERY_INTERRUPTED
                    | ER_CONNECTION_KILLED
            )
        ),
        _ => false,
    }
}

pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

fn is_deadlock(err: &sqlx::Error) -> bool {
    mysql_error_number(err) == Some(ER_LOCK_DEADLOCK)
}

/// Runs a whole transaction again when InnoDB picked it as a deadlock
/// victim (it has been rolled back, so replaying is safe). Deadlocks are
/// rare here but possible, e.g. when the first of several simultaneous
/// inserts of one idempotency key rolls back and the waiters all upgrade
/// their shared locks.
pub async fn retry_on_deadlock<T, F, Fut>(mut transaction: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(err) if is_deadlock(&err) && attempt < DEADLOCK_ATTEMPTS => {
                tracing::debug!(attempt, "transaction chosen as deadlock victim; retrying");
                attempt += 1;
            }
            result => return result,
        }
    }
}
