//! Admin: create a concert with its schedules and seats.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::extract::Admin;
use shared::problem::Problem;
use time::OffsetDateTime;

use super::catalog::ScheduleView;
use crate::domain::concert::{NewConcert, ScheduleInput};
use crate::domain::ids::ScheduleId;
use crate::error::ReservationError;
use crate::state::AppState;
use crate::storage;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateConcertRequest {
    /// 1-200 characters (leading and trailing white space is dropped), at
    /// least one of them visible, none a control character. The pattern says
    /// the same as `NewConcert::parse`, for a client that checks first.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// The queue whose active tokens may book this concert.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub queue_id: String,
    /// 1-50 schedules.
    #[schema(min_items = 1, max_items = 50)]
    pub schedules: Vec<CreateScheduleRequest>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateScheduleRequest {
    /// RFC 3339; leap seconds (`:60`) are refused.
    #[serde(with = "shared::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "shared::rfc3339")]
    pub booking_opens_at: OffsetDateTime,
    /// Must be after `booking_opens_at`.
    #[serde(with = "shared::rfc3339")]
    pub booking_closes_at: OffsetDateTime,
    /// 1-100,000 seats, numbered from 1.
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1, maximum = 100_000)]
    pub seat_count: i64,
    /// Price of every seat, 1-1,000,000,000 in the smallest currency unit.
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub price: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConcertCreated {
    pub id: u64,
    pub title: String,
    pub queue_id: String,
    pub schedules: Vec<ScheduleView>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/concerts",
    tag = "admin",
    request_body = CreateConcertRequest,
    security(("admin_key" = [])),
    responses(
        (status = 201, body = ConcertCreated),
        (status = 400, description = "INVALID_REQUEST or MALFORMED_JSON", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "ADMIN_UNAUTHORIZED", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_concert(
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<CreateConcertRequest>,
) -> Result<HttpResponse, ReservationError> {
    let body = body.into_inner();
    let inputs = body
        .schedules
        .into_iter()
        .map(|s| ScheduleInput {
            starts_at: s.starts_at,
            booking_opens_at: s.booking_opens_at,
            booking_closes_at: s.booking_closes_at,
            seat_count: s.seat_count,
            price: s.price,
        })
        .collect();
    let concert = NewConcert::parse(&body.title, &body.queue_id, inputs)?;

    let (concert_id, created) = storage::catalog::create_concert(&state.db, &concert).await?;
    tracing::info!(
        concert.id = concert_id,
        schedules = created.len(),
        "concert created"
    );

    let mut schedules = Vec::with_capacity(created.len());
    for (schedule, input) in created.iter().zip(&concert.schedules) {
        let available_seats = i64::from(schedule.seat_count);
        state
            .catalog
            .remember_available(ScheduleId::new(schedule.id)?, available_seats)
            .await;
        schedules.push(ScheduleView {
            id: schedule.id,
            starts_at: input.starts_at,
            booking_opens_at: input.window.opens_at,
            booking_closes_at: input.window.closes_at,
            available_seats,
        });
    }
    Ok(HttpResponse::Created().json(ConcertCreated {
        id: concert_id,
        title: concert.title,
        queue_id: concert.queue_id.to_string(),
        schedules,
    }))
}
