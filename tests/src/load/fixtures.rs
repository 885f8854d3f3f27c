//! Benchmark fixtures: a line of a million waiting users is written straight
//! into Redis with pipelined commands (through HTTP it would take minutes),
//! in exactly the layout the queue scripts keep (`shared::queue::keys`).

use deadpool_redis::redis;
use shared::ids::{QueueId, UserId};
use shared::redis_pool::{RedisFailure, RedisPool};
use shared::token::{QueueTicket, TokenCodec};

/// The user id of the `i`-th preloaded user (8 bytes, like a short real id).
pub fn bench_user(i: u64) -> String {
    format!("u{i:07}")
}

/// The token the queue would have issued to the `i`-th preloaded user.
pub fn bench_token(codec: &TokenCodec, queue: &QueueId, i: u64) -> String {
    codec.encode(&QueueTicket {
        queue_id: queue.clone(),
        user_id: UserId::parse(&bench_user(i)).expect("bench user ids are valid"),
        seq: i + 1,
    })
}

/// Appends users `from..to` to the back of the line, seen just now.
pub async fn preload_waiting(
    pool: &RedisPool,
    queue: &QueueId,
    from: u64,
    to: u64,
) -> Result<(), RedisFailure> {
    const BATCH: u64 = 5_000;
    let keys = pool.keyspace().queue(queue);
    let mut conn = pool.get().await?;
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
    let now_ms = seconds * 1000 + micros / 1000;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        let mut waiting = redis::cmd("ZADD");
        waiting.arg(keys.waiting());
        let mut seen = redis::cmd("ZADD");
        seen.arg(keys.seen());
        for i in start..end {
            let user = bench_user(i);
            waiting.arg(i + 1).arg(&user);
            seen.arg(now_ms).arg(&user);
        }
        let () = redis::pipe()
            .add_command(waiting)
            .ignore()
            .add_command(seen)
            .ignore()
            .query_async(&mut conn)
            .await?;
        start = end;
    }
    let _: () = redis::cmd("HSET")
        .arg(keys.state())
        .arg("seq")
        .arg(to)
        .query_async(&mut conn)
        .await?;
    Ok(())
}
