//! Queue metrics beside the shared HTTP ones. Counters are per replica
//! (sum them across replicas); the size gauges are read from Redis at scrape
//! time so every replica reports the same, current numbers. A deleted
//! queue's series are removed, so labels do not pile up over many sales.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry,
};

use crate::store::TickReport;

const EVICTION_REASONS: [&str; 3] = ["silent_waiting", "silent_active", "active_expired"];

/// Why a request was turned away before it touched the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    IssueAddressLimit,
    IssueUserLimit,
    EarlyHeartbeat,
    QueueFull,
    PowRequired,
    PowInvalid,
    PowReused,
    SoldOut,
}

impl Refusal {
    const ALL: [Refusal; 8] = [
        Refusal::IssueAddressLimit,
        Refusal::IssueUserLimit,
        Refusal::EarlyHeartbeat,
        Refusal::QueueFull,
        Refusal::PowRequired,
        Refusal::PowInvalid,
        Refusal::PowReused,
        Refusal::SoldOut,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::IssueAddressLimit => "issue_address_limit",
            Refusal::IssueUserLimit => "issue_user_limit",
            Refusal::EarlyHeartbeat => "early_heartbeat",
            Refusal::QueueFull => "queue_full",
            Refusal::PowRequired => "pow_required",
            Refusal::PowInvalid => "pow_invalid",
            Refusal::PowReused => "pow_reused",
            Refusal::SoldOut => "sold_out",
        }
    }
}

#[derive(Clone)]
pub struct QueueMetrics {
    pub waiting: IntGaugeVec,
    pub active: IntGaugeVec,
    promoted: IntCounterVec,
    evicted: IntCounterVec,
    refused: IntCounterVec,
    credited_outage_ms: IntCounterVec,
    effective_admit: GaugeVec,
    estimate_error: Histogram,
    estimate_abs_error: Histogram,
    /// The origin as the scheduler last saw it (NaN: no replica reports).
    pub origin_p95_seconds: Gauge,
    pub origin_error_ratio: Gauge,
    pub origin_pool_wait_seconds: Gauge,
    tick_seconds: Histogram,
    /// New places answered before as many replicas as `ISSUE_WAIT_REPLICAS`
    /// asks confirmed them (see `crate::store::IssueWait`).
    pub issue_unreplicated: IntCounter,
    /// Queues this replica has series for.
    labelled: Arc<Mutex<HashSet<String>>>,
}

impl QueueMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            waiting: IntGaugeVec::new(
                Opts::new("queue_waiting_users", "Users waiting in line"),
                &["queue"],
            )?,
            active: IntGaugeVec::new(
                Opts::new("queue_active_users", "Users currently admitted"),
                &["queue"],
            )?,
            promoted: IntCounterVec::new(
                Opts::new(
                    "queue_promoted_total",
                    "Users promoted from waiting to active",
                ),
                &["queue"],
            )?,
            evicted: IntCounterVec::new(
                Opts::new("queue_evicted_total", "Users removed by the scheduler"),
                &["queue", "reason"],
            )?,
            refused: IntCounterVec::new(
                Opts::new(
                    "queue_refused_total",
                    "Requests turned away by an abuse limit, a full line or a missing proof of work",
                ),
                &["queue", "reason"],
            )?,
            credited_outage_ms: IntCounterVec::new(
                Opts::new(
                    "queue_outage_credited_milliseconds_total",
                    "Time the queue could not be served, credited to its clock so nobody lost their place",
                ),
                &["queue"],
            )?,
            effective_admit: GaugeVec::new(
                Opts::new(
                    "queue_effective_admit_per_second",
                    "Admission rate applied now: admit_per_second, lowered while the origin is unhealthy",
                ),
                &["queue"],
            )?,
            estimate_error: Histogram::with_opts(
                HistogramOpts::new(
                    "queue_estimate_error_seconds",
                    "For a sample of admitted users: the wait they had minus the estimate they were given at join (negative: sooner than promised)",
                )
                .buckets(vec![
                    -600.0, -120.0, -60.0, -30.0, -10.0, -5.0, -1.0, 0.0, 1.0, 5.0, 10.0, 30.0,
                    60.0, 120.0, 600.0,
                ]),
            )?,
            estimate_abs_error: Histogram::with_opts(
                HistogramOpts::new(
                    "queue_estimate_abs_error_seconds",
                    "For a sample of admitted users: how far the wait they had was from the estimate they were given at join",
                )
                .buckets(vec![1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]),
            )?,
            origin_p95_seconds: Gauge::new(
                "queue_origin_p95_seconds",
                "Slowest reservation replica's p95 latency, as its health samples report it",
            )?,
            origin_error_ratio: Gauge::new(
                "queue_origin_error_ratio",
                "Share of reservation-service requests answered 5xx, as its health samples report it",
            )?,
            origin_pool_wait_seconds: Gauge::new(
                "queue_origin_pool_wait_seconds",
                "Longest database pool wait a reservation replica reports",
            )?,
            issue_unreplicated: IntCounter::new(
                "queue_issue_unreplicated_total",
                "New places answered although fewer replicas than ISSUE_WAIT_REPLICAS confirmed them in time (a failover now could lose them)",
            )?,
            labelled: Arc::default(),
            tick_seconds: Histogram::with_opts(
                HistogramOpts::new("queue_tick_duration_seconds", "Scheduler tick latency")
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
                    ]),
            )?,
        };
        registry.register(Box::new(metrics.waiting.clone()))?;
        registry.register(Box::new(metrics.active.clone()))?;
        registry.register(Box::new(metrics.promoted.clone()))?;
        registry.register(Box::new(metrics.evicted.clone()))?;
        registry.register(Box::new(metrics.refused.clone()))?;
        registry.register(Box::new(metrics.credited_outage_ms.clone()))?;
        registry.register(Box::new(metrics.tick_seconds.clone()))?;
        registry.register(Box::new(metrics.effective_admit.clone()))?;
        registry.register(Box::new(metrics.estimate_error.clone()))?;
        registry.register(Box::new(metrics.estimate_abs_error.clone()))?;
        registry.register(Box::new(metrics.origin_p95_seconds.clone()))?;
        registry.register(Box::new(metrics.origin_error_ratio.clone()))?;
        registry.register(Box::new(metrics.origin_pool_wait_seconds.clone()))?;
        registry.register(Box::new(metrics.issue_unreplicated.clone()))?;
        Ok(metrics)
    }

    fn remember(&self, queue: &str) {
        let mut labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        if !labelled.contains(queue) {
            labelled.insert(queue.to_owned());
        }
    }

    /// Sets the size gauges of a queue, read from Redis.
    pub fn record_sizes(&self, queue: &str, waiting: u64, active: u64) {
        self.remember(queue);
        let as_gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.waiting
            .with_label_values(&[queue])
            .set(as_gauge(waiting));
        self.active
            .with_label_values(&[queue])
            .set(as_gauge(active));
    }

    pub fn record_tick(&self, queue: &str, report: &TickReport, seconds: f64) {
        self.remember(queue);
        self.tick_seconds.observe(seconds);
        self.promoted
            .with_label_values(&[queue])
            .inc_by(report.promoted);
        self.effective_admit
            .with_label_values(&[queue])
            .set(report.effective_admit_per_second);
        for &error_ms in &report.estimate_errors_ms {
            let seconds = error_ms as f64 / 1000.0;
            self.estimate_error.observe(seconds);
            self.estimate_abs_error.observe(seconds.abs());
        }
        for (reason, count) in EVICTION_REASONS.into_iter().zip([
            report.evicted_silent_waiting,
            report.evicted_silent_active,
            report.expired_active,
        ]) {
            self.record_eviction(queue, reason, count);
        }
        if report.credited_ms > 0 {
            self.credited_outage_ms
                .with_label_values(&[queue])
                .inc_by(report.credited_ms);
        }
    }

    /// Active windows that ran out, found outside a tick (a user issuing
    /// again before the scheduler swept the old place).
    pub fn record_active_expired(&self, queue: &str, count: u64) {
        self.record_eviction(queue, "active_expired", count);
    }

    pub fn record_refusal(&self, queue: &str, refusal: Refusal) {
        self.remember(queue);
        self.refused
            .with_label_values(&[queue, refusal.label()])
            .inc();
    }

    fn record_eviction(&self, queue: &str, reason: &str, count: u64) {
        if count > 0 {
            self.remember(queue);
            self.evicted
                .with_label_values(&[queue, reason])
                .inc_by(count);
        }
    }

    /// Drops the series of every queue not in `live` (deleted, perhaps
    /// through another replica).
    pub fn forget_all_but(&self, live: &[&str]) {
        let gone: Vec<String> = {
            let labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
            labelled
                .iter()
                .filter(|queue| !live.contains(&queue.as_str()))
                .cloned()
                .collect()
        };
        for queue in gone {
            self.forget(&queue);
        }
    }

    /// Drops every series of a deleted queue.
    pub fn forget(&self, queue: &str) {
        self.labelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(queue);
        let _ = self.waiting.remove_label_values(&[queue]);
        let _ = self.active.remove_label_values(&[queue]);
        let _ = self.promoted.remove_label_values(&[queue]);
        let _ = self.credited_outage_ms.remove_label_values(&[queue]);
        let _ = self.effective_admit.remove_label_values(&[queue]);
        for reason in EVICTION_REASONS {
            let _ = self.evicted.remove_label_values(&[queue, reason]);
        }
        for refusal in Refusal::ALL {
            let _ = self.refused.remove_label_values(&[queue, refusal.label()]);
        }
    }
}
