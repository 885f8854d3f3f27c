//! HTTP handlers: parse, call the store, shape the answer. No queue logic.

pub mod admin;
pub mod ops;
pub mod queues;
pub mod tokens;

use actix_web::web;

/// A resource whose other methods answer 405 problem+json.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    shared::problem::Problem::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This method is not allowed on this resource.",
    )
    .to_response()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/admin/queues/{queue_id}").route(web::put().to(admin::put_queue)))
        .service(resource("/v1/queues/{queue_id}").route(web::get().to(queues::get_queue)))
        .service(resource("/v1/queues/{queue_id}/tokens").route(web::post().to(tokens::issue)))
        .service(
            resource("/v1/queues/{queue_id}/heartbeat").route(web::post().to(tokens::heartbeat)),
        )
        .service(resource("/v1/queues/{queue_id}/tokens/me").route(web::delete().to(tokens::leave)))
        .service(resource("/healthz").route(web::get().to(shared::http::healthz)))
        .service(resource("/readyz").route(web::get().to(ops::readyz)))
        .service(resource("/metrics").route(web::get().to(ops::metrics)))
        .service(resource("/openapi.json").route(web::get().to(ops::openapi)));
}
