use std::sync::LazyLock;

use deadpool_redis::redis::{Script, ScriptInvocation};

use super::keys::QueueKeys;
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
    let until_ms: Millis = touch_active_invocation(&keys, ticket)
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
    let freed: i64 = complete_invocation(&keys, ticket)
        .invoke_async(&mut conn)
        .await?;
    Ok(freed == 1)
}

fn touch_active_invocation(keys: &QueueKeys, ticket: &QueueTicket) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH_ACTIVE.key(keys.config());
    invocation
        .key(keys.state())
        .key(keys.line())
        .key(keys.seen())
        .key(keys.batches())
        .arg(ticket.user_id.as_str())
        .arg(ticket.seq);
    invocation
}

fn complete_invocation(keys: &QueueKeys, ticket: &QueueTicket) -> ScriptInvocation<'static> {
    let mut invocation = COMPLETE.key(keys.state());
    invocation
        .key(keys.line())
        .key(keys.seen())
        .arg(ticket.user_id.as_str())
        .arg(ticket.seq);
    invocation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{QueueId, UserId};
    use crate::queue::KeySpace;
    use crate::redis_pool::{script_keys, slots_of};

    #[test]
    fn the_gate_scripts_keep_to_one_cluster_slot() {
        for prefix in ["", "staging:", "t-0123abcd:"] {
            for queue in ["tour-1", "a", "spring_2026-final"] {
                let keys = KeySpace::new(prefix)
                    .unwrap()
                    .queue(&QueueId::parse(queue).unwrap());
                let ticket = QueueTicket {
                    queue_id: QueueId::parse(queue).unwrap(),
                    user_id: UserId::parse("fan-1").unwrap(),
                    seq: 42,
                };
                for (script, invocation) in [
                    ("touch_active", touch_active_invocation(&keys, &ticket)),
                    ("complete", complete_invocation(&keys, &ticket)),
                ] {
                    let sent = script_keys(&invocation);
                    assert!(sent.len() >= 3, "{script}: {} keys", sent.len());
                    assert_eq!(slots_of(&sent).len(), 1, "{script} of {prefix}{queue}");
                }
            }
        }
    }
}
