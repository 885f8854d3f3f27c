//! HTTP handlers: parse, call the store, shape the answer. No queue logic.

pub mod admin;
pub mod dev;
pub mod ops;
pub mod queues;
pub mod tokens;

use actix_web::web;
use shared::http::Endpoint;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        Endpoint::new("/v1/admin/queues")
            .get(admin::list_queues)
            .build(),
    )
    .service(
        Endpoint::new("/v1/admin/queues/{queue_id}")
            .put(admin::put_queue)
            .delete(admin::delete_queue)
            .build(),
    )
    .service(
        Endpoint::new("/v1/admin/queues/{queue_id}/draw")
            .get(queues::get_draw)
            .build(),
    )
    .service(
        Endpoint::new("/v1/queues/{queue_id}")
            .get(queues::get_queue)
            .build(),
    )
    .service(
        Endpoint::new("/v1/queues/{queue_id}/tokens")
            .post(tokens::issue)
            .build(),
    )
    .service(
        Endpoint::new("/v1/queues/{queue_id}/challenges")
            .post(tokens::challenge)
            .build(),
    )
    .service(
        Endpoint::new("/v1/queues/{queue_id}/heartbeat")
            .post(tokens::heartbeat)
            .build(),
    )
    .service(
        Endpoint::new("/v1/queues/{queue_id}/tokens/me")
            .delete(tokens::leave)
            .build(),
    )
    .service(Endpoint::new("/healthz").get(shared::http::healthz).build())
    .service(Endpoint::new("/readyz").get(ops::readyz).build())
    .service(Endpoint::new("/metrics").get(ops::metrics).build())
    .service(Endpoint::new("/openapi.json").get(ops::openapi).build());
}

/// `POST /v1/dev/sign-in`, for apps that enable the development sign-in.
pub fn configure_dev_sign_in(cfg: &mut web::ServiceConfig) {
    cfg.service(Endpoint::new("/v1/dev/sign-in").post(dev::sign_in).build());
}
