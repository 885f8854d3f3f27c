//! The queue's state in Redis. Every state change is one Lua script run by
//! EVALSHA (`redis::Script` loads it on the first NOSCRIPT), so each is
//! atomic and costs one round trip.

use std::sync::LazyLock;

use deadpool_redis::redis::{self, Script};
use shared::ids::{QueueId, UserId};
use shared::queue::{QueueKeys, queue_script_source};
use shared::redis_pool::{RedisFailure, RedisPool};
use shared::token::QueueTicket;

use crate::domain::{Pace, Place, QueueConfig, Standing};

/// The scripts' own bodies; [`shared::queue::queue_script_source`] puts
/// the shared prelude in front. Public so benchmarks can run the very same
/// scripts with `redis-benchmark`.
pub mod lua {
    pub const CONFIGURE: &str = include_str!("lua/configure.lua");
    pub const ISSUE: &str = include_str!("lua/issue.lua");
    pub const HEARTBEAT: &str = include_str!("lua/heartbeat.lua");
    pub const LEAVE: &str = include_str!("lua/leave.lua");
    pub const STATS: &str = include_str!("lua/stats.lua");
    pub const TICK: &str = include_str!("lua/tick.lua");
    pub const LEASE: &str = include_str!("lua/lease.lua");
}

fn script(body: &str) -> Script {
    Script::new(&queue_script_source(body))
}

static CONFIGURE: LazyLock<Script> = LazyLock::new(|| Script::new(lua::CONFIGURE));
static ISSUE: LazyLock<Script> = LazyLock::new(|| script(lua::ISSUE));
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| script(lua::HEARTBEAT));
static LEAVE: LazyLock<Script> = LazyLock::new(|| script(lua::LEAVE));
static STATS: LazyLock<Script> = LazyLock::new(|| script(lua::STATS));
static TICK: LazyLock<Script> = LazyLock::new(|| script(lua::TICK));
static LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(lua::LEASE));

/// Time constant of the slot-turnover smoothing (see `lua/tick.lua`): long
/// enough to even out the bursts of one-second ticks, short enough that
/// when buyers start finishing faster or slower the estimate follows within
/// about half a minute.
const TURNOVER_SMOOTHING_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IssueOutcome {
    Issued(Standing),
    /// Issued anew because the caller's active window had run out before
    /// the scheduler swept it: that place ended as an active expiry.
    IssuedAfterExpiry(Standing),
    Existing(Standing),
    QueueNotFound,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeartbeatOutcome {
    Alive(Standing),
    /// Evicted, expired, left or completed.
    Gone,
    QueueNotFound,
}

/// What one tick did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub promoted: u64,
    pub evicted_silent_waiting: u64,
    pub evicted_silent_active: u64,
    pub expired_active: u64,
    pub waiting: u64,
    pub active: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub max_active: u32,
    pub admit_per_second: u32,
}

#[derive(Clone)]
pub struct QueueStore {
    pool: RedisPool,
}

impl QueueStore {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    pub fn keys(&self, queue: &QueueId) -> QueueKeys {
        self.pool.keyspace().queue(queue)
    }

    /// Creates or updates a queue; returns whether it was created.
    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn configure(
        &self,
        queue: &QueueId,
        config: &QueueConfig,
    ) -> Result<bool, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        // The registry lives outside the queue's hash slot, so it cannot join
        // the script. Registering first means a failure in between leaves at
        // worst a registered queue without settings, which every script
        // treats as not configured (the scheduler skips it), never a
        // configured queue that the scheduler does not know about. The PUT
        // is idempotent, so the caller's retry completes it.
        let _: i64 = redis::cmd("SADD")
            .arg(self.pool.keyspace().registry())
            .arg(queue.as_str())
            .query_async(&mut conn)
            .await?;
        let created: i64 = CONFIGURE
            .key(keys.config())
            .arg(config.max_active)
            .arg(config.admit_per_second)
            .arg(config.active_ttl_ms())
            .arg(config.heartbeat_ttl_ms())
            .invoke_async(&mut conn)
            .await?;
        Ok(created == 1)
    }

    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn stats(&self, queue: &QueueId) -> Result<Option<QueueStats>, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let reply: Vec<u64> = stats_invocation(&self.keys(queue))
            .invoke_async(&mut conn)
            .await?;
        Ok(queue_stats(&reply))
    }

    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn issue(
        &self,
        queue: &QueueId,
        user: &UserId,
    ) -> Result<IssueOutcome, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = with_status_keys(&ISSUE, &keys)
            .arg(user.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(match reply.first() {
            Some(0) => IssueOutcome::QueueNotFound,
            Some(3) => IssueOutcome::Issued(standing(&reply)?),
            Some(5) => IssueOutcome::IssuedAfterExpiry(standing(&reply)?),
            _ => IssueOutcome::Existing(standing(&reply)?),
        })
    }

    #[tracing::instrument(skip_all, fields(queue.id = %ticket.queue_id))]
    pub async fn heartbeat(&self, ticket: &QueueTicket) -> Result<HeartbeatOutcome, RedisFailure> {
        let keys = self.keys(&ticket.queue_id);
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = with_status_keys(&HEARTBEAT, &keys)
            .arg(ticket.user_id.as_str())
            .arg(ticket.seq)
            .invoke_async(&mut conn)
            .await?;
        Ok(match reply.first() {
            Some(0) => HeartbeatOutcome::QueueNotFound,
            Some(4) => HeartbeatOutcome::Gone,
            _ => HeartbeatOutcome::Alive(standing(&reply)?),
        })
    }

    /// Gives up the ticket's place; returns whether it held one.
    #[tracing::instrument(skip_all, fields(queue.id = %ticket.queue_id))]
    pub async fn leave(&self, ticket: &QueueTicket) -> Result<bool, RedisFailure> {
        let keys = self.keys(&ticket.queue_id);
        let mut conn = self.pool.get().await?;
        let left: i64 = LEAVE
            .key(keys.state())
            .key(keys.line())
            .key(keys.seen())
            .arg(ticket.user_id.as_str())
            .arg(ticket.seq)
            .invoke_async(&mut conn)
            .await?;
        Ok(left == 1)
    }

    /// Runs one scheduler step on a queue. Safe to call concurrently from any
    /// number of replicas; `None` when the queue is not configured.
    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn tick(
        &self,
        queue: &QueueId,
        eviction_batch: usize,
    ) -> Result<Option<TickReport>, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = with_status_keys(&TICK, &keys)
            .arg(eviction_batch)
            .arg(TURNOVER_SMOOTHING_MS)
            .invoke_async(&mut conn)
            .await?;
        let count = |i: usize| reply.get(i).map(|&v| v.max(0) as u64).unwrap_or(0);
        Ok(match reply.first() {
            Some(-1) => None,
            _ => Some(TickReport {
                promoted: count(0),
                evicted_silent_waiting: count(1),
                evicted_silent_active: count(2),
                expired_active: count(3),
                waiting: count(4),
                active: count(5),
            }),
        })
    }

    /// Takes or renews the lease on ticking `queue`.
    pub async fn try_lease(
        &self,
        queue: &QueueId,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let held: i64 = LEASE
            .key(self.keys(queue).lease())
            .arg(owner)
            .arg(lease_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    /// Every configured queue.
    pub async fn queue_ids(&self) -> Result<Vec<QueueId>, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let raw: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.pool.keyspace().registry())
            .query_async(&mut conn)
            .await?;
        Ok(raw
            .iter()
            .filter_map(|id| QueueId::parse(id).ok())
            .collect())
    }

    /// Sizes of many queues in one round trip (`None` for a queue that is
    /// not configured).
    pub async fn sizes(&self, queues: &[QueueId]) -> Result<Vec<Option<QueueStats>>, RedisFailure> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await?;
        // Load once so the pipelined EVALSHAs cannot meet NOSCRIPT.
        STATS.load_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for queue in queues {
            pipe.invoke_script(&stats_invocation(&self.keys(queue)));
        }
        let replies: Vec<Vec<u64>> = pipe.query_async(&mut conn).await?;
        Ok(replies.iter().map(|reply| queue_stats(reply)).collect())
    }
}

fn stats_invocation(keys: &QueueKeys) -> redis::ScriptInvocation<'static> {
    let mut invocation = STATS.prepare_invoke();
    invocation
        .key(keys.config())
        .key(keys.state())
        .key(keys.line());
    invocation
}

fn queue_stats(reply: &[u64]) -> Option<QueueStats> {
    let &[max_active, admit_per_second, waiting, active] = reply else {
        return None;
    };
    Some(QueueStats {
        waiting,
        active,
        max_active: u32::try_from(max_active).unwrap_or(u32::MAX),
        admit_per_second: u32::try_from(admit_per_second).unwrap_or(u32::MAX),
    })
}

/// The key list the issue, heartbeat and tick scripts take, in order.
pub fn status_keys(keys: &QueueKeys) -> [String; 5] {
    [
        keys.config(),
        keys.state(),
        keys.line(),
        keys.seen(),
        keys.batches(),
    ]
}

/// The issue, heartbeat and tick scripts share one key list.
fn with_status_keys<'s>(script: &'s Script, keys: &QueueKeys) -> redis::ScriptInvocation<'s> {
    let mut invocation = script.prepare_invoke();
    for key in status_keys(keys) {
        invocation.key(key);
    }
    invocation
}

/// Decodes `{outcome, seq, position, active_until_ms, turnover_micro,
/// heartbeat_ttl_ms, admit_per_second, max_active, active_ttl_ms, free_slots}`.
fn standing(reply: &[i64]) -> Result<Standing, RedisFailure> {
    let &[
        outcome,
        seq,
        position,
        active_until_ms,
        turnover_micro,
        heartbeat_ttl_ms,
        admit_per_second,
        max_active,
        active_ttl_ms,
        free_slots,
    ] = reply
    else {
        return Err(RedisFailure::BadReply(format!(
            "status reply has {} fields",
            reply.len()
        )));
    };
    let place = if outcome == 2 {
        Place::Active {
            until_ms: active_until_ms,
        }
    } else {
        Place::Waiting {
            position: position.max(1) as u64,
        }
    };
    let count = |v: i64| v.max(0) as u64;
    Ok(Standing {
        seq: count(seq),
        place,
        pace: Pace {
            admit_per_second: count(admit_per_second) as f64,
            max_active: count(max_active),
            active_ttl_ms: count(active_ttl_ms),
            free_slots: count(free_slots),
            measured_turnover: (turnover_micro >= 0).then(|| turnover_micro as f64 / 1e6),
        },
        heartbeat_ttl_ms: count(heartbeat_ttl_ms),
    })
}
