use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::extract::QueueTokenHeader;
use shared::ids::{QueueId, UserId};
use shared::problem::Problem;
use shared::queue::millis_to_rfc3339;
use shared::token::QueueTicket;

use crate::domain::{Place, Standing, estimated_wait_seconds, poll_after_ms};
use crate::error::QueueError;
use crate::state::QueueState;
use crate::store::{HeartbeatOutcome, IssueOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    Waiting,
    Active,
}

/// Where a token stands and when to ask again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenStatus {
    pub token: String,
    pub queue_id: QueueId,
    pub status: TokenState,
    /// 1-based place in line; null when active.
    pub position: Option<u64>,
    /// Null when active.
    pub estimated_wait_seconds: Option<u64>,
    /// When to send the next heartbeat.
    pub poll_after_ms: u64,
    /// RFC 3339; null while waiting.
    pub active_until: Option<String>,
}

impl TokenStatus {
    fn new(token: String, queue_id: QueueId, standing: &Standing) -> Self {
        let poll_after_ms = poll_after_ms(standing);
        match standing.place {
            Place::Waiting { position } => Self {
                token,
                queue_id,
                status: TokenState::Waiting,
                position: Some(position),
                estimated_wait_seconds: Some(estimated_wait_seconds(position, &standing.pace)),
                poll_after_ms,
                active_until: None,
            },
            Place::Active { until_ms } => Self {
                token,
                queue_id,
                status: TokenState::Active,
                position: None,
                estimated_wait_seconds: None,
                poll_after_ms,
                active_until: Some(millis_to_rfc3339(until_ms)),
            },
        }
    }
}

/// Join the line (idempotent per user).
#[utoipa::path(
    post,
    path = "/v1/queues/{queue_id}/tokens",
    params(("queue_id" = String, Path), ("X-User-Id" = String, Header)),
    responses(
        (status = 201, description = "New place at the back of the line", body = TokenStatus),
        (status = 200, description = "The caller's existing place", body = TokenStatus),
        (status = 401, description = "Missing or invalid X-User-Id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown queue", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn issue(
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    user: UserId,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let (standing, created) = match state.store.issue(&queue_id, &user).await? {
        IssueOutcome::Issued(standing) => (standing, true),
        IssueOutcome::IssuedAfterExpiry(standing) => {
            state.metrics.record_active_expired(queue_id.as_str(), 1);
            (standing, true)
        }
        IssueOutcome::Existing(standing) => (standing, false),
        IssueOutcome::QueueNotFound => return Err(QueueError::QueueNotFound),
    };
    let token = state.codec.encode(&QueueTicket {
        queue_id: queue_id.clone(),
        user_id: user,
        seq: standing.seq,
    });
    let body = TokenStatus::new(token, queue_id, &standing);
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Keep a token alive and learn where it stands.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue_id}/heartbeat",
    params(("queue_id" = String, Path), ("X-User-Id" = String, Header), ("X-Queue-Token" = String, Header)),
    responses(
        (status = 200, body = TokenStatus),
        (status = 401, description = "Missing, tampered or foreign token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token of another user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown queue", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "TOKEN_EXPIRED: the token left the queue", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn heartbeat(
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    user: UserId,
    token: QueueTokenHeader,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let ticket = state.codec.verify_for(&token.0, &queue_id, &user)?;
    match state.store.heartbeat(&ticket).await? {
        HeartbeatOutcome::Alive(standing) => {
            Ok(HttpResponse::Ok().json(TokenStatus::new(token.0, queue_id, &standing)))
        }
        HeartbeatOutcome::Gone => Err(QueueError::TokenExpired),
        HeartbeatOutcome::QueueNotFound => Err(QueueError::QueueNotFound),
    }
}

/// Leave the line or give up the active slot (idempotent).
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue_id}/tokens/me",
    params(("queue_id" = String, Path), ("X-User-Id" = String, Header), ("X-Queue-Token" = String, Header)),
    responses(
        (status = 204, description = "The place is given up (or was already gone)"),
        (status = 401, description = "Missing, tampered or foreign token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token of another user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn leave(
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    user: UserId,
    token: QueueTokenHeader,
) -> Result<HttpResponse, QueueError> {
    let ticket = state.codec.verify_for(&token.0, &queue_id, &user)?;
    state.store.leave(&ticket).await?;
    Ok(HttpResponse::NoContent().finish())
}
