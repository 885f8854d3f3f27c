//! Holding a seat, reading and releasing one's reservation.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::extract::QueueTokenHeader;
use shared::ids::UserId;
use shared::problem::Problem;
use time::OffsetDateTime;

use crate::domain::ids::{ReservationId, ScheduleId, SeatId};
use crate::domain::reservation::ReservationStatus;
use crate::error::ReservationError;
use crate::purchase::{self, Held};
use crate::state::AppState;
use crate::storage;
use crate::storage::holds::Hold;
use crate::storage::reservations::ReleaseOutcome;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HoldSeatRequest {
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1)]
    pub schedule_id: u64,
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1)]
    pub seat_id: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    pub reservation_id: u64,
    pub seat_id: u64,
    /// Always `held`.
    pub status: ReservationStatus,
    pub price: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub hold_expires_at: OffsetDateTime,
}

impl From<Hold> for HoldView {
    fn from(hold: Hold) -> Self {
        Self {
            reservation_id: hold.reservation_id,
            seat_id: hold.seat_id,
            status: ReservationStatus::Held,
            price: hold.price,
            hold_expires_at: hold.hold_expires_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReservationView {
    pub reservation_id: u64,
    pub schedule_id: u64,
    pub seat_id: u64,
    pub status: ReservationStatus,
    pub price: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub hold_expires_at: OffsetDateTime,
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    tag = "reservations",
    security(("bearer" = []), ("user_id_header" = [])),
    request_body = HoldSeatRequest,
    params(
        ("X-Queue-Token" = String, Header, min_length = 1, max_length = 256, description = "An active token of the concert's queue"),
    ),
    responses(
        (status = 201, body = HoldView),
        (status = 200, body = HoldView,
         description = "The caller already holds this seat (a retry): that hold, unchanged"),
        (status = 400, description = "INVALID_REQUEST or MALFORMED_JSON", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "USER_ID_MISSING, TOKEN_MISSING or TOKEN_INVALID \
         (malformed, badly signed, or issued for another concert's queue)", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "TOKEN_NOT_YOURS or TOKEN_NOT_ACTIVE", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "SCHEDULE_NOT_FOUND or SEAT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "SEAT_UNAVAILABLE", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "BOOKING_CLOSED", body = Problem,
         content_type = "application/problem+json"),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(schedule.id, seat.id))]
pub async fn hold_seat(
    user: UserId,
    token: QueueTokenHeader,
    state: web::Data<AppState>,
    body: web::Json<HoldSeatRequest>,
) -> Result<HttpResponse, ReservationError> {
    let schedule_id = ScheduleId::new(body.schedule_id)?;
    let seat_id = SeatId::new(body.seat_id)?;
    tracing::Span::current()
        .record("schedule.id", schedule_id.get())
        .record("seat.id", seat_id.get());
    let held = purchase::hold(
        &state,
        &user,
        &token,
        schedule_id,
        seat_id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(match held {
        Held::New(hold) => HttpResponse::Created().json(HoldView::from(hold)),
        Held::Again(hold) => HttpResponse::Ok().json(HoldView::from(hold)),
    })
}

#[utoipa::path(
    get,
    path = "/v1/reservations/{reservation_id}",
    tag = "reservations",
    security(("bearer" = []), ("user_id_header" = [])),
    params(
        ("reservation_id" = u64, Path, minimum = 1, description = "Reservation id"),
    ),
    responses(
        (status = 200, body = ReservationView),
        (status = 404, description = "RESERVATION_NOT_FOUND (also for anyone else's)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(reservation.id = %path))]
pub async fn get_reservation(
    path: web::Path<u64>,
    user: UserId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let id = ReservationId::new(path.into_inner())?;
    let row = storage::reservations::find_owned(&state.db, id, &user)
        .await?
        .ok_or(ReservationError::ReservationNotFound)?;
    let stored = storage::reservations::parse_status(&row.status)?;
    Ok(HttpResponse::Ok().json(ReservationView {
        reservation_id: row.id,
        schedule_id: row.schedule_id,
        seat_id: row.seat_id,
        status: ReservationStatus::derive(stored, row.hold_expires_at, row.db_now),
        price: row.price,
        hold_expires_at: row.hold_expires_at,
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/reservations/{reservation_id}",
    tag = "reservations",
    security(("bearer" = []), ("user_id_header" = [])),
    params(
        ("reservation_id" = u64, Path, minimum = 1, description = "Reservation id"),
    ),
    responses(
        (status = 204, description = "Released (or already released or expired)"),
        (status = 404, description = "RESERVATION_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "RESERVATION_ALREADY_CONFIRMED", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(reservation.id = %path))]
pub async fn release_reservation(
    path: web::Path<u64>,
    user: UserId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let id = ReservationId::new(path.into_inner())?;
    match storage::reservations::release(&state.db, id, &user).await? {
        ReleaseOutcome::Released | ReleaseOutcome::AlreadyOver => {
            Ok(HttpResponse::NoContent().finish())
        }
        ReleaseOutcome::Confirmed => Err(ReservationError::ReservationAlreadyConfirmed),
        ReleaseOutcome::NotFound => Err(ReservationError::ReservationNotFound),
    }
}
