use actix_web::{HttpResponse, web};
use shared::ids::QueueId;
use shared::metrics::Metrics;
use shared::problem::Problem;
use utoipa::OpenApi;

use crate::openapi::ApiDoc;
use crate::state::QueueState;

/// Ready when Redis answers.
pub async fn readyz(state: web::Data<QueueState>) -> HttpResponse {
    match shared::redis_pool::ping(state.store.pool()).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(err) => {
            // Probes run every few seconds; the outage itself is logged
            // once, by shared::outage.
            tracing::debug!(error = %err, "not ready: redis");
            Problem::unavailable().to_response()
        }
    }
}

/// Prometheus metrics, with queue sizes read fresh from Redis. When Redis
/// is down the sizes keep their last values and the rest still renders.
pub async fn metrics(state: web::Data<QueueState>, metrics: web::Data<Metrics>) -> HttpResponse {
    if let Err(err) = refresh_queue_sizes(&state).await {
        tracing::debug!(error = %err, "metrics: queue sizes unavailable");
    }
    shared::metrics::metrics_endpoint(metrics).await
}

async fn refresh_queue_sizes(state: &QueueState) -> Result<(), shared::redis_pool::RedisFailure> {
    let queues = state.store.queue_ids().await?;
    let sizes = state.store.sizes(&queues).await?;
    for (queue, stats) in queues.iter().zip(sizes) {
        if let Some(stats) = stats {
            state
                .metrics
                .record_sizes(queue.as_str(), stats.waiting, stats.active);
        }
    }
    let live: Vec<&str> = queues.iter().map(QueueId::as_str).collect();
    state.metrics.forget_all_but(&live);
    Ok(())
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
