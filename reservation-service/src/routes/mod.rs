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

use crate::domain::idempotency::{Replay, StoredResponse};
use crate::error::ReservationError;
use crate::openapi;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(shared::http::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(shared::metrics::metrics_endpoint))
        .route("/openapi.json", web::get().to(openapi::openapi_json))
        .route("/v1/admin/concerts", web::post().to(admin::create_concert))
        .route("/v1/concerts", web::get().to(catalog::list_concerts))
        .route(
            "/v1/concerts/{concert_id}/schedules",
            web::get().to(catalog::list_schedules),
        )
        // The one answer big enough to be worth compressing (a schedule
        // may have tens of thousands of seats); the rest are a few hundred
        // bytes, where an encoder costs more than it saves.
        .service(
            web::resource("/v1/schedules/{schedule_id}/seats")
                .wrap(Compress::default())
                .route(web::get().to(catalog::list_seats)),
        )
        .route("/v1/reservations", web::post().to(reservations::hold_seat))
        .service(
            web::resource("/v1/reservations/{reservation_id}")
                .route(web::get().to(reservations::get_reservation))
                .route(web::delete().to(reservations::release_reservation)),
        )
        .route(
            "/v1/reservations/{reservation_id}/payment",
            web::post().to(payments::pay),
        )
        .route("/v1/users/me/balance", web::get().to(balance::get_balance))
        .route(
            "/v1/users/me/balance/charges",
            web::post().to(balance::charge),
        );
}

/// A stored idempotent response, byte for byte as first sent.
fn stored_response(stored: StoredResponse) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .content_type(ContentType::json())
        .body(stored.body)
}

fn replay_response(replay: Replay) -> Result<HttpResponse, ReservationError> {
    match replay {
        Replay::Same(stored) => Ok(stored_response(stored)),
        Replay::KeyReused => Err(ReservationError::IdempotencyKeyReused),
    }
}
