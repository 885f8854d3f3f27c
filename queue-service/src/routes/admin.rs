use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::extract::Admin;
use shared::ids::QueueId;
use shared::problem::Problem;

use shared::queue::millis_to_rfc3339;

use crate::domain::{AbuseLimits, OriginLimits, QueueConfig};
use crate::error::QueueError;
use crate::state::QueueState;

/// A queue's settings as stored, every default filled in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueConfigView {
    pub queue_id: QueueId,
    pub max_active: u32,
    pub admit_per_second: u32,
    pub active_ttl_seconds: u32,
    pub heartbeat_ttl_seconds: u32,
    pub max_waiting: Option<u32>,
    pub pow_difficulty_bits: u8,
    pub limits: AbuseLimits,
    /// RFC 3339; null: open from the start.
    pub opens_at: Option<String>,
    pub prequeue_spread_seconds: u32,
    pub admit_per_seat: f64,
    pub origin: OriginLimits,
}

impl QueueConfigView {
    fn new(queue_id: QueueId, config: QueueConfig) -> Self {
        Self {
            queue_id,
            max_active: config.max_active,
            admit_per_second: config.admit_per_second,
            active_ttl_seconds: config.active_ttl_seconds,
            heartbeat_ttl_seconds: config.heartbeat_ttl_seconds,
            max_waiting: config.max_waiting,
            pow_difficulty_bits: config.pow_difficulty_bits,
            limits: config.limits,
            opens_at: config.opens_at_ms().map(millis_to_rfc3339),
            prequeue_spread_seconds: config.prequeue_spread_seconds,
            admit_per_seat: config.admit_per_seat,
            origin: config.origin,
        }
    }
}

/// One queue as the operator sees it: its settings and live figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueOverview {
    pub settings: QueueConfigView,
    pub waiting: u64,
    pub active: u64,
    pub effective_admit_per_second: f64,
    /// Null when no concert feeds the queue.
    pub seats_left: Option<u64>,
    pub seats_held: Option<u64>,
    pub sold_out: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueList {
    /// In queue id order.
    pub queues: Vec<QueueOverview>,
}

/// Every configured queue with its settings and live figures.
#[utoipa::path(
    get,
    path = "/v1/admin/queues",
    responses(
        (status = 200, body = QueueList),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_key" = [])),
    tag = "admin"
)]
#[tracing::instrument(skip_all)]
pub async fn list_queues(
    _admin: Admin,
    state: web::Data<QueueState>,
) -> Result<HttpResponse, QueueError> {
    let mut ids = state.store.queue_ids().await?;
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let configs = state.store.configs(&ids).await?;
    let sizes = state.store.sizes(&ids).await?;
    let queues = ids
        .into_iter()
        .zip(configs)
        .zip(sizes)
        .filter_map(|((queue_id, config), stats)| {
            let (config, stats) = (config?, stats?);
            Some(QueueOverview {
                settings: QueueConfigView::new(queue_id, config),
                waiting: stats.waiting,
                active: stats.active,
                effective_admit_per_second: stats.effective_admit_per_second,
                seats_left: stats.seats.map(|s| s.left),
                seats_held: stats.seats.map(|s| s.held),
                sold_out: stats.seats.is_some_and(|s| s.left == 0 && s.held == 0),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(QueueList { queues }))
}

/// Create or update a queue.
#[utoipa::path(
    put,
    path = "/v1/admin/queues/{queue_id}",
    params(("queue_id" = QueueId, Path, description = "1-64 chars of [A-Za-z0-9_-]")),
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
    let view = QueueConfigView::new(queue_id, config);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Delete a queue: it stops being ticked, its state and metric series go,
/// and its tokens answer 410 from then on.
#[utoipa::path(
    delete,
    path = "/v1/admin/queues/{queue_id}",
    params(("queue_id" = QueueId, Path, description = "1-64 chars of [A-Za-z0-9_-]")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "QUEUE_NOT_FOUND", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "QUEUE_DECLARED: the queue is declared in the configuration", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_key" = [])),
    tag = "admin"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn delete_queue(
    _admin: Admin,
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    if state.declared.contains(&queue_id) {
        return Err(QueueError::QueueDeclared);
    }
    if !state.store.delete(&queue_id).await? {
        return Err(QueueError::QueueNotFound);
    }
    state.metrics.forget(queue_id.as_str());
    tracing::info!("queue deleted");
    Ok(HttpResponse::NoContent().finish())
}
