//! The OpenAPI document served at `/openapi.json`.

use actix_web::{HttpResponse, web};
use shared::openapi::Common;
use utoipa::OpenApi;

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
    modifiers(&Common)
)]
pub struct ApiDoc;

/// The document as this deployment serves it: the largest top-up is a
/// setting, so its bound is written in at start-up.
pub fn document(max_charge_amount: i64) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(amount) = doc.pointer_mut("/components/schemas/ChargeBody/properties/amount") {
        amount["maximum"] = serde_json::json!(max_charge_amount);
    }
    doc.to_string()
}

/// The served document, built once at start-up.
#[derive(Clone)]
pub struct Document(pub std::sync::Arc<str>);

pub async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_endpoint_and_the_problem_schema() {
        let doc: serde_json::Value = serde_json::from_str(&document(500)).unwrap();
        assert_eq!(
            doc.pointer("/components/schemas/ChargeBody/properties/amount/maximum"),
            Some(&serde_json::json!(500))
        );
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
