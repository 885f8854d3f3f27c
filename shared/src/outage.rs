//! Outage bookkeeping for a dependency (Redis, MySQL): one log line when
//! requests start being refused because it is down, a count every ten
//! seconds while it stays down, and one line when it answers again, instead
//! of a warning per refused request (thousands a second in a rush).
//! Every refusal is counted in `dependency_refusals_total`.
//!
//! Requests report a refusal through the response: the service's error
//! mapping attaches a [`DependencyDown`] extension to the 503 it builds, and
//! [`record_refusals`] (a middleware) hands it to the app's [`OutageWatch`].
//! Recovery is noticed by a probe the watch runs only while the dependency
//! is down.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// How often a down dependency is probed, and its refusals reported.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Attached to a 503 response: which dependency refused the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DependencyDown(pub &'static str);

/// The 503 answer for a request refused because `dependency` is down,
/// marked for [`record_refusals`].
pub fn unavailable_response(dependency: &'static str) -> actix_web::HttpResponse {
    let mut response = crate::problem::Problem::unavailable().to_response();
    response.extensions_mut().insert(DependencyDown(dependency));
    response
}

/// Checks that a dependency answers.
pub type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

struct Dependency {
    probe: Probe,
    down: AtomicBool,
    refused_since_report: AtomicU64,
    refused_in_outage: AtomicU64,
}

/// The outage state of each dependency of one app; shared as app data.
#[derive(Clone)]
pub struct OutageWatch {
    dependencies: Arc<HashMap<&'static str, Dependency>>,
    refusals: IntCounterVec,
    up: IntGaugeVec,
    started: Arc<Mutex<HashMap<&'static str, Instant>>>,
}

impl OutageWatch {
    pub fn new(
        registry: &Registry,
        probes: Vec<(&'static str, Probe)>,
    ) -> Result<Self, prometheus::Error> {
        let refusals = IntCounterVec::new(
            Opts::new(
                "dependency_refusals_total",
                "Requests refused with 503 because a dependency was unavailable",
            ),
            &["dependency"],
        )?;
        let up = IntGaugeVec::new(
            Opts::new(
                "dependency_up",
                "1 while the dependency answers, 0 while requests are refused for it",
            ),
            &["dependency"],
        )?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(up.clone()))?;
        let dependencies = probes
            .into_iter()
            .map(|(name, probe)| {
                up.with_label_values(&[name]).set(1);
                refusals.with_label_values(&[name]);
                (
                    name,
                    Dependency {
                        probe,
                        down: AtomicBool::new(false),
                        refused_since_report: AtomicU64::new(0),
                        refused_in_outage: AtomicU64::new(0),
                    },
                )
            })
            .collect();
        Ok(Self {
            dependencies: Arc::new(dependencies),
            refusals,
            up,
            started: Arc::default(),
        })
    }

    /// A request was refused because `name` is down.
    pub fn refused(&self, name: &'static str) {
        self.refusals.with_label_values(&[name]).inc();
        let Some(dependency) = self.dependencies.get(name) else {
            return;
        };
        dependency
            .refused_since_report
            .fetch_add(1, Ordering::Relaxed);
        dependency.refused_in_outage.fetch_add(1, Ordering::Relaxed);
        if dependency.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            dependency = name,
            "{name} is unavailable: refusing the requests that need it with 503 until it answers"
        );
        self.up.with_label_values(&[name]).set(0);
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Instant::now());
        tokio::spawn(self.clone().watch(name));
    }

    /// Probes until the dependency answers, reporting refusals meanwhile.
    async fn watch(self, name: &'static str) {
        let Some(dependency) = self.dependencies.get(name) else {
            return;
        };
        let mut last_report = Instant::now();
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            if (dependency.probe)().await.is_ok() {
                break;
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                let refused = dependency.refused_since_report.swap(0, Ordering::Relaxed);
                tracing::warn!(
                    dependency = name,
                    refused,
                    "{name} is still unavailable: {refused} requests refused in the last {} s",
                    REPORT_EVERY.as_secs()
                );
            }
        }
        let down_for = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .map_or(Duration::ZERO, |at| at.elapsed());
        dependency.refused_since_report.store(0, Ordering::Relaxed);
        let refused = dependency.refused_in_outage.swap(0, Ordering::Relaxed);
        self.up.with_label_values(&[name]).set(1);
        dependency.down.store(false, Ordering::Release);
        tracing::info!(
            dependency = name,
            refused,
            down_ms = down_for.as_millis() as u64,
            "{name} answers again after {:.1} s; {refused} requests were refused meanwhile",
            down_for.as_secs_f64()
        );
    }
}

/// Middleware: hands every refusal a response carries to the app's watch.
pub async fn record_refusals(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let watch = req.app_data::<web::Data<OutageWatch>>().cloned();
    let response = next.call(req).await?;
    if let Some(watch) = watch
        && let Some(DependencyDown(name)) = response.response().extensions().get().copied()
    {
        watch.refused(name);
    }
    Ok(response)
}
