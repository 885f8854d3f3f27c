//! Readiness: MySQL and Redis both answer.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use shared::problem::Problem;

use crate::error::error_chain;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "MySQL and Redis are reachable"),
        (status = 503, description = "A dependency is unreachable", body = Problem,
         content_type = "application/problem+json"),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (mysql, redis) = tokio::join!(
        sqlx::query("SELECT 1").execute(&state.db),
        shared::redis_pool::ping(&state.redis),
    );
    let mut down = Vec::new();
    if let Err(err) = mysql {
        // Probes run every few seconds; outages are logged once, by shared::outage.
        tracing::debug!(error.chain = %error_chain(&err), "readiness: mysql unreachable");
        down.push("mysql");
    }
    if let Err(err) = redis {
        tracing::debug!(error.chain = %error_chain(&err), "readiness: redis unreachable");
        down.push("redis");
    }
    if down.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            format!("not ready: {} unreachable", down.join(" and ")),
        )
        .to_response()
    }
}
