//! Paying for a held seat.

use actix_web::{HttpResponse, web};
use shared::extract::{IdempotencyKey, QueueTokenHeader};
use shared::ids::UserId;
use shared::problem::Problem;

use super::{replay_response, stored_response};
use crate::domain::ids::ReservationId;
use crate::domain::receipt::PaymentReceipt;
use crate::error::ReservationError;
use crate::purchase::{self, PaymentAnswer};
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/v1/reservations/{reservation_id}/payment",
    tag = "payments",
    security(("bearer" = []), ("user_id_header" = [])),
    params(
        ("reservation_id" = u64, Path, minimum = 1, description = "The caller's held reservation"),
        ("X-Queue-Token" = String, Header, min_length = 1, max_length = 256, description = "The caller's token of the concert's queue, from the turn during which the seat was held (it need not be active any more)"),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 128, pattern = "^[!-~]+$",
         description = "Retries with the same key return the first response"),
    ),
    responses(
        (status = 200, body = PaymentReceipt),
        (status = 401, description = "USER_ID_MISSING, TOKEN_MISSING or TOKEN_INVALID",
         body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "INSUFFICIENT_BALANCE", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "TOKEN_NOT_YOURS: the token belongs to another user", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "RESERVATION_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "HOLD_EXPIRED or RESERVATION_ALREADY_CONFIRMED",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = Problem,
         content_type = "application/problem+json"),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(reservation.id = %path))]
pub async fn pay(
    path: web::Path<u64>,
    user: UserId,
    token: QueueTokenHeader,
    key: IdempotencyKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let reservation_id = ReservationId::new(path.into_inner())?;
    match purchase::pay(&state, &user, &token, reservation_id, &key.0).await? {
        PaymentAnswer::Stored(stored) => Ok(stored_response(stored)),
        PaymentAnswer::Replay(replay) => replay_response(replay),
    }
}
