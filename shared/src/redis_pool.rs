//! The Redis connection pool and the one place Redis errors are classified.

use std::time::Duration;

use deadpool_redis::redis::{AsyncConnectionConfig, ErrorKind, RedisError, ServerErrorKind};
use deadpool_redis::{Connection, Manager, Pool, PoolError, Runtime};

use crate::config::RedisSettings;
use crate::queue::KeySpace;

/// Pooled connections to the queue's Redis, and the key namespace in it.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    keyspace: KeySpace,
}

impl RedisPool {
    pub async fn get(&self) -> Result<Connection, PoolError> {
        self.pool.get().await
    }

    pub fn keyspace(&self) -> &KeySpace {
        &self.keyspace
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
    let pool = Pool::builder(manager)
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
