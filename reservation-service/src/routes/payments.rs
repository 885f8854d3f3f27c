//! Paying for a held seat.

use actix_web::{HttpResponse, web};
use shared::extract::{IdempotencyKey, QueueTokenHeader};
use shared::ids::UserId;
use shared::problem::Problem;
use shared::token::QueueTicket;

use super::{replay_response, stored_response};
use crate::domain::idempotency::StoredResponse;
use crate::domain::ids::{ReservationId, ScheduleId};
use crate::domain::receipt::PaymentReceipt;
use crate::error::ReservationError;
use crate::state::AppState;
use crate::storage;
use crate::storage::payments::{PaymentOutcome, PaymentRefusal, PaymentRequest};

#[utoipa::path(
    post,
    path = "/v1/reservations/{reservation_id}/payment",
    tag = "payments",
    security(("bearer" = []), ("user_id_header" = [])),
    params(
        ("reservation_id" = u64, Path, minimum = 1, description = "The caller's held reservation"),
        ("X-Queue-Token" = String, Header, min_length = 1, max_length = 256, description = "An active token of the concert's queue"),
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
    state.gate.precheck(&token, &user)?;
    let request = PaymentRequest {
        user: &user,
        reservation_id,
        idempotency_key: &key.0,
    };
    let fingerprint = request.fingerprint();

    // A retry of a completed payment gets its first response back without
    // the gate: the payment completed the token, so it is no longer active.
    if let Some(replay) =
        storage::idempotency::replay(&state.db, &user, &key.0, &fingerprint).await?
    {
        count(&state, "replayed");
        if replay.is_success() {
            complete_again(&state, &token, &user, reservation_id).await;
        }
        return replay_response(replay);
    }

    // The token must be the payer's, for the reservation's queue, but need
    // not be active any more: a seat held during the turn stays payable
    // until the hold runs out (the payment checks that), or the seat would
    // stay blocked for everyone while its holder could not pay. New holds
    // do need an active turn.
    let ticket = bound_ticket(&state, &token, &user, reservation_id).await?;

    let outcome = storage::retry_on_deadlock(|| {
        storage::payments::pay(&state.db, &request, refusal_response)
    })
    .await?;
    match outcome {
        PaymentOutcome::Paid(stored) => {
            count(&state, "paid");
            state.gate.complete(&ticket).await;
            Ok(stored_response(stored))
        }
        PaymentOutcome::Replayed(replay) => {
            count(&state, "replayed");
            if replay.is_success() {
                state.gate.complete(&ticket).await;
            }
            replay_response(replay)
        }
        PaymentOutcome::NotFound => {
            count(&state, "not_found");
            Err(ReservationError::ReservationNotFound)
        }
        PaymentOutcome::Refused { refusal, response } => {
            count(
                &state,
                match refusal {
                    PaymentRefusal::AlreadyConfirmed => "already_confirmed",
                    PaymentRefusal::HoldExpired => "hold_expired",
                    PaymentRefusal::InsufficientBalance => "insufficient_balance",
                },
            );
            Ok(stored_response(response))
        }
    }
}

/// The answer a refused payment gets, stored under its key.
fn refusal_response(refusal: PaymentRefusal) -> StoredResponse {
    let problem = ReservationError::from(refusal).problem();
    StoredResponse {
        status: problem.status,
        body: serde_json::to_string(&problem).unwrap_or_default(),
    }
}

/// A retry of a payment that succeeded completes its token once more: the
/// first request's completion runs after the commit and is lost if that
/// request was cut off in between (its client then retries) or Redis
/// failed just then. Completing a token that holds no slot changes nothing.
/// Best effort like every completion, so the replayed answer never waits on
/// or fails for it.
async fn complete_again(
    state: &AppState,
    token: &QueueTokenHeader,
    user: &UserId,
    reservation_id: ReservationId,
) {
    match bound_ticket(state, token, user, reservation_id).await {
        Ok(ticket) => state.gate.complete(&ticket).await,
        Err(err) => tracing::debug!(error = %err, "no token to complete for a replayed payment"),
    }
}

/// The token bound to the queue of the caller's reservation's concert.
async fn bound_ticket(
    state: &AppState,
    token: &QueueTokenHeader,
    user: &UserId,
    reservation_id: ReservationId,
) -> Result<QueueTicket, ReservationError> {
    let reservation = storage::reservations::find_owned(&state.db, reservation_id, user)
        .await?
        .ok_or(ReservationError::ReservationNotFound)?;
    let facts = state
        .catalog
        .facts(ScheduleId::new(reservation.schedule_id)?)
        .await?;
    state.gate.bind(token, user, &facts.queue_id)
}

fn count(state: &AppState, outcome: &str) {
    state.metrics.payments.with_label_values(&[outcome]).inc();
}
