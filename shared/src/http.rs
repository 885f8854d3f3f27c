//! HTTP plumbing both services mount the same way.

use actix_web::{HttpResponse, web};

use crate::problem;

/// Largest JSON body either service accepts; a concert with its schedules
/// is the biggest legitimate one.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

/// Extractor settings that turn every input rejection into problem+json,
/// and the problem+json 404 for unknown routes.
pub fn configure_error_handling(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT_BYTES)
            .error_handler(problem::json_error_handler),
    )
    .app_data(web::PathConfig::default().error_handler(problem::path_error_handler))
    .app_data(web::QueryConfig::default().error_handler(problem::query_error_handler))
    .default_service(web::to(problem::not_found));
}

/// Liveness: the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
