//! What both services' OpenAPI documents state the same way: the security
//! schemes, and the answers every operation can give whatever it does
//! (malformed input, missing credentials, a request too slow or too large,
//! a store that is down). Handlers document their own domain answers; this
//! fills in the rest, so `/openapi.json` lists every status the service can
//! really produce and a generated client is never surprised. Every answer
//! also documents the `X-Request-Id` header (see [`crate::request_id`]).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, PartialSchema};

use crate::extract::USER_ID_HEADER;

/// Add with `modifiers(&shared::openapi::Common)` after the service's own.
pub struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut OpenApi) {
        add_security_schemes(openapi);
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry("Problem".to_owned())
            .or_insert_with(crate::problem::Problem::schema);
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation);
            }
        }
    }
}

fn add_security_schemes(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "admin_key",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "AUTH_MODE=jwt (the default): the user id is the token's sub",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "user_id_header",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            USER_ID_HEADER,
            "AUTH_MODE=trusted-header: the user id, set by an authenticating gateway",
        ))),
    );
}

/// A problem+json answer, with `Retry-After` when the status asks for one.
fn problem(status: &str, description: &str) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        crate::problem::PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if matches!(status, "429" | "503") {
        response = response.header("Retry-After", retry_after());
    }
    RefOr::T(response.build())
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some("Seconds to wait before trying again"))
        .build()
}

/// Every 401 an operation that identifies its caller may answer.
const IDENTITY_CODES: &str = "JWT_MISSING, JWT_MALFORMED, JWT_ALGORITHM_REFUSED, \
    JWT_KEY_UNKNOWN, JWT_SIGNATURE_INVALID, JWT_EXPIRED, JWT_NOT_YET_VALID, JWT_ISSUER_INVALID, \
    JWT_AUDIENCE_INVALID, JWT_CLAIMS_INVALID, JWT_SUBJECT_INVALID (AUTH_MODE=jwt); \
    USER_ID_MISSING, USER_ID_INVALID (AUTH_MODE=trusted-header)";

fn complete(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let identifies_caller = operation.security.as_ref().is_some_and(|requirements| {
        let json = serde_json::to_string(requirements).unwrap_or_default();
        json.contains("\"bearer\"") || json.contains("\"user_id_header\"")
    });
    let responses = &mut operation.responses.responses;
    let add = |responses: &mut std::collections::BTreeMap<String, RefOr<Response>>,
               status: &str,
               description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(status, description));
    };
    add(
        responses,
        "400",
        "MALFORMED_JSON, INVALID_PATH, INVALID_QUERY or HEADER_REPEATED (a header that may be sent once, sent twice)",
    );
    if identifies_caller {
        add(responses, "401", IDENTITY_CODES);
        if let Some(RefOr::T(unauthorized)) = responses.get_mut("401")
            && !unauthorized.description.contains("JWT_MISSING")
        {
            unauthorized.description = format!("{}; {IDENTITY_CODES}", unauthorized.description);
        }
    }
    add(
        responses,
        "408",
        "REQUEST_TIMEOUT: the request, body included, took longer than the deadline",
    );
    if has_body {
        add(responses, "413", "PAYLOAD_TOO_LARGE");
        add(
            responses,
            "415",
            "UNSUPPORTED_MEDIA_TYPE: the body must be application/json",
        );
    }
    add(
        responses,
        "503",
        "SERVICE_UNAVAILABLE: a store is unreachable; nothing was done",
    );
    // Answers the handlers documented themselves get the same header, and
    // every answer names its request.
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if matches!(status.as_str(), "429" | "503") {
            response
                .headers
                .entry("Retry-After".to_owned())
                .or_insert_with(retry_after);
        }
        response
            .headers
            .entry("X-Request-Id".to_owned())
            .or_insert_with(request_id);
    }
}

fn request_id() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[A-Za-z0-9._:-]+$")),
        )
        .description(Some(
            "The request's id (the gateway's X-Request-Id if sane, else a fresh UUID); \
             also in problem+json bodies as request_id and in every log line",
        ))
        .build()
}
