//! The Redis connection pool and the one place Redis errors are classified.
//!
//! deadpool creates, health-checks and replaces the connections, but a
//! request does not keep one to itself: redis-rs connections are
//! multiplexed, so a checkout hands out a clone and returns the connection
//! to the pool at once. Concurrent requests thereby share a few TCP
//! connections, and redis-rs pipelines their commands: one write and one
//! read carry many requests, which saves system calls in this process and
//! in Redis (on a two-core machine, most of a heartbeat's cost). A command
//! that fails in a way that leaves the connection unusable marks it broken;
//! the pool then drops it at its next checkout and opens a fresh one. Idle
//! connections are pinged before reuse, busy ones are not (deadpool-redis
//! would ping on every checkout, doubling the round trips).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind,
    Value,
};
use deadpool_redis::{Manager, Runtime};

use crate::config::RedisSettings;
use crate::queue::KeySpace;

/// A connection checked out less than this long ago has just answered a
/// command; one idle for longer is pinged before reuse.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// One multiplexed connection and whether a command on it has failed.
struct SharedConnection {
    connection: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

/// Creates connections like deadpool-redis does; recycles them cheaply and
/// retires broken ones.
struct SharingManager(Manager);

impl managed::Manager for SharingManager {
    type Type = SharedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<SharedConnection, RedisError> {
        Ok(SharedConnection {
            connection: self.0.create().await?,
            broken: Arc::default(),
        })
    }

    async fn recycle(
        &self,
        shared: &mut SharedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if shared.broken.load(Ordering::Relaxed) {
            return Err(RecycleError::message("a command failed on this connection"));
        }
        if metrics.last_used() < PING_WHEN_IDLE_FOR {
            return Ok(());
        }
        self.0.recycle(&mut shared.connection, metrics).await
    }
}

type Pool = managed::Pool<SharingManager>;
pub type PoolError = managed::PoolError<RedisError>;

/// Pooled connections to the queue's Redis, and the key namespace in it.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    keyspace: KeySpace,
    /// The most one checkout and the commands sent on it may take together.
    budget: Duration,
}

impl RedisPool {
    /// A handle on one of the pool's connections, shared with other
    /// requests; the pool keeps the connection. The checkout and every
    /// command sent through the handle share one time budget (`timeout_ms`),
    /// so a Redis that stops answering (frozen, partitioned) costs a request
    /// at most that long, however the time splits between recycling a
    /// connection, opening a new one and waiting for replies.
    pub async fn get(&self) -> Result<RedisConnection, PoolError> {
        let deadline = tokio::time::Instant::now() + self.budget;
        let shared = tokio::time::timeout_at(deadline, self.pool.get())
            .await
            .map_err(|_| PoolError::Timeout(managed::TimeoutType::Wait))??;
        Ok(RedisConnection {
            connection: shared.connection.clone(),
            broken: shared.broken.clone(),
            deadline,
        })
    }

    pub fn keyspace(&self) -> &KeySpace {
        &self.keyspace
    }
}

/// A request's handle on a shared connection.
pub struct RedisConnection {
    connection: MultiplexedConnection,
    broken: Arc<AtomicBool>,
    deadline: tokio::time::Instant,
}

impl RedisConnection {
    /// Runs one exchange within what is left of the checkout's budget.
    async fn within_budget<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        let result = match tokio::time::timeout_at(self.deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "redis did not answer within the request's budget",
            ))),
        };
        self.note(&result);
        result
    }

    fn note<T>(&self, result: &Result<T, RedisError>) {
        if let Err(err) = result
            && (err.is_unrecoverable_error() || err.is_io_error() || err.is_timeout())
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            self.within_budget(connection.req_packed_command(cmd)).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            self.within_budget(connection.req_packed_commands(cmd, offset, count))
                .await
        })
    }

    fn get_db(&self) -> i64 {
        self.connection.get_db()
    }
}

pub fn build_pool(settings: &RedisSettings) -> Result<RedisPool, RedisFailure> {
    let keyspace = KeySpace::new(&settings.key_prefix)
        .map_err(|e| RedisFailure::Misconfigured(e.to_string()))?;
    let timeout = Duration::from_millis(settings.timeout_ms);
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let manager = Manager::new_with_config(settings.url.as_str(), connection)
        .map_err(RedisFailure::Unexpected)?;
    let pool = Pool::builder(SharingManager(manager))
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| RedisFailure::Misconfigured(e.to_string()))?;
    Ok(RedisPool {
        pool,
        keyspace,
        budget: timeout,
    })
}

/// A failed Redis operation, split by what the caller should do about it:
/// `Unavailable` is answered with 503 (fail closed, retry later), the rest
/// are bugs or misconfiguration and answered with 500.
#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    #[error("redis is unreachable or not serving")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("redis rejected a command")]
    Unexpected(#[source] RedisError),
    #[error("redis pool misconfigured: {0}")]
    Misconfigured(String),
    #[error("redis returned an unexpected reply: {0}")]
    BadReply(String),
}

/// Server error codes that say "not now" rather than "never": the server is
/// full (`OOM`, under `maxmemory` with nothing to evict) or stuck in a long
/// script (`BUSY`). Both pass, so they are answered like an outage: 503.
const TRANSIENT_CODES: [&str; 2] = ["OOM", "BUSY"];

impl From<RedisError> for RedisFailure {
    fn from(err: RedisError) -> Self {
        let transient = err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_unrecoverable_error()
            || matches!(
                err.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
            )
            || err
                .code()
                .is_some_and(|code| TRANSIENT_CODES.contains(&code));
        if transient {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Unexpected(err)
        }
    }
}

impl From<PoolError> for RedisFailure {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(err) => err.into(),
            other => Self::Unavailable(Box::new(other)),
        }
    }
}

/// Readiness probe: one PING through the pool.
pub async fn ping(pool: &RedisPool) -> Result<(), RedisFailure> {
    let mut conn = pool.get().await?;
    let _: String = deadpool_redis::redis::cmd("PING")
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// A probe for [`crate::outage::OutageWatch`]: one PING.
pub fn probe(pool: &RedisPool) -> crate::outage::Probe {
    let pool = pool.clone();
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { ping(&pool).await.map_err(|e| e.to_string()) })
    })
}

/// Warns, by name, when the Redis behind the pool keeps nothing on disk
/// (no AOF, no snapshot schedule): a restart of such a server loses every
/// queue's line. Managed servers often refuse `CONFIG`; that is not an
/// error here, only a question left unanswered.
pub async fn warn_if_not_persistent(pool: &RedisPool, settings: &RedisSettings) {
    let address = redacted_address(&settings.url);
    let answer: Result<(Vec<String>, Vec<String>), RedisFailure> = async {
        let mut conn = pool.get().await?;
        let (aof, save) = deadpool_redis::redis::pipe()
            .cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async(&mut conn)
            .await?;
        Ok((aof, save))
    }
    .await;
    match answer {
        Ok((aof, save)) => {
            let aof_on = aof.get(1).is_some_and(|v| v == "yes");
            let snapshots = save.get(1).is_some_and(|v| !v.trim().is_empty());
            if !aof_on && !snapshots {
                tracing::warn!(
                    redis = %address,
                    "redis at {address} has no persistence (appendonly no, no save points): \
                     if it restarts, every user's place in line is lost (queues declared in the \
                     configuration come back, their lines do not); turn on appendonly"
                );
            }
        }
        Err(err) => tracing::info!(
            redis = %address,
            error = %err,
            "could not ask redis whether it persists its data"
        ),
    }
}

/// `host:port` of a Redis URL, without credentials, for logs.
pub fn redacted_address(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use deadpool_redis::redis::parse_redis_value;

    use super::*;

    /// The error a server reply line such as `-OOM ...` turns into.
    fn server_error(line: &str) -> RedisError {
        parse_redis_value(format!("-{line}\r\n").as_bytes())
            .and_then(Value::extract_error)
            .expect_err("an error reply")
    }

    #[test]
    fn a_full_or_busy_server_is_unavailable_not_a_bug() {
        for line in [
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            "LOADING Redis is loading the dataset in memory",
            "READONLY You can't write against a read only replica.",
        ] {
            assert!(
                matches!(server_error(line).into(), RedisFailure::Unavailable(_)),
                "{line}"
            );
        }
    }

    #[test]
    fn addresses_for_logs_carry_no_credentials() {
        assert_eq!(
            redacted_address("redis://:hunter2@cache.internal:6380/0"),
            "cache.internal:6380"
        );
        assert_eq!(redacted_address("redis://user:pw@h:1"), "h:1");
        assert_eq!(redacted_address("redis://127.0.0.1:6379"), "127.0.0.1:6379");
    }

    #[test]
    fn a_rejected_command_is_unexpected() {
        for line in [
            "ERR wrong number of arguments for 'hset' command",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "NOSCRIPT No matching script. Please use EVAL.",
            "BUSYKEY Target key name already exists.",
        ] {
            assert!(
                matches!(server_error(line).into(), RedisFailure::Unexpected(_)),
                "{line}"
            );
        }
    }
}
