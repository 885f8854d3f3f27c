use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use shared::client_addr::ClientAddr;
use shared::extract::{QueueTokenHeader, single_header};
use shared::ids::{QueueId, UserId};
use shared::problem::Problem;
use shared::queue::millis_to_rfc3339;
use shared::token::QueueTicket;

use crate::domain::{
    Place, Standing, early_poll_wait_ms, estimated_wait_seconds, poll_after_ms, samples_estimate,
};
use crate::error::QueueError;
use crate::metrics::Refusal;
use crate::pow::PowError;
use crate::state::QueueState;
use crate::store::{Arrival, HeartbeatOutcome, IssueLimit, IssueOutcome, ProvenWork};

pub const POW_CHALLENGE_HEADER: &str = "X-Pow-Challenge";
pub const POW_SOLUTION_HEADER: &str = "X-Pow-Solution";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Before the queue's opening: in the draw, no position yet.
    PreQueue,
    Waiting,
    Active,
    /// No seat is left and none is held: waiting further is pointless;
    /// stop polling.
    SoldOut,
}

/// Where a token stands and when to ask again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenStatus {
    pub token: String,
    pub queue_id: QueueId,
    pub status: TokenState,
    /// 1-based place in line; null unless waiting.
    pub position: Option<u64>,
    /// Null unless waiting.
    pub estimated_wait_seconds: Option<u64>,
    /// When to send the next heartbeat. Polling much sooner is refused (429).
    pub poll_after_ms: u64,
    /// RFC 3339; null unless active.
    pub active_until: Option<String>,
    /// RFC 3339: the opening, while in the pre-queue; else null.
    pub opens_at: Option<String>,
    /// Seats still for sale across the queue's bookable schedules; null
    /// when no concert feeds the queue.
    pub seats_left: Option<u64>,
    /// Seats held by buyers right now, which come back if not paid for in
    /// time; null when no concert feeds the queue.
    pub seats_held: Option<u64>,
}

impl TokenStatus {
    fn new(token: String, queue_id: QueueId, standing: &Standing) -> Self {
        let mut status = Self {
            token,
            queue_id,
            status: TokenState::Waiting,
            position: None,
            estimated_wait_seconds: None,
            poll_after_ms: poll_after_ms(standing),
            active_until: None,
            opens_at: None,
            seats_left: standing.seats.map(|s| s.left),
            seats_held: standing.seats.map(|s| s.held),
        };
        match standing.place {
            Place::PreQueue { .. } | Place::Waiting { .. } if standing.sold_out() => {
                status.status = TokenState::SoldOut;
            }
            Place::PreQueue { opens_at_ms } => {
                status.status = TokenState::PreQueue;
                status.opens_at = Some(millis_to_rfc3339(opens_at_ms));
            }
            Place::Waiting { position } => {
                status.position = Some(position);
                status.estimated_wait_seconds =
                    Some(estimated_wait_seconds(position, &standing.pace));
            }
            Place::Active { until_ms } => {
                status.status = TokenState::Active;
                status.active_until = Some(millis_to_rfc3339(until_ms));
            }
        }
        status
    }
}

/// A proof-of-work challenge to solve before joining.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChallengeView {
    /// Send it back in `X-Pow-Challenge`, with the solution in `X-Pow-Solution`.
    pub challenge: String,
    /// A solution `s` (1-32 letters and digits) must make
    /// SHA-256(`<challenge>:<s>`) start with this many zero bits; 0 means
    /// the queue asks no work.
    pub difficulty_bits: u8,
    /// RFC 3339; the challenge is refused after this.
    pub expires_at: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Join the line (idempotent per user).
#[utoipa::path(
    post,
    path = "/v1/queues/{queue_id}/tokens",
    params(
        ("queue_id" = QueueId, Path),
        ("X-Pow-Challenge" = Option<String>, Header, min_length = 1, max_length = 512,
         description = "A challenge from POST /v1/queues/{queue_id}/challenges, when the queue asks a proof of work"),
        ("X-Pow-Solution" = Option<String>, Header, min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9]+$",
         description = "Its solution"),
    ),
    responses(
        (status = 201, description = "New place at the back of the line", body = TokenStatus),
        (status = 200, description = "The caller's existing place", body = TokenStatus),
        (status = 400, description = "HEADER_REPEATED", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials (JWT_* or USER_ID_*)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "POW_REQUIRED, POW_INVALID, POW_EXPIRED or POW_REUSED", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown queue", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SOLD_OUT: no seat is left and none is held", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "RATE_LIMITED: too many new places from this address or user (Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "QUEUE_FULL (Retry-After), or Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("user_id_header" = [])),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn issue(
    req: HttpRequest,
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    user: UserId,
    client: ClientAddr,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let work = match proven_work(&req, &state, &queue_id, &user) {
        Ok(work) => work,
        Err(err) => {
            state
                .metrics
                .record_refusal(queue_id.as_str(), Refusal::PowInvalid);
            return Err(err);
        }
    };
    let address_key = client.limit_key();
    let arrival = Arrival {
        user: &user,
        address_key: &address_key,
        work,
    };
    let refuse = |refusal, err| {
        state.metrics.record_refusal(queue_id.as_str(), refusal);
        Err(err)
    };
    let (standing, created) = match state.store.issue(&queue_id, &arrival).await? {
        IssueOutcome::Issued(standing) => (standing, true),
        IssueOutcome::IssuedAfterExpiry(standing) => {
            state.metrics.record_active_expired(queue_id.as_str(), 1);
            (standing, true)
        }
        IssueOutcome::Existing(standing) => (standing, false),
        IssueOutcome::QueueNotFound => return Err(QueueError::QueueNotFound),
        IssueOutcome::QueueFull => return refuse(Refusal::QueueFull, QueueError::QueueFull),
        IssueOutcome::RateLimited {
            retry_after_ms,
            limit,
        } => {
            let (refusal, what) = match limit {
                IssueLimit::Address => (
                    Refusal::IssueAddressLimit,
                    "too many new places from this address",
                ),
                IssueLimit::User => (Refusal::IssueUserLimit, "too many new places for this user"),
            };
            return refuse(
                refusal,
                QueueError::RateLimited {
                    what,
                    retry_after_ms,
                },
            );
        }
        IssueOutcome::PowRequired { difficulty_bits } => {
            return refuse(
                Refusal::PowRequired,
                QueueError::PowRequired { difficulty_bits },
            );
        }
        IssueOutcome::PowReused => return refuse(Refusal::PowReused, QueueError::PowReused),
        IssueOutcome::SoldOut => return refuse(Refusal::SoldOut, QueueError::SoldOut),
    };
    let body = TokenStatus::new(
        state.codec.encode(&QueueTicket {
            queue_id: queue_id.clone(),
            user_id: user.clone(),
            seq: standing.seq,
        }),
        queue_id,
        &standing,
    );
    if let (true, Some(estimate)) = (created, body.estimated_wait_seconds)
        && samples_estimate(standing.seq)
    {
        // Only a measurement: a failure here must not cost the user the
        // place they were just given.
        if let Err(err) = state
            .store
            .record_estimate(
                &body.queue_id,
                &user,
                standing.seq,
                standing.now_ms,
                estimate,
            )
            .await
        {
            tracing::debug!(error = %err, "estimate sample not kept");
        }
    }
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// The proof of work the request carries, verified; `None` when it carries
/// none (the issue script then decides whether the queue needed one).
fn proven_work(
    req: &HttpRequest,
    state: &QueueState,
    queue: &QueueId,
    user: &UserId,
) -> Result<Option<ProvenWork>, QueueError> {
    let sent = |name| req.headers().contains_key(name);
    if !sent(POW_CHALLENGE_HEADER) && !sent(POW_SOLUTION_HEADER) {
        return Ok(None);
    }
    // Either header alone, or one that is not visible ASCII, proves nothing.
    match (
        single_header(req, POW_CHALLENGE_HEADER)?,
        single_header(req, POW_SOLUTION_HEADER)?,
    ) {
        (Some(challenge), Some(solution)) => Ok(Some(state.pow.verify(
            challenge,
            solution,
            queue,
            user,
            now_ms(),
        )?)),
        _ => Err(PowError::Invalid.into()),
    }
}

/// Get a proof-of-work challenge for joining this queue.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue_id}/challenges",
    params(("queue_id" = QueueId, Path)),
    responses(
        (status = 200, body = ChallengeView),
        (status = 400, description = "HEADER_REPEATED", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials (JWT_* or USER_ID_*)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown queue", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("user_id_header" = [])),
    tag = "queue"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn challenge(
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    user: UserId,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let config = state
        .store
        .config(&queue_id)
        .await?
        .ok_or(QueueError::QueueNotFound)?;
    let challenge = state
        .pow
        .issue(&queue_id, &user, config.pow_difficulty_bits, now_ms());
    Ok(HttpResponse::Ok().json(ChallengeView {
        challenge: challenge.challenge,
        difficulty_bits: challenge.difficulty_bits,
        expires_at: millis_to_rfc3339(challenge.expires_at_ms as i64),
    }))
}

/// Keep a token alive and learn where it stands.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue_id}/heartbeat",
    params(("queue_id" = QueueId, Path), ("X-Queue-Token" = String, Header, min_length = 1, max_length = 256, description = "The token this user was issued")),
    responses(
        (status = 200, body = TokenStatus),
        (status = 400, description = "HEADER_REPEATED", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials, or a missing, tampered or foreign token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token of another user", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "TOKEN_EXPIRED: the token left the queue, or the queue is gone", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "RATE_LIMITED: polled much sooner than poll_after_ms advised (Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("user_id_header" = [])),
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
            if let Some(retry_after_ms) = early_poll_wait_ms(&standing) {
                state
                    .metrics
                    .record_refusal(queue_id.as_str(), Refusal::EarlyHeartbeat);
                return Err(QueueError::RateLimited {
                    what: "polled sooner than poll_after_ms advised",
                    retry_after_ms,
                });
            }
            Ok(HttpResponse::Ok().json(TokenStatus::new(token.0, queue_id, &standing)))
        }
        HeartbeatOutcome::Gone => Err(QueueError::TokenExpired),
    }
}

/// Leave the line or give up the active slot (idempotent).
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue_id}/tokens/me",
    params(("queue_id" = QueueId, Path), ("X-Queue-Token" = String, Header, min_length = 1, max_length = 256, description = "The token this user was issued")),
    responses(
        (status = 204, description = "The place is given up (or was already gone)"),
        (status = 400, description = "HEADER_REPEATED", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials, or a missing, tampered or foreign token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token of another user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("user_id_header" = [])),
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
