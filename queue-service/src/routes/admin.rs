use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::extract::Admin;
use shared::ids::QueueId;
use shared::problem::Problem;

use crate::domain::QueueConfig;
use crate::error::QueueError;
use crate::state::QueueState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueConfigView {
    pub queue_id: QueueId,
    #[serde(flatten)]
    pub config: QueueConfig,
}

/// Create or update a queue.
#[utoipa::path(
    put,
    path = "/v1/admin/queues/{queue_id}",
    params(("queue_id" = String, Path, description = "1-64 chars of [A-Za-z0-9_-]")),
    request_body = QueueConfig,
    responses(
        (status = 201, description = "Created", body = QueueConfigView),
        (status = 200, description = "Updated", body = QueueConfigView),
        (status = 400, description = "Invalid settings", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_key" = [])),
    tag = "admin"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn put_queue(
    _admin: Admin,
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    config: web::Json<QueueConfig>,
) -> Result<HttpResponse, QueueError> {
    let config = config.into_inner();
    config.validate()?;
    let queue_id = queue_id.into_inner();
    let created = state.store.configure(&queue_id, &config).await?;
    let view = QueueConfigView { queue_id, config };
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}
