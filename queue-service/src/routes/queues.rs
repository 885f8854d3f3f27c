use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::ids::QueueId;
use shared::problem::Problem;

use crate::error::QueueError;
use crate::state::QueueState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueStatsView {
    pub queue_id: QueueId,
    pub waiting: u64,
    pub active: u64,
    pub max_active: u32,
    pub admit_per_second: u32,
}

/// Public size of a queue.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue_id}",
    params(("queue_id" = QueueId, Path)),
    responses(
        (status = 200, body = QueueStatsView),
        (status = 404, description = "Unknown queue", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn get_queue(
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let stats = state
        .store
        .stats(&queue_id)
        .await?
        .ok_or(QueueError::QueueNotFound)?;
    Ok(HttpResponse::Ok().json(QueueStatsView {
        queue_id,
        waiting: stats.waiting,
        active: stats.active,
        max_active: stats.max_active,
        admit_per_second: stats.admit_per_second,
    }))
}
