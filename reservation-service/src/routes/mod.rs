//! HTTP handlers: parse input into domain types, call storage, map the
//! outcome to a response. The rules live in `domain`, the SQL in `storage`.

pub mod admin;
pub mod balance;
pub mod catalog;
pub mod health;
pub mod payments;
pub mod reservations;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::middleware::Compress;
use actix_web::{HttpResponse, web};
use shared::http::Endpoint;

use crate::domain::idempotency::{Replay, StoredResponse};
use crate::error::ReservationError;
use crate::openapi;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(Endpoint::new("/healthz").get(shared::http::healthz).build())
        .service(Endpoint::new("/readyz").get(health::readyz).build())
        .service(
            Endpoint::new("/metrics")
                .get(shared::metrics::metrics_endpoint)
                .build(),
        )
        .service(
            Endpoint::new("/openapi.json")
                .get(openapi::openapi_json)
                .build(),
        )
        .service(
            Endpoint::new("/v1/admin/concerts")
                .post(admin::create_concert)
                .build(),
        )
        .service(
            Endpoint::new("/v1/concerts")
                .get(catalog::list_concerts)
                .build(),
        )
        .service(
            Endpoint::new("/v1/concerts/{concert_id}/schedules")
                .get(catalog::list_schedules)
                .build(),
        )
        // The one answer big enough to be worth compressing (a page of a
        // large hall's seats); the rest are a few hundred bytes, where an
        // encoder costs more than it saves.
        .service(
            Endpoint::new("/v1/schedules/{schedule_id}/seats")
                .get(catalog::list_seats)
                .build()
                .wrap(Compress::default()),
        )
        .service(
            Endpoint::new("/v1/reservations")
                .post(reservations::hold_seat)
                .build(),
        )
        .service(
            Endpoint::new("/v1/reservations/{reservation_id}")
                .get(reservations::get_reservation)
                .delete(reservations::release_reservation)
                .build(),
        )
        .service(
            Endpoint::new("/v1/reservations/{reservation_id}/payment")
                .post(payments::pay)
                .build(),
        )
        .service(
            Endpoint::new("/v1/users/me/balance")
                .get(balance::get_balance)
                .build(),
        )
        .service(
            Endpoint::new("/v1/users/me/balance/charges")
                .post(balance::charge)
                .build(),
        );
}

/// A stored idempotent response, byte for byte as first sent.
fn stored_response(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if status.is_success() {
        response.content_type(ContentType::json());
    } else {
        response.content_type(shared::problem::PROBLEM_CONTENT_TYPE);
    }
    response.body(stored.body)
}

fn replay_response(replay: Replay) -> Result<HttpResponse, ReservationError> {
    match replay {
        Replay::Same(stored) => Ok(stored_response(stored)),
        Replay::KeyReused => Err(ReservationError::IdempotencyKeyReused),
    }
}
