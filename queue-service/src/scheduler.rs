//! The scheduler loop: every tick, for each configured queue, take or renew
//! that queue's lease and, if held, run one tick script. The lease keeps the
//! work on one replica; the script keeps the invariants even if two replicas
//! tick at once (e.g. after a lease expired during a pause).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics::QueueMetrics;
use crate::store::QueueStore;

/// A lease outlives three missed ticks before another replica takes over.
const LEASE_TICKS: u64 = 3;

pub struct Scheduler {
    store: QueueStore,
    metrics: QueueMetrics,
    owner: String,
    tick: Duration,
    eviction_batch: usize,
}

impl Scheduler {
    pub fn new(
        store: QueueStore,
        metrics: QueueMetrics,
        tick: Duration,
        eviction_batch: usize,
    ) -> Self {
        Self {
            store,
            metrics,
            owner: uuid::Uuid::new_v4().to_string(),
            tick,
            eviction_batch,
        }
    }

    /// Ticks until `shutdown` fires. Redis errors are logged and the loop
    /// goes on: the next tick retries.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(tick_ms = self.tick.as_millis() as u64, "scheduler started");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => self.tick_all().await,
            }
        }
        tracing::info!("scheduler stopped");
    }

    async fn tick_all(&self) {
        let queues = match self.store.queue_ids().await {
            Ok(queues) => queues,
            Err(err) => {
                tracing::warn!(error = %err, "scheduler cannot list queues");
                return;
            }
        };
        let lease_ms = self.tick.as_millis() as u64 * LEASE_TICKS;
        for queue in queues {
            match self.store.try_lease(&queue, &self.owner, lease_ms).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(queue.id = %queue, error = %err, "lease check failed");
                    continue;
                }
            }
            let started = Instant::now();
            match self.store.tick(&queue, self.eviction_batch).await {
                Ok(Some(report)) => {
                    self.metrics.record_tick(
                        queue.as_str(),
                        &report,
                        started.elapsed().as_secs_f64(),
                    );
                    if report.promoted > 0 || report.expired_active > 0 {
                        tracing::debug!(queue.id = %queue, ?report, "tick");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(queue.id = %queue, error = %err, "tick failed"),
            }
        }
    }
}
