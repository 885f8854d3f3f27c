//! Redis key names. Every key of one queue carries the hash tag `{<queue>}`
//! so each multi-key script runs within one Redis Cluster slot.
//!
//! Layout (why not one hash of user → token: memory; tokens are rebuilt from
//! the sequence number, so a waiting user costs one entry in `waiting` and
//! one in `seen`):
//!
//! | key | type | contents |
//! |---|---|---|
//! | `q:{id}:config` | HASH | max_active, admit_per_second, active_ttl_ms, heartbeat_ttl_ms |
//! | `q:{id}:state` | HASH | seq counter, rate bucket, smoothed admission rate, totals |
//! | `q:{id}:waiting` | ZSET | user → issue seq (FIFO order) |
//! | `q:{id}:seen` | ZSET | user → last heartbeat ms (waiting and active users) |
//! | `q:{id}:active` | ZSET | user → active-until ms |
//! | `q:{id}:active_seq` | HASH | active user → seq of the token that holds the slot |
//! | `q:{id}:lease` | STRING | scheduler replica that ticks this queue |

use crate::ids::QueueId;

/// Set of configured queue ids; the scheduler ticks each of them.
pub const QUEUE_REGISTRY_KEY: &str = "queues";

#[derive(Debug, Clone)]
pub struct QueueKeys {
    prefix: String,
}

impl QueueKeys {
    pub fn new(queue: &QueueId) -> Self {
        Self {
            prefix: format!("q:{{{queue}}}:"),
        }
    }

    fn key(&self, suffix: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + suffix.len());
        key.push_str(&self.prefix);
        key.push_str(suffix);
        key
    }

    pub fn config(&self) -> String {
        self.key("config")
    }
    pub fn state(&self) -> String {
        self.key("state")
    }
    pub fn waiting(&self) -> String {
        self.key("waiting")
    }
    pub fn seen(&self) -> String {
        self.key("seen")
    }
    pub fn active(&self) -> String {
        self.key("active")
    }
    pub fn active_seq(&self) -> String {
        self.key("active_seq")
    }
    pub fn lease(&self) -> String {
        self.key("lease")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_queue_hash_tag() {
        let keys = QueueKeys::new(&QueueId::parse("tour-1").unwrap());
        for key in [keys.waiting(), keys.seen(), keys.active(), keys.config()] {
            assert!(key.starts_with("q:{tour-1}:"), "{key}");
        }
    }
}
