//! The OpenAPI document served at `/openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "reservation-service",
        description = "Concerts, seats, holds and payments behind the queue gate. \
                       Errors are application/problem+json with a stable `code`."
    ),
    paths(
        routes::health::readyz,
        routes::admin::create_concert,
        routes::catalog::list_concerts,
        routes::catalog::list_schedules,
        routes::catalog::list_seats,
        routes::reservations::hold_seat,
        routes::reservations::get_reservation,
        routes::reservations::release_reservation,
        routes::payments::pay,
        routes::balance::get_balance,
        routes::balance::charge,
    ),
    components(schemas(shared::problem::Problem)),
    modifiers(&AdminKey)
)]
pub struct ApiDoc;

struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned())
});

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_endpoint_and_the_problem_schema() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(doc["paths"].as_object().unwrap().len(), 10);
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["securitySchemes"]["admin_key"].is_object());
        let hold = &doc["paths"]["/v1/reservations"]["post"]["responses"];
        for status in ["201", "401", "403", "404", "409", "422", "503"] {
            assert!(
                hold[status].is_object(),
                "hold response {status} undocumented"
            );
        }
    }
}
