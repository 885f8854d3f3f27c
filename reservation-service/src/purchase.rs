//! The two steps of a purchase, holding a seat and paying for it, as flows
//! over the stores and the queue gate. Handlers parse the request, call
//! one of these and shape the answer; tests drive them without HTTP.

use shared::extract::QueueTokenHeader;
use shared::ids::UserId;
use shared::token::QueueTicket;
use time::OffsetDateTime;

use crate::domain::booking::hold_expiry;
use crate::domain::idempotency::{Replay, StoredResponse};
use crate::domain::ids::{ReservationId, ScheduleId, SeatId};
use crate::error::ReservationError;
use crate::state::AppState;
use crate::storage;
use crate::storage::holds::{Hold, HoldOutcome, HoldRequest};
use crate::storage::payments::{PaymentOutcome, PaymentRefusal, PaymentRequest};

/// A hold that went through.
#[derive(Debug)]
pub enum Held {
    /// The seat was free and is now the caller's.
    New(Hold),
    /// The caller already held this seat (a retry): that hold, unchanged.
    Again(Hold),
}

/// Holds a seat for a caller whose queue turn is active now, and counts
/// the outcome.
pub async fn hold(
    state: &AppState,
    user: &UserId,
    token: &QueueTokenHeader,
    schedule_id: ScheduleId,
    seat_id: SeatId,
    now: OffsetDateTime,
) -> Result<Held, ReservationError> {
    state.gate.precheck(token, user)?;
    let facts = state.catalog.facts(schedule_id).await?;
    let ticket = state.gate.bind(token, user, &facts.queue_id)?;
    if !facts.window.is_open(now) {
        return Err(ReservationError::BookingClosed);
    }
    state.gate.admit(&ticket).await?;

    let request = HoldRequest {
        user,
        schedule_id,
        seat_id,
        price: facts.seat_price,
        expires_at: hold_expiry(now, state.hold_ttl),
    };
    let outcome = storage::holds::hold_seat(&state.db, &request).await?;
    let label = match &outcome {
        HoldOutcome::Held(_) => "held",
        HoldOutcome::AlreadyYours(_) => "already_yours",
        HoldOutcome::Taken => "taken",
        HoldOutcome::NoSuchSeat => "not_found",
    };
    state.metrics.holds.with_label_values(&[label]).inc();
    match outcome {
        HoldOutcome::Held(hold) => Ok(Held::New(hold)),
        HoldOutcome::AlreadyYours(hold) => Ok(Held::Again(hold)),
        HoldOutcome::Taken => Err(ReservationError::SeatUnavailable),
        HoldOutcome::NoSuchSeat => Err(ReservationError::SeatNotFound),
    }
}

/// What a payment request is answered with.
#[derive(Debug)]
pub enum PaymentAnswer {
    /// This request's own answer (a receipt, or a refusal stored under the
    /// key like a receipt).
    Stored(StoredResponse),
    /// The key was used before: its first answer, or a refusal to reuse it
    /// for another request.
    Replay(Replay),
}

/// Pays for the caller's held seat from their balance, once per
/// `Idempotency-Key`, and completes their queue turn.
pub async fn pay(
    state: &AppState,
    user: &UserId,
    token: &QueueTokenHeader,
    reservation_id: ReservationId,
    idempotency_key: &str,
) -> Result<PaymentAnswer, ReservationError> {
    state.gate.precheck(token, user)?;
    let request = PaymentRequest {
        user,
        reservation_id,
        idempotency_key,
    };
    let fingerprint = request.fingerprint();

    // A retry of a completed payment gets its first response back without
    // the gate: the payment completed the token, so it is no longer active.
    if let Some(replay) =
        storage::idempotency::replay(&state.db, user, idempotency_key, &fingerprint).await?
    {
        count(state, "replayed");
        if replay.is_success() {
            complete_again(state, token, user, reservation_id).await;
        }
        return Ok(PaymentAnswer::Replay(replay));
    }

    // The token must be the payer's, for the reservation's queue, but need
    // not be active any more: a seat held during the turn stays payable
    // until the hold runs out (the payment checks that), or the seat would
    // stay blocked for everyone while its holder could not pay. New holds
    // do need an active turn.
    let ticket = bound_ticket(state, token, user, reservation_id).await?;

    let outcome = storage::retry_on_deadlock(|| {
        storage::payments::pay(&state.db, &request, refusal_response)
    })
    .await?;
    match outcome {
        PaymentOutcome::Paid(stored) => {
            count(state, "paid");
            state.gate.complete(&ticket).await;
            Ok(PaymentAnswer::Stored(stored))
        }
        PaymentOutcome::Replayed(replay) => {
            count(state, "replayed");
            if replay.is_success() {
                state.gate.complete(&ticket).await;
            }
            Ok(PaymentAnswer::Replay(replay))
        }
        PaymentOutcome::NotFound => {
            count(state, "not_found");
            Err(ReservationError::ReservationNotFound)
        }
        PaymentOutcome::Refused { refusal, response } => {
            count(
                state,
                match refusal {
                    PaymentRefusal::AlreadyConfirmed => "already_confirmed",
                    PaymentRefusal::HoldExpired => "hold_expired",
                    PaymentRefusal::InsufficientBalance => "insufficient_balance",
                },
            );
            Ok(PaymentAnswer::Stored(response))
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
