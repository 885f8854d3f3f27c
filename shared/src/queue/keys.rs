//! Redis key names. Every key of one queue carries the hash tag `{<queue>}`
//! so each multi-key script runs within one Redis Cluster slot.
//!
//! Layout. A waiting user costs one entry in `line` and one in `seen`, and
//! an active user nothing more: admission is a watermark over `line` (see
//! `lua/prelude.lua`), and tokens are rebuilt from the sequence number, so
//! no per-user token or status is stored.
//!
//! | key | type | contents |
//! |---|---|---|
//! | `q:{id}:config` | HASH | max_active, admit_per_second, active_ttl_ms, heartbeat_ttl_ms |
//! | `q:{id}:state` | HASH | seq counter, admitted watermark, rate bucket, smoothed slot turnover (for the wait estimate), totals |
//! | `q:{id}:line` | ZSET | user → issue seq, for everyone waiting or active (FIFO order) |
//! | `q:{id}:seen` | ZSET | user → last heartbeat ms |
//! | `q:{id}:batches` | ZSET | one entry per promotion: watermark → "promoted-at ms:watermark" |
//! | `q:{id}:lease` | STRING | scheduler replica that ticks this queue |
//! | `q:{id}:seats` | HASH | seats left and held across the queue's bookable schedules, written by the reservation service (see [`crate::origin::SeatCounts`]; expires) |
//! | `q:{id}:draw` | ZSET | user → draw key (first 52 bits) of everyone who joined before `opens_at` |
//! | `q:{id}:estimates` | ZSET | a sample of waiting users: seq → "user joined_ms estimate_s", the estimate each was given at join, compared with their wait at promotion |
//! | `q:{id}:limit:addr:<address>` | STRING | issuance limit of one client address (GCRA arrival time; expires) |
//! | `q:{id}:limit:user:<user>` | STRING | issuance limit of one user (GCRA arrival time; expires) |
//! | `q:{id}:pow:<digest>` | STRING | marks a solved proof-of-work challenge as used (expires with it) |
//! | `queues` | SET | every configured queue id |
//! | `epoch` | STRING | random id written once; a different one means Redis lost its data |
//! | `origin:health` | HASH | reservation replica id → its latest health sample (see [`crate::origin::HealthSample`]) |
//! | `origin:seats-lease` | STRING | the reservation replica that writes the seat counts |
//!
//! An optional [`KeySpace`] prefix goes in front of every key.

use crate::ids::QueueId;

/// A namespace for every key the product writes, so that several
/// deployments (or test runs) can share one Redis without seeing each
/// other's queues. Empty by default; both services must use the same one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpace {
    prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the Redis key prefix may only hold A-Z, a-z, 0-9, '_', '-', ':' and '.' (no hash-tag braces)"
)]
pub struct InvalidKeyPrefix;

impl KeySpace {
    pub fn new(prefix: &str) -> Result<Self, InvalidKeyPrefix> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-:.".contains(&b);
        if prefix.len() <= 64 && prefix.bytes().all(allowed) {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(InvalidKeyPrefix)
        }
    }

    /// Set of configured queue ids; the scheduler ticks each of them.
    pub fn registry(&self) -> String {
        format!("{}queues", self.prefix)
    }

    /// Changes only when Redis lost its data (see the queue service's
    /// scheduler): the one way to tell "deleted" from "forgotten".
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    /// Every reservation replica's latest health sample, one field each.
    pub fn origin_health(&self) -> String {
        format!("{}origin:health", self.prefix)
    }

    /// Held by the one reservation replica that counts seats for every queue.
    pub fn seats_feed_lease(&self) -> String {
        format!("{}origin:seats-lease", self.prefix)
    }

    pub fn queue(&self, queue: &QueueId) -> QueueKeys {
        QueueKeys {
            prefix: format!("{}q:{{{queue}}}:", self.prefix),
        }
    }
}

/// The keys of one queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    prefix: String,
}

impl QueueKeys {
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
    pub fn line(&self) -> String {
        self.key("line")
    }
    pub fn seen(&self) -> String {
        self.key("seen")
    }
    pub fn batches(&self) -> String {
        self.key("batches")
    }
    pub fn lease(&self) -> String {
        self.key("lease")
    }
    pub fn seats(&self) -> String {
        self.key("seats")
    }
    pub fn draw(&self) -> String {
        self.key("draw")
    }
    pub fn estimates(&self) -> String {
        self.key("estimates")
    }

    /// The issuance limit of one client address (see `shared::client_addr`).
    pub fn issue_limit_address(&self, address: &str) -> String {
        self.key(&format!("limit:addr:{address}"))
    }

    pub fn issue_limit_user(&self, user: &str) -> String {
        self.key(&format!("limit:user:{user}"))
    }

    /// Marks one solved proof-of-work challenge, named by a digest of it.
    pub fn pow_marker(&self, digest_hex: &str) -> String {
        self.key(&format!("pow:{digest_hex}"))
    }

    /// Every key that holds the queue's state, e.g. for deleting it.
    pub fn all(&self) -> [String; 9] {
        [
            self.config(),
            self.state(),
            self.line(),
            self.seen(),
            self.batches(),
            self.lease(),
            self.seats(),
            self.draw(),
            self.estimates(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_queue_hash_tag() {
        let keys = KeySpace::default().queue(&QueueId::parse("tour-1").unwrap());
        for key in [keys.line(), keys.seen(), keys.batches(), keys.config()] {
            assert!(key.starts_with("q:{tour-1}:"), "{key}");
        }
    }

    #[test]
    fn a_prefix_namespaces_every_key_outside_the_hash_tag() {
        let space = KeySpace::new("staging:").unwrap();
        let keys = space.queue(&QueueId::parse("tour-1").unwrap());
        assert_eq!(keys.line(), "staging:q:{tour-1}:line");
        assert_eq!(space.registry(), "staging:queues");
        assert!(KeySpace::new("x{y}").is_err());
    }
}
