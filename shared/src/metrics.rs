//! Prometheus metrics: one registry per running app (so tests can run many
//! apps in one process), the request-latency middleware and `/metrics`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};

/// Request latency buckets, in seconds: the interesting range for a poll
/// answered from Redis is sub-millisecond to tens of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    request_duration: HistogramVec,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        let registry = Registry::new_custom(
            None,
            Some(std::iter::once(("service".to_owned(), service.to_owned())).collect()),
        )
        .expect("static registry labels are valid");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )
        .expect("static histogram options are valid");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("first registration of a fresh registry");
        Self {
            registry,
            request_duration,
        }
    }

    /// Where a service registers its own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Middleware that records every request's latency. The `route` label is
/// the matched pattern (e.g. `/v1/queues/{queue_id}/heartbeat`), never the
/// raw path, so the label set stays bounded.
pub async fn record_request_latency(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let method = req.method().clone();
    let outcome = next.call(req).await;
    if let Some(metrics) = metrics {
        // A request cut off by the deadline comes back as an error, its
        // route no longer known.
        let (route, status) = match &outcome {
            Ok(response) => (response.request().match_pattern(), response.status()),
            Err(err) => (None, err.as_response_error().status_code()),
        };
        metrics
            .request_duration
            .with_label_values(&[
                method.as_str(),
                route.as_deref().unwrap_or("unmatched"),
                status.as_str(),
            ])
            .observe(started.elapsed().as_secs_f64());
    }
    outcome
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics_endpoint(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .body(metrics.render())
}
