//! The service's own counters, registered in the app's registry beside the
//! shared request-latency histogram.

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Seat feed round durations, in seconds: an index-only count is a few
/// milliseconds per 100,000 seats; beyond the feed interval it falls behind.
const FEED_ROUND_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone)]
pub struct ReservationMetrics {
    /// Hold attempts by outcome: `held`, `taken`, `not_found`.
    pub holds: IntCounterVec,
    /// Payment attempts by outcome: `paid`, `replayed`, `hold_expired`,
    /// `insufficient_balance`, `already_confirmed`, `not_found`.
    pub payments: IntCounterVec,
    /// Seats returned to sale by the expiry worker.
    pub expired_holds: IntCounter,
    /// Seat feed rounds this replica ran as the lease holder.
    pub seats_feed_round_seconds: Histogram,
    /// Seat feed rounds that failed (MySQL or Redis unreachable).
    pub seats_feed_failures: IntCounter,
    /// 1 while this replica holds the seat feed lease.
    pub seats_feed_lease_held: IntGauge,
    /// The figures of this replica's last published health sample.
    pub origin_p95_seconds: Gauge,
    pub origin_error_ratio: Gauge,
    pub origin_pool_wait_seconds: Gauge,
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
        let seats_feed_round_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "reservation_seats_feed_round_seconds",
                "Duration of the seat feed rounds this replica ran as the lease holder",
            )
            .buckets(FEED_ROUND_BUCKETS.to_vec()),
        )?;
        let seats_feed_failures = IntCounter::new(
            "reservation_seats_feed_failures_total",
            "Seat feed rounds that failed",
        )?;
        let seats_feed_lease_held = IntGauge::new(
            "reservation_seats_feed_lease_held",
            "1 while this replica holds the seat feed lease",
        )?;
        let origin_p95_seconds = Gauge::new(
            "reservation_origin_p95_seconds",
            "p95 latency of API requests in the last published health sample",
        )?;
        let origin_error_ratio = Gauge::new(
            "reservation_origin_error_ratio",
            "Share of API requests answered 5xx in the last published health sample",
        )?;
        let origin_pool_wait_seconds = Gauge::new(
            "reservation_origin_pool_wait_seconds",
            "Time to get a database connection at the last health probe",
        )?;
        registry.register(Box::new(holds.clone()))?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(expired_holds.clone()))?;
        registry.register(Box::new(seats_feed_round_seconds.clone()))?;
        registry.register(Box::new(seats_feed_failures.clone()))?;
        registry.register(Box::new(seats_feed_lease_held.clone()))?;
        registry.register(Box::new(origin_p95_seconds.clone()))?;
        registry.register(Box::new(origin_error_ratio.clone()))?;
        registry.register(Box::new(origin_pool_wait_seconds.clone()))?;
        Ok(Self {
            holds,
            payments,
            expired_holds,
            seats_feed_round_seconds,
            seats_feed_failures,
            seats_feed_lease_held,
            origin_p95_seconds,
            origin_error_ratio,
            origin_pool_wait_seconds,
        })
    }
}
