//! This replica's health, published for the queue's scheduler, which slows
//! admission while the origin (this service) is slow or failing: every API
//! request's latency and outcome go into a five-second window (see
//! [`window`]), and [`publisher`] writes the window's figures and a probe
//! of the database pool to the `origin:health` hash every interval.

pub mod publisher;
pub mod window;

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use self::window::{SlidingWindow, WindowFigures};

/// The requests this replica answered recently, shared by every server
/// worker and read by the publisher.
pub struct RequestWindow {
    started: Instant,
    window: SlidingWindow,
}

impl Default for RequestWindow {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            window: SlidingWindow::default(),
        }
    }
}

impl RequestWindow {
    /// Whole seconds on a monotonic clock: the window's slots must not
    /// jump when the wall clock is stepped.
    fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn record(&self, latency: Duration, failed: bool) {
        self.window.record(self.second(), latency, failed);
    }

    pub fn figures(&self) -> WindowFigures {
        self.window.figures(self.second())
    }
}

/// Whether a request is one the queue admits buyers to make. Probes,
/// metrics and the API document say nothing about buyers' experience; nor
/// do admin calls, whose bulk work (creating a hall of 100,000 seats takes
/// seconds) would read as a slow origin and hold the queue back for no one.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/v1/") && !path.starts_with("/v1/admin/")
}

/// Middleware that records every API request in the app's
/// [`RequestWindow`]: its latency until the response head, and whether it
/// was answered 5xx (a request cut off by an error counts by the error's
/// status).
pub async fn record_api_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let window = if is_api_path(req.path()) {
        req.app_data::<web::Data<RequestWindow>>().cloned()
    } else {
        None
    };
    let started = Instant::now();
    let outcome = next.call(req).await;
    if let Some(window) = window {
        let status = match &outcome {
            Ok(response) => response.status(),
            Err(err) => err.as_response_error().status_code(),
        };
        window.record(started.elapsed(), status.is_server_error());
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_buyers_requests_count() {
        for path in [
            "/v1/reservations",
            "/v1/reservations/7/payment",
            "/v1/concerts",
            "/v1/users/me/balance",
        ] {
            assert!(is_api_path(path), "{path}");
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/v1/admin/concerts",
            "/",
            "/v1",
        ] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
