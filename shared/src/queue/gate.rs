use std::sync::LazyLock;

use deadpool_redis::redis::Script;

use super::time::Millis;
use crate::redis_pool::{RedisFailure, RedisPool};
use crate::token::QueueTicket;

/// Helpers every queue script starts with (see the file's comments).
pub const LUA_PRELUDE: &str = include_str!("lua/prelude.lua");

/// A queue script: the prelude, then the script's own body. Both services
/// build their scripts this way so the admission rules live in one place.
pub fn queue_script_source(body: &str) -> String {
    format!("{LUA_PRELUDE}\n{body}")
}

static TOUCH_ACTIVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&queue_script_source(include_str!("lua/touch_active.lua"))));
static COMPLETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&queue_script_source(include_str!("lua/complete.lua"))));

/// Whether a verified ticket may use the sale right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Active { until_ms: Millis },
    NotActive,
}

/// Admits the ticket if it holds an active slot, and records the call as a
/// heartbeat. One Redis round trip.
pub async fn touch_active(
    pool: &RedisPool,
    ticket: &QueueTicket,
) -> Result<Admission, RedisFailure> {
    let keys = pool.keyspace().queue(&ticket.queue_id);
    let mut conn = pool.get().await?;
    let until_ms: Millis = TOUCH_ACTIVE
        .key(keys.config())
        .key(keys.state())
        .key(keys.line())
        .key(keys.seen())
        .key(keys.batches())
        .arg(ticket.user_id.as_str())
        .arg(ticket.seq)
        .invoke_async(&mut conn)
        .await?;
    Ok(if until_ms > 0 {
        Admission::Active { until_ms }
    } else {
        Admission::NotActive
    })
}

/// Frees the ticket's active slot. Returns whether it held one.
pub async fn complete(pool: &RedisPool, ticket: &QueueTicket) -> Result<bool, RedisFailure> {
    let keys = pool.keyspace().queue(&ticket.queue_id);
    let mut conn = pool.get().await?;
    let freed: i64 = COMPLETE
        .key(keys.state())
        .key(keys.line())
        .key(keys.seen())
        .arg(ticket.user_id.as_str())
        .arg(ticket.seq)
        .invoke_async(&mut conn)
        .await?;
    Ok(freed == 1)
}
