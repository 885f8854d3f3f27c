//! Waiting for replicas before a new place is acknowledged
//! (`ISSUE_WAIT_REPLICAS`, `ISSUE_WAIT_TIMEOUT_MS`; see
//! `crate::config::IssueSettings` for why, and why a place the replicas did
//! not confirm in time is still given).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use shared::redis_pool::RedisConnection;

/// At most one warning this often while places go unconfirmed; the counter
/// has them all.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How many replicas a new place waits for, and for how long.
#[derive(Clone)]
pub struct IssueWait {
    replicas: u32,
    timeout_ms: u64,
    unreplicated: IntCounter,
    /// Milliseconds after `started` of the last warning (0: none yet).
    warned_at_ms: Arc<AtomicU64>,
    started: Instant,
}

impl IssueWait {
    /// `None` when `replicas` is 0: issues do not wait.
    pub fn new(replicas: u32, timeout_ms: u64, unreplicated: IntCounter) -> Option<Self> {
        (replicas > 0).then(|| Self {
            replicas,
            timeout_ms,
            unreplicated,
            warned_at_ms: Arc::default(),
            started: Instant::now(),
        })
    }

    /// Waits until the replicas have what `conn` wrote to `key`'s slot (the
    /// new place), or the timeout passed. Never fails the issue: the place
    /// is on the master either way; an unconfirmed one is counted and
    /// logged.
    pub(super) async fn confirm(&self, conn: &mut RedisConnection, key: &str) {
        let acknowledged = conn
            .wait_for_replicas(key, self.replicas, self.timeout_ms)
            .await;
        let error = match acknowledged {
            Ok(count) if count >= self.replicas => return,
            Ok(count) => format!("{count} of {} replicas confirmed it", self.replicas),
            Err(err) => format!("WAIT failed: {err}"),
        };
        self.unreplicated.inc();
        let now_ms = (self.started.elapsed().as_millis() as u64).max(1);
        let last = self.warned_at_ms.load(Ordering::Relaxed);
        if (last == 0 || now_ms.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self
                .warned_at_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                replicas.asked = self.replicas,
                wait_ms = self.timeout_ms,
                error = %error,
                "a new place was answered before enough replicas had it: a failover now \
                 would lose it (queue_issue_unreplicated_total counts them all)"
            );
        }
    }
}
