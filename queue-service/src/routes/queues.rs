use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::extract::Admin;
use shared::ids::QueueId;
use shared::problem::Problem;
use shared::queue::millis_to_rfc3339;

use crate::draw::{DrawSeed, METHOD};
use crate::error::QueueError;
use crate::state::QueueState;
use crate::store::QueueStats;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueStatsView {
    pub queue_id: QueueId,
    pub waiting: u64,
    pub active: u64,
    pub max_active: u32,
    pub admit_per_second: u32,
    /// The rate applied now: lower than `admit_per_second` while the
    /// reservation service is slow or failing.
    pub effective_admit_per_second: f64,
    /// Seats still for sale across the bookable schedules of the concerts
    /// this queue gates; null when none feeds it.
    pub seats_left: Option<u64>,
    /// Seats held right now (they come back if not paid for); null when no
    /// concert feeds the queue.
    pub seats_held: Option<u64>,
    /// No seat left and none held.
    pub sold_out: bool,
    /// RFC 3339; null when the queue has no opening.
    pub opens_at: Option<String>,
    /// The opening draw; null when the queue has no opening.
    pub draw: Option<DrawView>,
}

/// The opening draw, published so anyone can check it: the commitment
/// before anyone joins, the seed once the draw is made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DrawView {
    /// Hex SHA-256 of the seed's 32 bytes.
    pub commitment: String,
    /// Hex, 64 digits; null until the opening.
    pub seed: Option<String>,
    /// RFC 3339; null until the opening.
    pub drawn_at: Option<String>,
    /// People in the draw (everyone who joined before `opens_at` and had
    /// not left); null until the opening.
    pub entrants: Option<u64>,
    pub method: &'static str,
}

/// Public size of a queue, its sale and its draw.
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
    let seed = match stats.opens_at_ms {
        Some(_) => state.store.draw_seed(&queue_id).await?,
        None => None,
    };
    Ok(HttpResponse::Ok().json(view(queue_id, &stats, seed.as_ref())))
}

fn view(queue_id: QueueId, stats: &QueueStats, seed: Option<&DrawSeed>) -> QueueStatsView {
    QueueStatsView {
        queue_id,
        waiting: stats.waiting,
        active: stats.active,
        max_active: stats.max_active,
        admit_per_second: stats.admit_per_second,
        effective_admit_per_second: stats.effective_admit_per_second,
        seats_left: stats.seats.map(|s| s.left),
        seats_held: stats.seats.map(|s| s.held),
        sold_out: stats.seats.is_some_and(|s| s.left == 0 && s.held == 0),
        opens_at: stats.opens_at_ms.map(millis_to_rfc3339),
        draw: seed.map(|seed| {
            let opening = stats.opening;
            DrawView {
                commitment: seed.commitment(),
                seed: opening.map(|_| seed.to_hex()),
                drawn_at: opening.map(|o| millis_to_rfc3339(o.opened_ms)),
                entrants: opening.map(|o| o.entrants),
                method: METHOD,
            }
        }),
    }
}

const DEFAULT_DRAW_PAGE: u64 = 1_000;
const MAX_DRAW_PAGE: u64 = 10_000;
/// Far beyond any line, and within what Redis takes as a range index.
const MAX_DRAW_OFFSET: u64 = 1_000_000_000_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrawPageQuery {
    /// Entrants to skip, in draw order (default 0).
    #[param(minimum = 0, maximum = 1000000000000_u64)]
    pub offset: Option<u64>,
    /// Entrants per page, 1-10,000 (default 1,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
}

/// One entrant of the draw.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DrawEntry {
    pub user_id: String,
    /// Hex HMAC-SHA256(seed, user id).
    pub key: String,
    /// 1-based place in the draw.
    pub place: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DrawPage {
    pub queue_id: QueueId,
    pub commitment: String,
    pub seed: String,
    pub entrants: u64,
    pub method: &'static str,
    pub entries: Vec<DrawEntry>,
    /// The `offset` of the next page; null after the last.
    pub next_offset: Option<u64>,
}

/// The opening draw for auditors: every entrant with their key and place,
/// a page at a time (check it with `scripts/verify-draw.py`).
#[utoipa::path(
    get,
    path = "/v1/admin/queues/{queue_id}/draw",
    params(("queue_id" = QueueId, Path), DrawPageQuery),
    responses(
        (status = 200, body = DrawPage),
        (status = 400, description = "INVALID_QUERY or INVALID_DRAW_PAGE", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "QUEUE_NOT_FOUND, or the queue has no opening", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "DRAW_PENDING: the queue has not opened yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_key" = [])),
    tag = "admin"
)]
#[tracing::instrument(skip_all, fields(queue.id = %queue_id))]
pub async fn get_draw(
    _admin: Admin,
    state: web::Data<QueueState>,
    queue_id: web::Path<QueueId>,
    page: web::Query<DrawPageQuery>,
) -> Result<HttpResponse, QueueError> {
    let queue_id = queue_id.into_inner();
    let (offset, limit) = (
        page.offset.unwrap_or(0),
        page.limit.unwrap_or(DEFAULT_DRAW_PAGE),
    );
    if !(1..=MAX_DRAW_PAGE).contains(&limit) || offset > MAX_DRAW_OFFSET {
        return Err(QueueError::InvalidDrawPage);
    }
    let stats = state
        .store
        .stats(&queue_id)
        .await?
        .ok_or(QueueError::QueueNotFound)?;
    let seed = state
        .store
        .draw_seed(&queue_id)
        .await?
        .ok_or(QueueError::QueueNotFound)?;
    if stats.opening.is_none() {
        return Err(QueueError::DrawPending);
    }
    let (rows, entrants) = state.store.draw_entrants(&queue_id, offset, limit).await?;
    let entries: Vec<DrawEntry> = rows
        .into_iter()
        .zip(offset + 1..)
        .map(|((user_id, _score), place)| DrawEntry {
            key: hex::encode(seed.key(&user_id)),
            user_id,
            place,
        })
        .collect();
    let next = offset + entries.len() as u64;
    Ok(HttpResponse::Ok().json(DrawPage {
        queue_id,
        commitment: seed.commitment(),
        seed: seed.to_hex(),
        entrants,
        method: METHOD,
        entries,
        next_offset: (next < entrants).then_some(next),
    }))
}
