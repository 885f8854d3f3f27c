//! Public listings: concerts, their schedules, a schedule's seats.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::problem::Problem;
use time::OffsetDateTime;

use crate::domain::ids::{ConcertId, ScheduleId};
use crate::domain::seat::{SeatStatus, StoredSeatStatus};
use crate::error::ReservationError;
use crate::state::AppState;
use crate::storage;
use crate::storage::seats::SeatPage;

/// Seats per page when the request names no size, and the largest page one
/// request may ask for: a whole 100,000-seat hall in one answer is
/// megabytes, and a crowd asking for it at once is an outage.
const DEFAULT_SEAT_PAGE: u32 = 1_000;
const MAX_SEAT_PAGE: u32 = 5_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConcertView {
    pub id: u64,
    pub title: String,
    pub queue_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub id: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub booking_opens_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub booking_closes_at: OffsetDateTime,
    /// Seats free now (counted at most about a second ago).
    pub available_seats: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeatView {
    pub id: u64,
    pub number: u32,
    pub price: i64,
    pub status: SeatStatus,
}

/// Default and largest page of `GET /v1/concerts`.
const DEFAULT_CONCERT_PAGE: u32 = 100;
const MAX_CONCERT_PAGE: u32 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConcertsQuery {
    /// Page size, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Keyset paging: only concerts whose id is greater than this (the last
    /// id of the previous page).
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchedulesQuery {
    /// `true`: only schedules bookable now that have seats left.
    pub available: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeatsQuery {
    /// Only seats with this status (an expired hold counts as available).
    pub status: Option<SeatStatus>,
    /// Page size, 1-5,000 (default 1,000); page on with `after`.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// Keyset paging: only seats whose id is greater than this.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// A keyset cursor: an id, so not negative.
fn cursor(after: Option<i64>) -> Result<u64, ReservationError> {
    u64::try_from(after.unwrap_or(0))
        .map_err(|_| ReservationError::InvalidRequest("after must not be negative".to_owned()))
}

#[utoipa::path(
    get,
    path = "/v1/concerts",
    tag = "catalog",
    params(ConcertsQuery),
    responses(
        (status = 200, body = [ConcertView],
         description = "One page in id order; a page shorter than `limit` is the last"),
        (status = 400, description = "INVALID_REQUEST or INVALID_QUERY", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_concerts(
    query: web::Query<ConcertsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let limit = query.limit.unwrap_or(DEFAULT_CONCERT_PAGE);
    if !(1..=MAX_CONCERT_PAGE).contains(&limit) {
        return Err(ReservationError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_CONCERT_PAGE}"
        )));
    }
    let concerts: Vec<ConcertView> =
        storage::catalog::list_concerts(&state.db, cursor(query.after)?, limit)
            .await?
            .into_iter()
            .map(|row| ConcertView {
                id: row.id,
                title: row.title,
                queue_id: row.queue_id,
            })
            .collect();
    Ok(HttpResponse::Ok().json(concerts))
}

#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/schedules",
    tag = "catalog",
    params(("concert_id" = u64, Path, minimum = 1, description = "Concert id"), SchedulesQuery),
    responses(
        (status = 200, body = [ScheduleView]),
        (status = 404, description = "CONCERT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(concert.id = %path))]
pub async fn list_schedules(
    path: web::Path<u64>,
    query: web::Query<SchedulesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let concert_id = ConcertId::new(path.into_inner())?;
    if !storage::catalog::concert_exists(&state.db, concert_id).await? {
        return Err(ReservationError::ConcertNotFound);
    }
    let only_available = query.available.unwrap_or(false);
    let now = OffsetDateTime::now_utc();
    let mut views = Vec::new();
    for row in storage::catalog::schedules_of(&state.db, concert_id).await? {
        let window = crate::domain::booking::BookingWindow {
            opens_at: row.booking_opens_at,
            closes_at: row.booking_closes_at,
        };
        if only_available && !window.is_open(now) {
            continue;
        }
        let available_seats = state
            .catalog
            .available_seats(ScheduleId::new(row.id)?)
            .await?;
        if only_available && available_seats == 0 {
            continue;
        }
        views.push(ScheduleView {
            id: row.id,
            starts_at: row.starts_at,
            booking_opens_at: row.booking_opens_at,
            booking_closes_at: row.booking_closes_at,
            available_seats,
        });
    }
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(
    get,
    path = "/v1/schedules/{schedule_id}/seats",
    tag = "catalog",
    params(("schedule_id" = u64, Path, minimum = 1, description = "Schedule id"), SeatsQuery),
    responses(
        (status = 200, body = [SeatView]),
        (status = 400, description = "INVALID_REQUEST", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "SCHEDULE_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(schedule.id = %path))]
pub async fn list_seats(
    path: web::Path<u64>,
    query: web::Query<SeatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let schedule_id = ScheduleId::new(path.into_inner())?;
    let limit = query.limit.unwrap_or(DEFAULT_SEAT_PAGE);
    if !(1..=MAX_SEAT_PAGE).contains(&limit) {
        return Err(ReservationError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_SEAT_PAGE}"
        )));
    }
    // 404 for an unknown schedule rather than an empty list.
    let facts = state.catalog.facts(schedule_id).await?;
    let Some(seat_ids) = facts.seat_ids.clone() else {
        return Ok(HttpResponse::Ok().json(Vec::<SeatView>::new()));
    };
    let page = SeatPage {
        seat_ids,
        status: query.status,
        after: query.after.map(|_| cursor(query.after)).transpose()?,
        limit,
    };
    let seats = storage::seats::list(&state.db, schedule_id, page)
        .await?
        .into_iter()
        .map(|row| {
            let stored = StoredSeatStatus::from_db(&row.status).ok_or_else(|| {
                ReservationError::unexpected(format!("unknown seat status {:?}", row.status))
            })?;
            Ok(SeatView {
                id: row.id,
                number: row.seat_number,
                price: row.price,
                status: SeatStatus::derive(stored, row.hold_expires_at, row.db_now),
            })
        })
        .collect::<Result<Vec<_>, ReservationError>>()?;
    Ok(HttpResponse::Ok().json(seats))
}
