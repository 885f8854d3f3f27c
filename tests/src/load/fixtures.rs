//! Queue fixtures for tests and benchmarks. They run the queue's own
//! scripts (pipelined, so a line of a million fills in seconds), never a
//! copy of its key layout, so what they build is exactly what production
//! builds.

use queue_service::domain::{AbuseLimits, QueueConfig};
use queue_service::store::{Arrival, IssueOutcome, QueueStore, TickParams};
use shared::ids::{QueueId, UserId};
use shared::redis_pool::{RedisFailure, RedisPool};
use shared::token::{QueueTicket, TokenCodec};

/// Commands per pipeline: large enough to amortise round trips, small enough
/// not to stall Redis for other clients, and to be answered well within the
/// test apps' one-second Redis budget on a loaded machine.
const PIPELINE: usize = 500;

/// Abuse limits off: fixtures and most tests join many users from one
/// address and poll at will. The limits have tests of their own.
pub const NO_LIMITS: AbuseLimits = AbuseLimits {
    issues_per_minute_per_address: 0,
    issue_burst_per_address: 1,
    issues_per_minute_per_user: 0,
    issue_burst_per_user: 1,
    min_poll_interval_percent: 0,
};

/// A queue that admits everyone at once and evicts no one for an hour,
/// whatever seats its concert has left.
pub const ADMIT_ALL: QueueConfig = QueueConfig {
    max_active: 1_000_000,
    admit_per_second: 100_000,
    active_ttl_seconds: 3_600,
    heartbeat_ttl_seconds: 3_600,
    max_waiting: None,
    pow_difficulty_bits: 0,
    limits: NO_LIMITS,
    opens_at: None,
    prequeue_spread_seconds: queue_service::domain::DEFAULT_PREQUEUE_SPREAD_SECONDS,
    admit_per_seat: 0.0,
    origin: queue_service::domain::OriginLimits::DEFAULT,
    poll_budget_per_second: None,
};

/// The user id of the `i`-th preloaded user (8 bytes, like a short real id).
pub fn bench_user(i: u64) -> String {
    format!("u{i:07}")
}

/// The token the queue issued to the `i`-th preloaded user of a queue that
/// was empty before the preload.
pub fn bench_token(codec: &TokenCodec, queue: &QueueId, i: u64) -> String {
    codec.encode(&QueueTicket {
        queue_id: queue.clone(),
        user_id: UserId::parse(&bench_user(i)).expect("bench user ids are valid"),
        seq: i + 1,
    })
}

/// Issues places to `users` in order through the issue script, pipelined;
/// returns each user's sequence number.
pub async fn issue_many(
    pool: &RedisPool,
    queue: &QueueId,
    users: &[UserId],
) -> Result<Vec<u64>, RedisFailure> {
    let store = QueueStore::new(pool.clone());
    let mut seqs = Vec::with_capacity(users.len());
    for chunk in users.chunks(PIPELINE) {
        let arrivals: Vec<Arrival<'_>> = chunk
            .iter()
            .map(|user| Arrival {
                user,
                address_key: "fixture",
                work: None,
            })
            .collect();
        for outcome in store.issue_many(queue, &arrivals).await? {
            match outcome {
                IssueOutcome::Issued(standing)
                | IssueOutcome::IssuedAfterExpiry(standing)
                | IssueOutcome::Existing(standing) => seqs.push(standing.seq),
                other => {
                    return Err(RedisFailure::BadReply(format!(
                        "fixture issue refused: {other:?}"
                    )));
                }
            }
        }
    }
    Ok(seqs)
}

/// Puts users `from..to` (see [`bench_user`]) at the back of the line.
pub async fn preload_waiting(
    pool: &RedisPool,
    queue: &QueueId,
    from: u64,
    to: u64,
) -> Result<(), RedisFailure> {
    let mut start = from;
    while start < to {
        let end = (start + 100_000).min(to);
        let users: Vec<UserId> = (start..end)
            .map(|i| UserId::parse(&bench_user(i)).expect("bench user ids are valid"))
            .collect();
        issue_many(pool, queue, &users).await?;
        start = end;
    }
    Ok(())
}

/// Makes `users` active in `queue` the way production does (issue, then a
/// scheduler tick), with the queue set to [`ADMIT_ALL`]; returns their
/// tokens. Anyone already waiting in that queue is admitted too.
pub async fn admit(
    store: &QueueStore,
    codec: &TokenCodec,
    queue: &QueueId,
    users: &[UserId],
) -> Result<Vec<String>, RedisFailure> {
    store.configure(queue, &ADMIT_ALL).await?;
    let seqs = issue_many(store.pool(), queue, users).await?;
    // One tick admits up to a second's worth (100,000); bigger groups wait
    // for the bucket to refill.
    loop {
        store.tick(queue, TickParams::by_hand(10_000)).await?;
        match store.stats(queue).await? {
            Some(stats) if stats.waiting > 0 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            _ => break,
        }
    }
    Ok(users
        .iter()
        .zip(seqs)
        .map(|(user, seq)| {
            codec.encode(&QueueTicket {
                queue_id: queue.clone(),
                user_id: user.clone(),
                seq,
            })
        })
        .collect())
}
