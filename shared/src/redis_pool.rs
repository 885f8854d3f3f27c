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
//!
//! Redis Cluster (opt-in, `REDIS_CLUSTER_URLS`) goes through the same pool:
//! its connections are redis-rs cluster connections, each of which keeps a
//! multiplexed connection to every node, routes each command by its key's
//! slot and follows `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN` itself. Callers
//! see no difference, with one rule: a pipeline or a multi-key command must
//! stay within one slot (every queue's keys share the hash tag `{<queue>}`;
//! see [`RedisPool::is_cluster`] for the few places that span queues).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::ClusterClientBuilder;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use deadpool_redis::redis::{
    Arg, AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind,
    Value, from_redis_value,
};
use deadpool_redis::{Manager, Runtime};

use crate::config::RedisSettings;
use crate::queue::KeySpace;

/// A connection checked out less than this long ago has just answered a
/// command; one idle for longer is pinged before reuse.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// One multiplexed connection (to one Redis, or to every node of a cluster)
/// and whether a command on it has failed.
struct SharedConnection<C> {
    connection: C,
    broken: Arc<AtomicBool>,
}

impl<C> SharedConnection<C> {
    fn new(connection: C) -> Self {
        Self {
            connection,
            broken: Arc::default(),
        }
    }

    /// Whether a recycled connection may be handed out without a ping.
    fn fresh(&self) -> RecycleResult<RedisError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(RecycleError::message("a command failed on this connection"));
        }
        Ok(())
    }
}

/// Creates connections like deadpool-redis does; recycles them cheaply and
/// retires broken ones.
struct SharingManager(Manager);

impl managed::Manager for SharingManager {
    type Type = SharedConnection<MultiplexedConnection>;
    type Error = RedisError;

    async fn create(&self) -> Result<Self::Type, RedisError> {
        Ok(SharedConnection::new(self.0.create().await?))
    }

    async fn recycle(
        &self,
        shared: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        shared.fresh()?;
        if metrics.last_used() < PING_WHEN_IDLE_FOR {
            return Ok(());
        }
        self.0.recycle(&mut shared.connection, metrics).await
    }
}

/// The same for Redis Cluster: one connection is a redis-rs cluster
/// connection, which reconnects to nodes and refreshes the slot map itself.
struct ClusterManager(deadpool_redis::redis::cluster::ClusterClient);

impl managed::Manager for ClusterManager {
    type Type = SharedConnection<ClusterConnection>;
    type Error = RedisError;

    async fn create(&self) -> Result<Self::Type, RedisError> {
        Ok(SharedConnection::new(self.0.get_async_connection().await?))
    }

    async fn recycle(
        &self,
        shared: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        shared.fresh()?;
        if metrics.last_used() < PING_WHEN_IDLE_FOR {
            return Ok(());
        }
        // One node answering shows the connection's machinery works; whether
        // every slot is served is for the commands (and `ping`) to find out.
        let _: Value = shared
            .connection
            .route_command(
                deadpool_redis::redis::cmd("PING"),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        Ok(())
    }
}

pub type PoolError = managed::PoolError<RedisError>;

#[derive(Clone)]
enum Backend {
    Single(managed::Pool<SharingManager>),
    Cluster(managed::Pool<ClusterManager>),
}

/// Pooled connections to the queue's Redis (or Redis Cluster), and the key
/// namespace in it.
#[derive(Clone)]
pub struct RedisPool {
    backend: Backend,
    keyspace: KeySpace,
    /// The most one checkout and the commands sent on it may take together.
    budget: Duration,
}

/// Checks a connection out of `pool` before `deadline`.
async fn checkout<M>(
    pool: &managed::Pool<M>,
    deadline: tokio::time::Instant,
) -> Result<managed::Object<M>, PoolError>
where
    M: managed::Manager<Error = RedisError>,
{
    tokio::time::timeout_at(deadline, pool.get())
        .await
        .map_err(|_| PoolError::Timeout(managed::TimeoutType::Wait))?
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
        let (link, broken) = match &self.backend {
            Backend::Single(pool) => {
                let shared = checkout(pool, deadline).await?;
                (
                    Link::Single(shared.connection.clone()),
                    shared.broken.clone(),
                )
            }
            Backend::Cluster(pool) => {
                let shared = checkout(pool, deadline).await?;
                (
                    Link::Cluster(shared.connection.clone()),
                    shared.broken.clone(),
                )
            }
        };
        Ok(RedisConnection {
            link,
            broken,
            deadline,
        })
    }

    pub fn keyspace(&self) -> &KeySpace {
        &self.keyspace
    }

    /// Whether this is a Redis Cluster. A pipeline there must keep to one
    /// slot (one queue): code that reads or writes several queues at once
    /// sends one command per queue, concurrently, instead of one pipeline.
    pub fn is_cluster(&self) -> bool {
        matches!(self.backend, Backend::Cluster(_))
    }

    /// Runs `exchange` once per item, each on its own handle (and time
    /// budget), all at once; the replies come back in the items' order, or
    /// the first failure. On a cluster this replaces a pipeline whose
    /// commands would span slots: the handles share the cluster connection,
    /// which routes each exchange to its node and pipelines those bound for
    /// one node on its connection, so it costs about one round trip per
    /// node rather than one per item.
    pub async fn each<I, T, F, Fut>(&self, items: I, exchange: F) -> Result<Vec<T>, RedisFailure>
    where
        I: IntoIterator,
        F: Fn(RedisConnection, I::Item) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let exchange = &exchange;
        futures_util::future::try_join_all(items.into_iter().map(|item| async move {
            let connection = self.get().await?;
            Ok::<T, RedisFailure>(exchange(connection, item).await?)
        }))
        .await
    }
}

enum Link {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// A request's handle on a shared connection.
pub struct RedisConnection {
    link: Link,
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

    /// `WAIT replicas timeout_ms`: how many replicas have acknowledged the
    /// writes sent so far on this connection, waiting up to `timeout_ms`
    /// for `replicas` of them. WAIT counts the writes of the connection it
    /// arrives on, so it must follow them on the same one: on one Redis that
    /// is this handle's multiplexed connection; on a cluster it goes to the
    /// master serving `key`'s slot (redis-rs would send a keyless WAIT to
    /// every master and keep the smallest answer), over the cluster
    /// connection's link to that node, which carried the writes to `key`.
    /// Redis blocks the whole connection while it waits, so every request
    /// multiplexed behind it waits as well: keep `timeout_ms` short.
    pub async fn wait_for_replicas(
        &mut self,
        key: &str,
        replicas: u32,
        timeout_ms: u64,
    ) -> Result<u32, RedisError> {
        let mut wait = deadpool_redis::redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout_ms);
        let acknowledged: Value = match &self.link {
            Link::Single(connection) => {
                let mut connection = connection.clone();
                self.within_budget(connection.req_packed_command(&wait))
                    .await?
            }
            Link::Cluster(connection) => {
                let mut connection = connection.clone();
                let owner = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(key, SlotAddr::Master),
                ));
                self.within_budget(connection.route_command(wait, owner))
                    .await?
            }
        };
        Ok(from_redis_value(acknowledged)?)
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
            match &self.link {
                Link::Single(connection) => {
                    let mut connection = connection.clone();
                    self.within_budget(connection.req_packed_command(cmd)).await
                }
                // Routed by the command's key; `SCRIPT LOAD` goes to every
                // node, so after `NOSCRIPT` (a node promoted, restarted or
                // importing the slot without the script) `redis::Script`'s
                // fallback loads it where it is missing, and replicas have
                // it before they are promoted.
                Link::Cluster(connection) => {
                    let mut connection = connection.clone();
                    self.within_budget(connection.req_packed_command(cmd)).await
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match &self.link {
                Link::Single(connection) => {
                    let mut connection = connection.clone();
                    self.within_budget(connection.req_packed_commands(cmd, offset, count))
                        .await
                }
                // The pipeline goes to the node of its first keyed command;
                // redis-rs refuses one whose commands span slots (CROSSSLOT).
                Link::Cluster(connection) => {
                    let mut connection = connection.clone();
                    self.within_budget(connection.req_packed_commands(cmd, offset, count))
                        .await
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Single(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

pub fn build_pool(settings: &RedisSettings) -> Result<RedisPool, RedisFailure> {
    let keyspace = KeySpace::new(&settings.key_prefix)
        .map_err(|e| RedisFailure::Misconfigured(e.to_string()))?;
    let timeout = Duration::from_millis(settings.timeout_ms);
    let nodes = settings.cluster_nodes();
    let backend = if nodes.is_empty() {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let manager = Manager::new_with_config(settings.url.as_str(), connection)
            .map_err(RedisFailure::Unexpected)?;
        Backend::Single(pool_of(SharingManager(manager), settings, timeout)?)
    } else {
        // Every attempt, retries and redirections included, fits in the
        // budget; `within_budget` enforces the request's remaining share.
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(RedisFailure::Unexpected)?;
        Backend::Cluster(pool_of(ClusterManager(client), settings, timeout)?)
    };
    Ok(RedisPool {
        backend,
        keyspace,
        budget: timeout,
    })
}

fn pool_of<M: managed::Manager>(
    manager: M,
    settings: &RedisSettings,
    timeout: Duration,
) -> Result<managed::Pool<M>, RedisFailure> {
    managed::Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| RedisFailure::Misconfigured(e.to_string()))
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of its hash tag (the
/// part between the first `{` and the next `}`, when not empty) or of the
/// whole key, modulo 16384. Keys of one multi-key command, script or
/// pipeline must share a slot on a cluster.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

/// The keys a script invocation passes (its `KEYS`), as sent: what must
/// share one slot on a cluster.
pub fn script_keys(invocation: &deadpool_redis::redis::ScriptInvocation<'_>) -> Vec<Vec<u8>> {
    let mut pipe = deadpool_redis::redis::pipe();
    pipe.invoke_script(invocation);
    let args: Vec<&[u8]> = pipe
        .cmd_iter()
        .flat_map(|cmd| cmd.args_iter())
        .filter_map(|arg| match arg {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    // EVALSHA <sha> <numkeys> <key>... <arg>...
    let count: usize = args
        .get(2)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    args.iter()
        .skip(3)
        .take(count)
        .map(|k| k.to_vec())
        .collect()
}

/// The distinct cluster slots of `keys`; a script, pipeline or multi-key
/// command is fit for a cluster when this holds one slot.
pub fn slots_of<K: AsRef<[u8]>>(keys: &[K]) -> std::collections::BTreeSet<u16> {
    keys.iter().map(|key| key_slot(key.as_ref())).collect()
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
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
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
/// On a cluster the answer is one master's (the one serving the slot of the
/// word `GET`, as redis-rs routes `CONFIG GET`); nodes are configured alike.
pub async fn warn_if_not_persistent(pool: &RedisPool, settings: &RedisSettings) {
    let address = redacted_addresses(settings);
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

/// `host:port` of the Redis the settings name (of each cluster seed node,
/// comma-separated), without credentials, for logs.
pub fn redacted_addresses(settings: &RedisSettings) -> String {
    let nodes = settings.cluster_nodes();
    if nodes.is_empty() {
        return redacted_address(&settings.url);
    }
    let nodes: Vec<String> = nodes.into_iter().map(redacted_address).collect();
    nodes.join(",")
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
    use deadpool_redis::redis::cluster_routing::Slot;
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
    fn slots_are_computed_as_redis_does() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"123456789"), 0x31C3, "CRC16 check value");
        assert_eq!(key_slot(b"foo"), 12_182);
        assert_eq!(key_slot(b"bar"), 5_061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(
            key_slot(b"foo{}{bar}"),
            key_slot(b"bar"),
            "an empty tag is no tag"
        );
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        for key in [
            "q:{tour-1}:line",
            "staging:q:{a}:state",
            "queues",
            "origin:health",
            "x{}",
            "{",
            "",
        ] {
            assert_eq!(
                Slot::new(key_slot(key.as_bytes())),
                Some(Slot::for_key(key)),
                "{key}: the same slot redis-rs routes to"
            );
        }
    }

    #[test]
    fn a_cluster_in_flux_is_unavailable() {
        for line in [
            "MOVED 3999 127.0.0.1:6381",
            "ASK 3999 127.0.0.1:6381",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ] {
            assert!(
                matches!(server_error(line).into(), RedisFailure::Unavailable(_)),
                "{line}"
            );
        }
        let cross = server_error("CROSSSLOT Keys in request don't hash to the same slot");
        assert!(
            matches!(cross.into(), RedisFailure::Unexpected(_)),
            "keys spanning slots are a bug, not an outage"
        );
    }

    #[test]
    fn a_script_invocation_names_its_keys() {
        let script = deadpool_redis::redis::Script::new("return 1");
        assert_eq!(
            script_keys(script.key("a").key("b").arg("c")),
            [b"a".to_vec(), b"b".to_vec()]
        );
        assert!(script_keys(&script.prepare_invoke()).is_empty());
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
