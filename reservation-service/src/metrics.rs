//! The service's own counters, registered in the app's registry beside the
//! shared request-latency histogram.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ReservationMetrics {
    /// Hold attempts by outcome: `held`, `taken`, `not_found`.
    pub holds: IntCounterVec,
    /// Payment attempts by outcome: `paid`, `replayed`, `hold_expired`,
    /// `insufficient_balance`, `already_confirmed`, `not_found`.
    pub payments: IntCounterVec,
    /// Seats returned to sale by the expiry worker.
    pub expired_holds: IntCounter,
}

impl ReservationMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let holds = IntCounterVec::new(
            Opts::new("reservation_holds_total", "Seat hold attempts by outcome"),
            &["outcome"],
        )?;
        let payments = IntCounterVec::new(
            Opts::new("reservation_payments_total", "Payment attempts by outcome"),
            &["outcome"],
        )?;
        let expired_holds = IntCounter::new(
            "reservation_expired_holds_total",
            "Seats returned to sale by the hold-expiry worker",
        )?;
        registry.register(Box::new(holds.clone()))?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(expired_holds.clone()))?;
        Ok(Self {
            holds,
            payments,
            expired_holds,
        })
    }
}
