//! The idempotency-record purge: deletes records past their retention, in
//! small batches, so the table grows with the traffic of the retention
//! window rather than with all traffic ever.

use std::time::Duration;

use shared::problem::error_chain;
use sqlx::MySqlPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::IdempotencySettings;
use crate::storage;

/// Purges every `purge_interval` until `shutdown`. Failures are logged and
/// the next round tries again.
pub async fn run(pool: MySqlPool, settings: IdempotencySettings, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(settings.purge_interval());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        // Each batch commits on its own, so stopping mid-way leaves nothing half-done.
        let purged = tokio::select! {
            () = shutdown.cancelled() => break,
            purged = purge(&pool, settings.retention(), settings.purge_batch) => purged,
        };
        match purged {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "purged idempotency records past their retention"),
            Err(err) => {
                tracing::warn!(error.chain = %error_chain(&err), "idempotency purge failed");
            }
        }
    }
    tracing::info!("idempotency purge stopped");
}

/// One purge: batches until one comes back short.
pub async fn purge(pool: &MySqlPool, retention: Duration, batch: u32) -> Result<u64, sqlx::Error> {
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let rows = storage::idempotency::purge_older_than(pool, retention, batch).await?;
        total += rows;
        if rows < u64::from(batch) {
            return Ok(total);
        }
    }
}
