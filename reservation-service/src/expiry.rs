//! The hold-expiry worker: returns seats whose hold ran out to sale and
//! marks their reservations EXPIRED.
//!
//! Expired holds are already treated as free by holds and listings, so the
//! worker only tidies up; it is not on the correctness path. Every
//! statement re-checks `status = 'HELD' AND hold_expires_at < NOW(3)`, so
//! any number of replicas may sweep at once, and batches with `LIMIT` keep
//! each statement's locks short.

use std::time::Duration;

use sqlx::MySqlPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::error_chain;
use crate::metrics::ReservationMetrics;
use crate::storage;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub seats_released: u64,
    pub reservations_expired: u64,
}

/// Sweeps every `interval` until `shutdown` is cancelled. Failures (e.g.
/// MySQL down) are logged and the next tick tries again.
pub async fn run(
    pool: MySqlPool,
    interval: Duration,
    batch: u32,
    metrics: ReservationMetrics,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // A sweep that fails every second during an outage logs once.
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        // Each statement commits on its own, so abandoning a sweep at
        // shutdown leaves nothing half-done.
        let swept = tokio::select! {
            () = shutdown.cancelled() => break,
            swept = sweep(&pool, batch) => swept,
        };
        match swept {
            Ok(done) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("hold-expiry sweeps succeed again");
                }
                metrics.expired_holds.inc_by(done.seats_released);
                if done != Sweep::default() {
                    tracing::info!(
                        seats.released = done.seats_released,
                        reservations.expired = done.reservations_expired,
                        "expired holds swept"
                    );
                }
            }
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(
                    error.chain = %error_chain(&err),
                    "hold-expiry sweep failed; retrying every interval, quietly until it succeeds"
                );
            }
            Err(_) => {}
        }
    }
    tracing::info!("hold-expiry worker stopped");
}

/// One sweep: batches until a batch comes back short, so a backlog is
/// cleared in one go but each statement stays small.
pub async fn sweep(pool: &MySqlPool, batch: u32) -> Result<Sweep, sqlx::Error> {
    let batch = batch.max(1);
    let mut done = Sweep::default();
    loop {
        let released =
            storage::retry_on_deadlock(|| storage::seats::release_expired_holds(pool, batch))
                .await?;
        done.seats_released += released;
        if released < u64::from(batch) {
            break;
        }
    }
    loop {
        let expired =
            storage::retry_on_deadlock(|| storage::reservations::expire_lapsed_holds(pool, batch))
                .await?;
        done.reservations_expired += expired;
        if expired < u64::from(batch) {
            break;
        }
    }
    Ok(done)
}
