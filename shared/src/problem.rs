//! `application/problem+json` (RFC 9457) bodies with a stable `code`.
//!
//! Every error either service returns goes through [`Problem`]: the services'
//! own error enums map their cases to one, and the extractor error handlers
//! below turn actix-web's own rejections (bad JSON, bad path or query) into
//! one, so clients only ever parse one error shape.

use std::borrow::Cow;

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::request_id::RequestId;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An error body: `{"type", "title", "status", "detail", "code", "request_id"}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; derived from `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: Cow<'static, str>,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request, safe to show to the user.
    pub detail: String,
    /// Stable upper-snake identifier for programs, e.g. `SEAT_UNAVAILABLE`.
    pub code: Cow<'static, str>,
    /// The request's id, as in the `X-Request-Id` answer header: quote it
    /// when reporting the problem. Filled in by [`Problem::to_response`]
    /// from the request being handled (see [`crate::request_id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<RequestId>,
    /// Sent as the `Retry-After` header, not in the body.
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after_seconds: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:concert-queue:problem:{}", code.to_ascii_lowercase()),
            title: Cow::Owned(title_from_code(code)),
            status: status.as_u16(),
            detail: detail.into(),
            code: Cow::Borrowed(code),
            request_id: None,
            retry_after_seconds: None,
        }
    }

    /// Tells the client when to try again (`Retry-After`, whole seconds,
    /// rounded up and at least 1).
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_seconds = Some(ms.div_ceil(1000).max(1));
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The body for a failure the caller cannot act on; details go to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "The request could not be completed.",
        )
    }

    /// The body for a store that cannot be reached (fail closed).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "A storage dependency is unavailable; retry shortly.",
        )
    }

    pub fn to_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType(
            PROBLEM_CONTENT_TYPE
                .parse()
                .expect("problem content type is a valid mime"),
        ));
        match self.retry_after_seconds {
            Some(seconds) => {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            None if self.status == StatusCode::SERVICE_UNAVAILABLE.as_u16() => {
                response.insert_header(("Retry-After", "1"));
            }
            None => {}
        }
        match (&self.request_id, RequestId::current()) {
            (None, Some(id)) => response.json(Self {
                request_id: Some(id),
                ..self.clone()
            }),
            _ => response.json(self),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// `outer: cause: root cause`, for one log line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// `SEAT_UNAVAILABLE` → `Seat unavailable`; `JWT_MISSING` → `JWT missing`.
fn title_from_code(code: &str) -> String {
    const ACRONYMS: [&str; 4] = ["JWT", "JSON", "POW", "ID"];
    let mut title = code
        .split('_')
        .map(|word| {
            if ACRONYMS.contains(&word) {
                word.to_owned()
            } else {
                word.to_ascii_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    title
}

/// Turns actix-web's JSON body rejections into problems.
pub fn json_error_handler(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let problem = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "The request body is too large.",
            )
        }
        JsonPayloadError::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be application/json.",
        ),
        JsonPayloadError::Deserialize(e) => Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            format!("The request body is not valid: {e}"),
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            "The request body could not be read as JSON.",
        ),
    };
    problem.into()
}

/// Turns path parameters that do not parse (e.g. a non-numeric id) into 400.
pub fn path_error_handler(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let PathError::Deserialize(e) = err else {
        return Problem::new(StatusCode::BAD_REQUEST, "INVALID_PATH", "Invalid path.").into();
    };
    Problem::new(
        StatusCode::BAD_REQUEST,
        "INVALID_PATH",
        format!("A path parameter is invalid: {e}"),
    )
    .into()
}

pub fn query_error_handler(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
        format!("A query parameter is invalid: {err}"),
    )
    .into()
}

/// The fallback route: unknown paths answer 404 problem+json.
/// actix answers a known path with an unrouted method by a bare 405;
/// this turns it into problem+json like every other refusal.
pub fn method_not_allowed<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Our own endpoints answer 405 as a problem with `Allow` already.
    let already_a_problem = response
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if already_a_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let (request, _) = response.into_parts();
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This resource does not answer that method.",
    )
    .to_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, problem).map_into_right_body(),
    ))
}

pub async fn not_found() -> HttpResponse {
    not_found_response()
}

pub fn not_found_response() -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "No such resource or method.",
    )
    .to_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_reads_like_a_sentence() {
        assert_eq!(title_from_code("SEAT_UNAVAILABLE"), "Seat unavailable");
        assert_eq!(title_from_code("JWT_MISSING"), "JWT missing");
        assert_eq!(title_from_code("MALFORMED_JSON"), "Malformed JSON");
    }

    #[test]
    fn serialises_the_documented_fields() {
        let body = serde_json::to_value(Problem::new(
            StatusCode::CONFLICT,
            "SEAT_UNAVAILABLE",
            "taken",
        ))
        .unwrap();
        for field in ["type", "title", "status", "detail", "code"] {
            assert!(body.get(field).is_some(), "missing {field}");
        }
        assert_eq!(body["status"], 409);
        assert_eq!(body["code"], "SEAT_UNAVAILABLE");
    }
}
