//! The Redis connection pool and the one place Redis errors are classified.
//!
//! The pool is deadpool over `deadpool_redis`'s connection manager, with one
//! change: deadpool-redis pings every connection each time it is checked
//! out, which doubles the round trips of a request that needs one script
//! call. Here a connection is pinged only when it has sat idle; a
//! connection that fails mid-request is dropped instead of being returned,
//! so after a Redis restart the pool refills with fresh connections.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleResult};
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

/// Creates connections like deadpool-redis does, recycles them cheaply.
struct LeanManager(Manager);

impl managed::Manager for LeanManager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if metrics.last_used() < PING_WHEN_IDLE_FOR {
            return Ok(());
        }
        self.0.recycle(conn, metrics).await
    }
}

type Pool = managed::Pool<LeanManager>;
pub type PoolError = managed::PoolError<RedisError>;

/// Pooled connections to the queue's Redis, and the key namespace in it.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    keyspace: KeySpace,
}

impl RedisPool {
    pub async fn get(&self) -> Result<RedisConnection, PoolError> {
        Ok(RedisConnection {
            object: Some(self.pool.get().await?),
            broken: false,
        })
    }

    pub fn keyspace(&self) -> &KeySpace {
        &self.keyspace
    }
}

/// A checked-out connection. If a command fails in a way that leaves the
/// connection unusable, the connection is discarded on drop rather than
/// handed to the next request.
pub struct RedisConnection {
    object: Option<Object<LeanManager>>,
    broken: bool,
}

impl RedisConnection {
    fn connection(&mut self) -> &mut MultiplexedConnection {
        self.object
            .as_mut()
            .expect("the object is only taken on drop")
    }

    fn note<T>(&mut self, result: &Result<T, RedisError>) {
        if let Err(err) = result
            && (err.is_unrecoverable_error() || err.is_io_error() || err.is_timeout())
        {
            self.broken = true;
        }
    }
}

impl Drop for RedisConnection {
    fn drop(&mut self) {
        if self.broken
            && let Some(object) = self.object.take()
        {
            drop(Object::take(object));
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.connection().req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .connection()
                .req_packed_commands(cmd, offset, count)
                .await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.object.as_ref().map_or(0, |object| object.get_db())
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
    let pool = Pool::builder(LeanManager(manager))
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| RedisFailure::Misconfigured(e.to_string()))?;
    Ok(RedisPool { pool, keyspace })
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
            );
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
