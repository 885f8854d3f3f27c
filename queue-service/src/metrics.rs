//! Queue metrics beside the shared HTTP ones. Counters are per replica
//! (sum them across replicas); the size gauges are read from Redis at scrape
//! time so every replica reports the same, current numbers.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::store::TickReport;

#[derive(Clone)]
pub struct QueueMetrics {
    pub waiting: IntGaugeVec,
    pub active: IntGaugeVec,
    promoted: IntCounterVec,
    evicted: IntCounterVec,
    tick_seconds: Histogram,
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
        registry.register(Box::new(metrics.tick_seconds.clone()))?;
        Ok(metrics)
    }

    pub fn record_tick(&self, queue: &str, report: &TickReport, seconds: f64) {
        self.tick_seconds.observe(seconds);
        self.promoted
            .with_label_values(&[queue])
            .inc_by(report.promoted);
        for (reason, count) in [
            ("silent_waiting", report.evicted_silent_waiting),
            ("silent_active", report.evicted_silent_active),
            ("active_expired", report.expired_active),
        ] {
            self.record_eviction(queue, reason, count);
        }
    }

    /// Active windows that ran out, found outside a tick (a user issuing
    /// again before the scheduler swept the old place).
    pub fn record_active_expired(&self, queue: &str, count: u64) {
        self.record_eviction(queue, "active_expired", count);
    }

    fn record_eviction(&self, queue: &str, reason: &str, count: u64) {
        if count > 0 {
            self.evicted
                .with_label_values(&[queue, reason])
                .inc_by(count);
        }
    }
}
