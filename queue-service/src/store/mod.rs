//! The queue's state in Redis. Every state change is one Lua script run by
//! EVALSHA (`redis::Script` loads it on the first NOSCRIPT), so each is
//! atomic and costs one round trip. The scripts live in `lua/`, their
//! replies are decoded in [`replies`], and the key layout is in
//! `shared::queue`.

mod replication;
mod replies;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use deadpool_redis::redis::{self, Script};
pub use replication::IssueWait;
pub use replies::{HeartbeatOutcome, IssueLimit, IssueOutcome, Opening, QueueStats, TickReport};
use shared::ids::{QueueId, UserId};
use shared::queue::{QueueKeys, queue_script_source};
use shared::redis_pool::{RedisFailure, RedisPool};
use shared::token::QueueTicket;

use crate::domain::{OriginVerdict, QueueConfig};
use crate::draw::DrawSeed;

/// The scripts' own bodies; [`shared::queue::queue_script_source`] puts
/// the shared prelude in front. Public so benchmarks can run the very same
/// scripts with `redis-benchmark`.
pub mod lua {
    pub const CONFIGURE: &str = include_str!("lua/configure.lua");
    pub const DELETE: &str = include_str!("lua/delete.lua");
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
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(lua::DELETE));
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

/// Below this gap between two ticks nothing is credited as an outage, so a
/// tick delayed by load never stretches anyone's silence allowance.
const MIN_OUTAGE_MS: u64 = 2_000;

/// A verified proof of work, as the issue script needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenWork {
    pub difficulty_bits: u8,
    /// Names the challenge's single-use marker.
    pub digest_hex: String,
    /// How long the challenge stays valid, so its marker can expire with it.
    pub valid_for_ms: u64,
}

/// What a newcomer brings besides its identity.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub user: &'a UserId,
    /// The client address as the per-address limit counts it.
    pub address_key: &'a str,
    pub work: Option<ProvenWork>,
}

/// How one scheduler step runs.
#[derive(Debug, Clone, Copy)]
pub struct TickParams {
    /// Most users evicted per reason in one step.
    pub eviction_batch: usize,
    /// The scheduler's period; a longer gap since the previous step is
    /// credited as an outage (see `lua/tick.lua`).
    pub period_ms: u64,
    /// The origin's health against this queue's thresholds.
    pub origin: OriginVerdict,
}

impl TickParams {
    /// For steps run by hand (tests, benchmarks): no outage is ever credited.
    pub fn by_hand(eviction_batch: usize) -> Self {
        Self {
            eviction_batch,
            period_ms: u64::from(u32::MAX),
            origin: OriginVerdict::Unknown,
        }
    }

    fn outage_threshold_ms(&self) -> u64 {
        self.period_ms.saturating_mul(2).max(MIN_OUTAGE_MS)
    }
}

#[derive(Clone)]
pub struct QueueStore {
    pool: RedisPool,
    /// Draw seeds of queues with an opening, as last read from Redis: the
    /// issue script says when one is stale (the queue was re-created).
    draw_seeds: Arc<Mutex<HashMap<QueueId, DrawSeed>>>,
    /// Whether a new place waits for replicas before it is answered.
    issue_wait: Option<IssueWait>,
}

impl QueueStore {
    pub fn new(pool: RedisPool) -> Self {
        Self {
            pool,
            draw_seeds: Arc::default(),
            issue_wait: None,
        }
    }

    /// New places wait for replicas as `wait` says (`None`: they do not).
    pub fn with_issue_wait(mut self, wait: Option<IssueWait>) -> Self {
        self.issue_wait = wait;
        self
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
        let created: i64 = configure_invocation(&keys, config)
            .invoke_async(&mut conn)
            .await?;
        Ok(created == 1)
    }

    /// Deletes a queue and its state; returns whether it existed.
    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn delete(&self, queue: &QueueId) -> Result<bool, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        // State first, registry second (the reverse of `configure`): a
        // failure in between leaves a registered queue without settings,
        // which the scheduler skips, and the caller's retry completes it.
        let existed: i64 = delete_invocation(&keys).invoke_async(&mut conn).await?;
        let _: i64 = redis::cmd("SREM")
            .arg(self.pool.keyspace().registry())
            .arg(queue.as_str())
            .query_async(&mut conn)
            .await?;
        Ok(existed == 1)
    }

    /// The queue's draw seed, `None` when it has no opening.
    pub async fn draw_seed(&self, queue: &QueueId) -> Result<Option<DrawSeed>, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let seed: Option<String> = redis::cmd("HGET")
            .arg(self.keys(queue).state())
            .arg("draw_seed")
            .query_async(&mut conn)
            .await?;
        let seed = seed
            .map(|hex| DrawSeed::from_hex(&hex))
            .transpose()
            .map_err(|err| RedisFailure::BadReply(err.to_string()))?;
        let mut cache = self.draw_seeds.lock().unwrap_or_else(|e| e.into_inner());
        match &seed {
            Some(seed) => cache.insert(queue.clone(), seed.clone()),
            None => cache.remove(queue),
        };
        Ok(seed)
    }

    /// A page of the draw's entrants in draw order, with their scores, and
    /// how many there are in all.
    pub async fn draw_entrants(
        &self,
        queue: &QueueId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<(String, u64)>, u64), RedisFailure> {
        let key = self.keys(queue).draw();
        let mut conn = self.pool.get().await?;
        let (page, total): (Vec<(String, u64)>, u64) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&key)
            .arg(offset)
            .arg(offset + limit.max(1) - 1)
            .arg("WITHSCORES")
            .cmd("ZCARD")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok((page, total))
    }

    /// Every reservation replica's latest health sample (malformed ones are
    /// skipped: a replica of another version must not stop admission).
    pub async fn origin_health(&self) -> Result<Vec<shared::origin::HealthSample>, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.pool.keyspace().origin_health())
            .query_async(&mut conn)
            .await?;
        Ok(raw
            .values()
            .filter_map(|text| shared::origin::HealthSample::decode(text).ok())
            .collect())
    }

    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn stats(&self, queue: &QueueId) -> Result<Option<QueueStats>, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = stats_invocation(&self.keys(queue))
            .invoke_async(&mut conn)
            .await?;
        replies::stats(&reply)
    }

    /// The queue's settings, `None` when it is not configured.
    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn config(&self, queue: &QueueId) -> Result<Option<QueueConfig>, RedisFailure> {
        Ok(self
            .configs(std::slice::from_ref(queue))
            .await?
            .pop()
            .flatten())
    }

    /// Settings of many queues in one round trip.
    pub async fn configs(
        &self,
        queues: &[QueueId],
    ) -> Result<Vec<Option<QueueConfig>>, RedisFailure> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let replies: Vec<HashMap<String, String>> = if self.pool.is_cluster() {
            // Each queue's settings are in a slot of their own.
            self.pool
                .each(queues, |mut conn, queue| {
                    let key = self.keys(queue).config();
                    async move { redis::cmd("HGETALL").arg(key).query_async(&mut conn).await }
                })
                .await?
        } else {
            let mut conn = self.pool.get().await?;
            let mut pipe = redis::pipe();
            for queue in queues {
                pipe.cmd("HGETALL").arg(self.keys(queue).config());
            }
            pipe.query_async(&mut conn).await?
        };
        Ok(replies.iter().map(QueueConfig::from_fields).collect())
    }

    #[tracing::instrument(skip_all, fields(queue.id = %queue))]
    pub async fn issue(
        &self,
        queue: &QueueId,
        arrival: &Arrival<'_>,
    ) -> Result<IssueOutcome, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        let seed = self.cached_seed(queue);
        let mut reply: Vec<i64> = issue_invocation(&keys, arrival, seed.as_ref())
            .invoke_async(&mut conn)
            .await?;
        if reply == [replies::ISSUE_STALE_DRAW_SEED] {
            drop(conn);
            let seed = self.draw_seed(queue).await?;
            conn = self.pool.get().await?;
            reply = issue_invocation(&keys, arrival, seed.as_ref())
                .invoke_async(&mut conn)
                .await?;
        }
        let outcome = replies::issue(&reply)?;
        if let Some(wait) = &self.issue_wait
            && matches!(
                outcome,
                IssueOutcome::Issued(_) | IssueOutcome::IssuedAfterExpiry(_)
            )
        {
            // On the connection that wrote the place (see `IssueWait`).
            wait.confirm(&mut conn, &keys.line()).await;
        }
        Ok(outcome)
    }

    /// Keeps the estimate a newly issued waiting user was given, to compare
    /// with the wait they have when admitted (see `lua/tick.lua`). Apart
    /// from the issue script and not atomic with it: a sample that misses
    /// its user is dropped when the line moves past it.
    pub async fn record_estimate(
        &self,
        queue: &QueueId,
        user: &UserId,
        seq: u64,
        joined_ms: i64,
        estimate_seconds: u64,
    ) -> Result<(), RedisFailure> {
        let mut conn = self.pool.get().await?;
        let _: i64 = redis::cmd("ZADD")
            .arg(self.keys(queue).estimates())
            .arg(seq)
            .arg(format!("{user} {joined_ms} {estimate_seconds}"))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    fn cached_seed(&self, queue: &QueueId) -> Option<DrawSeed> {
        let cache = self.draw_seeds.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(queue).cloned()
    }

    /// Issues places to many users in one round trip, in order (for
    /// fixtures and benchmarks that fill a line quickly); `None` for each
    /// one not issued (the queue is not configured, or a limit refused).
    pub async fn issue_many(
        &self,
        queue: &QueueId,
        arrivals: &[Arrival<'_>],
    ) -> Result<Vec<IssueOutcome>, RedisFailure> {
        let keys = self.keys(queue);
        let seed = self.draw_seed(queue).await?;
        let mut conn = self.pool.get().await?;
        // Load once so the pipelined EVALSHAs cannot meet NOSCRIPT.
        ISSUE.load_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for arrival in arrivals {
            pipe.invoke_script(&issue_invocation(&keys, arrival, seed.as_ref()));
        }
        let replies: Vec<Vec<i64>> = pipe.query_async(&mut conn).await?;
        replies.iter().map(|reply| replies::issue(reply)).collect()
    }

    #[tracing::instrument(skip_all, fields(queue.id = %ticket.queue_id))]
    pub async fn heartbeat(&self, ticket: &QueueTicket) -> Result<HeartbeatOutcome, RedisFailure> {
        let keys = self.keys(&ticket.queue_id);
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = heartbeat_invocation(&keys, ticket)
            .invoke_async(&mut conn)
            .await?;
        replies::heartbeat(&reply)
    }

    /// Gives up the ticket's place; returns whether it held one.
    #[tracing::instrument(skip_all, fields(queue.id = %ticket.queue_id))]
    pub async fn leave(&self, ticket: &QueueTicket) -> Result<bool, RedisFailure> {
        let keys = self.keys(&ticket.queue_id);
        let mut conn = self.pool.get().await?;
        let left: i64 = leave_invocation(&keys, ticket)
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
        params: TickParams,
    ) -> Result<Option<TickReport>, RedisFailure> {
        let keys = self.keys(queue);
        let mut conn = self.pool.get().await?;
        let reply: Vec<i64> = tick_invocation(&keys, &params)
            .invoke_async(&mut conn)
            .await?;
        replies::tick(&reply)
    }

    /// Takes or renews the lease on ticking `queue`.
    pub async fn try_lease(
        &self,
        queue: &QueueId,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, RedisFailure> {
        let mut conn = self.pool.get().await?;
        let held: i64 = lease_invocation(&self.keys(queue), owner, lease_ms)
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

    /// The id of the data Redis holds now: written once, so it changes only
    /// when Redis lost its data (restarted without persistence, or a
    /// replica without it was promoted). Written by the first caller that
    /// finds none.
    pub async fn data_epoch(&self) -> Result<String, RedisFailure> {
        let key = self.pool.keyspace().epoch();
        let mut conn = self.pool.get().await?;
        let candidate = uuid::Uuid::new_v4().to_string();
        let (_, epoch): (Option<String>, String) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(&candidate)
            .arg("NX")
            .cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok(epoch)
    }

    /// Sizes of many queues in one round trip (`None` for a queue that is
    /// not configured).
    pub async fn sizes(&self, queues: &[QueueId]) -> Result<Vec<Option<QueueStats>>, RedisFailure> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let replies: Vec<Vec<i64>> = if self.pool.is_cluster() {
            // One script per queue, each in its queue's slot (and each with
            // the NOSCRIPT fallback a pipeline lacks).
            self.pool
                .each(queues, |mut conn, queue| {
                    let invocation = stats_invocation(&self.keys(queue));
                    async move { invocation.invoke_async(&mut conn).await }
                })
                .await?
        } else {
            let mut conn = self.pool.get().await?;
            // Load once so the pipelined EVALSHAs cannot meet NOSCRIPT.
            STATS.load_async(&mut conn).await?;
            let mut pipe = redis::pipe();
            for queue in queues {
                pipe.invoke_script(&stats_invocation(&self.keys(queue)));
            }
            pipe.query_async(&mut conn).await?
        };
        replies.iter().map(|reply| replies::stats(reply)).collect()
    }
}

fn issue_invocation(
    keys: &QueueKeys,
    arrival: &Arrival<'_>,
    seed: Option<&DrawSeed>,
) -> redis::ScriptInvocation<'static> {
    let (bits, digest, valid_for_ms) = match &arrival.work {
        Some(work) => (
            work.difficulty_bits,
            work.digest_hex.as_str(),
            work.valid_for_ms,
        ),
        None => (0, "-", 0),
    };
    let mut invocation = with_status_keys(&ISSUE, keys);
    invocation
        .key(keys.issue_limit_address(arrival.address_key))
        .key(keys.issue_limit_user(arrival.user.as_str()))
        .key(keys.pow_marker(digest))
        .key(keys.draw())
        .arg(arrival.user.as_str())
        .arg(bits)
        .arg(valid_for_ms);
    match seed {
        Some(seed) => invocation
            .arg(seed.commitment())
            .arg(seed.score(arrival.user.as_str())),
        None => invocation.arg("-").arg(0),
    };
    invocation
}

fn configure_invocation(
    keys: &QueueKeys,
    config: &QueueConfig,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = CONFIGURE.key(keys.config());
    invocation.key(keys.state());
    // Used only if the queue has no seed yet; an existing one is kept.
    match config.opens_at {
        Some(_) => {
            let seed = DrawSeed::generate();
            invocation.arg(seed.to_hex()).arg(seed.commitment());
        }
        None => {
            invocation.arg("-").arg("-");
        }
    }
    for (field, value) in config.to_fields() {
        invocation.arg(field).arg(value);
    }
    invocation
}

fn delete_invocation(keys: &QueueKeys) -> redis::ScriptInvocation<'static> {
    let mut invocation = DELETE.prepare_invoke();
    for key in keys.all() {
        invocation.key(key);
    }
    invocation
}

fn heartbeat_invocation(
    keys: &QueueKeys,
    ticket: &QueueTicket,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = with_status_keys(&HEARTBEAT, keys);
    invocation.arg(ticket.user_id.as_str()).arg(ticket.seq);
    invocation
}

fn leave_invocation(keys: &QueueKeys, ticket: &QueueTicket) -> redis::ScriptInvocation<'static> {
    let mut invocation = LEAVE.key(keys.state());
    invocation
        .key(keys.line())
        .key(keys.seen())
        .key(keys.draw())
        .arg(ticket.user_id.as_str())
        .arg(ticket.seq);
    invocation
}

fn tick_invocation(keys: &QueueKeys, params: &TickParams) -> redis::ScriptInvocation<'static> {
    let mut invocation = with_status_keys(&TICK, keys);
    invocation
        .key(keys.draw())
        .key(keys.estimates())
        .arg(params.eviction_batch)
        .arg(TURNOVER_SMOOTHING_MS)
        .arg(params.period_ms)
        .arg(params.outage_threshold_ms())
        .arg(params.origin.code());
    invocation
}

fn lease_invocation(
    keys: &QueueKeys,
    owner: &str,
    lease_ms: u64,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = LEASE.key(keys.lease());
    invocation.arg(owner).arg(lease_ms);
    invocation
}

fn stats_invocation(keys: &QueueKeys) -> redis::ScriptInvocation<'static> {
    let mut invocation = STATS.prepare_invoke();
    invocation
        .key(keys.config())
        .key(keys.state())
        .key(keys.line())
        .key(keys.seats());
    invocation
}

/// The key list the issue, heartbeat and tick scripts start with, in order.
pub fn status_keys(keys: &QueueKeys) -> [String; 6] {
    [
        keys.config(),
        keys.state(),
        keys.line(),
        keys.seen(),
        keys.batches(),
        keys.seats(),
    ]
}

/// The issue, heartbeat and tick scripts share one key list.
fn with_status_keys(script: &'static Script, keys: &QueueKeys) -> redis::ScriptInvocation<'static> {
    let mut invocation = script.prepare_invoke();
    for key in status_keys(keys) {
        invocation.key(key);
    }
    invocation
}

#[cfg(test)]
mod tests {
    use shared::queue::KeySpace;
    use shared::redis_pool::{script_keys, slots_of};

    use super::*;

    fn config(json: &str) -> QueueConfig {
        serde_json::from_str(json).expect("a valid queue config")
    }

    /// On a Redis Cluster every key of one script must hash to one slot;
    /// the queue's hash tag guarantees it, whatever the prefix and id.
    #[test]
    fn every_script_keeps_to_one_cluster_slot() {
        let plain = config(
            r#"{"max_active":10,"admit_per_second":5,"active_ttl_seconds":60,"heartbeat_ttl_seconds":30}"#,
        );
        let with_opening = config(
            r#"{"max_active":10,"admit_per_second":5,"active_ttl_seconds":60,"heartbeat_ttl_seconds":30,"opens_at":"2030-01-01T00:00:00Z"}"#,
        );
        let seed = DrawSeed::generate();
        let user = UserId::parse("fan-1").unwrap();
        let mut checked = 0;
        for prefix in ["", "staging:", "t-0123abcd:"] {
            for queue in ["tour-1", "a", "spring_2026-final", "queue.with.dots"] {
                let Ok(queue) = QueueId::parse(queue) else {
                    continue;
                };
                let keys = KeySpace::new(prefix).unwrap().queue(&queue);
                let ticket = QueueTicket {
                    queue_id: queue.clone(),
                    user_id: user.clone(),
                    seq: 42,
                };
                let bare = Arrival {
                    user: &user,
                    address_key: "203.0.113.7",
                    work: None,
                };
                let worked = Arrival {
                    user: &user,
                    address_key: "2001:db8::/64",
                    work: Some(ProvenWork {
                        difficulty_bits: 12,
                        digest_hex: "ab".repeat(32),
                        valid_for_ms: 60_000,
                    }),
                };
                for (script, invocation) in [
                    ("issue", issue_invocation(&keys, &bare, None)),
                    (
                        "issue with work",
                        issue_invocation(&keys, &worked, Some(&seed)),
                    ),
                    ("heartbeat", heartbeat_invocation(&keys, &ticket)),
                    ("tick", tick_invocation(&keys, &TickParams::by_hand(100))),
                    ("stats", stats_invocation(&keys)),
                    ("configure", configure_invocation(&keys, &plain)),
                    (
                        "configure opening",
                        configure_invocation(&keys, &with_opening),
                    ),
                    ("delete", delete_invocation(&keys)),
                    ("leave", leave_invocation(&keys, &ticket)),
                    ("lease", lease_invocation(&keys, "replica-1", 3_000)),
                ] {
                    let sent = script_keys(&invocation);
                    assert!(!sent.is_empty(), "{script} passes its keys as KEYS");
                    assert_eq!(
                        slots_of(&sent).len(),
                        1,
                        "{script} of {prefix}{queue} spans slots: {:?}",
                        sent.iter()
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                            .collect::<Vec<_>>()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 90, "{checked}");
    }
}
