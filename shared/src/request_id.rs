//! Request ids: one per request, in every log line written while it is
//! handled, in the `X-Request-Id` answer header and in every problem+json
//! body, so a user's error report, the gateway's access log and the
//! service's logs can be joined on one value.
//!
//! The gateway sets `X-Request-Id` (nginx: `$request_id`); a sane one is
//! kept, anything else is replaced by a fresh UUID and never echoed, so a
//! client cannot smuggle control characters or megabytes into the logs.
//!
//! [`assign`] is the outermost middleware of both services. It runs the
//! rest of the request inside a tracing span carrying `request_id` and
//! inside a task-local holding the id, which [`crate::problem::Problem`]
//! reads when it builds a body. A task-local rather than a middleware that
//! rewrites problem+json bodies afterwards: every error answer is built by
//! `Problem::to_response` inside the request's future (handlers, extractors,
//! the other middleware, and errors that reach [`assign`], which turns them
//! into answers itself), so the id is simply there when the body is
//! serialised, with no buffering and re-parsing of bodies on the hot
//! refusal paths (429 and 503 to a crowd).

use std::fmt;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The request and answer header.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The name of the span [`assign`] opens around each request; the JSON log
/// format lifts its `request_id` to the top of every line (see
/// [`crate::telemetry`]).
pub const REQUEST_SPAN: &str = "request";

/// Longest id accepted from the gateway.
const MAX_LEN: usize = 128;

/// One request's id: 1 to 128 of `A-Z a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

tokio::task_local! {
    static CURRENT: RequestId;
}

impl RequestId {
    /// The id as the gateway sent it, if it is sane.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let sane = (1..=MAX_LEN).contains(&value.len())
            && value
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        // Only ASCII passed the check, so this cannot fail.
        sane.then(|| std::str::from_utf8(value).ok())
            .flatten()
            .map(|id| Self(id.into()))
    }

    /// A fresh id (UUID v4).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string().into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the request being handled on this task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).expect("a request id is visible ASCII")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The outermost middleware of both services: takes or makes the request's
/// id, handles the request inside its span and task-local, turns an error
/// that reached this far into its answer (so the body is built while the
/// id is still known), and sets `X-Request-Id` on every answer. The id is
/// also in the request's extensions for handlers that want it.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| RequestId::parse(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    // ERROR only so that the span is enabled whatever RUST_LOG says (a span
    // a filter disables is missing from the lines inside it): with
    // RUST_LOG=warn the warnings, the lines that matter, keep their id.
    let span = tracing::error_span!(REQUEST_SPAN, request_id = %id);
    let outcome = CURRENT
        .scope(id.clone(), async move {
            match next.call(req).await {
                Ok(response) => Ok(response.map_into_boxed_body()),
                // Built here, while the id is known; actix would build it
                // later, outside the task-local.
                Err(err) => Err((err.error_response(), err)),
            }
        })
        .instrument(span)
        .await;
    match outcome {
        Ok(mut response) => {
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER, id.header_value());
            Ok(response)
        }
        Err((mut response, err)) => {
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER, id.header_value());
            // The request went down with the error (a cloned request
            // cannot be routed), so the answer travels as an error that
            // carries the response already built.
            Err(InternalError::from_response(err, response).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept() {
        for id in [
            "a",
            "0f6c1e2a9b3d4c5e8f7a6b5c4d3e2f1a",
            "req-42_a.b:c",
            &"x".repeat(128),
        ] {
            assert_eq!(RequestId::parse(id.as_bytes()).unwrap().as_str(), id);
        }
    }

    #[test]
    fn insane_ids_are_refused() {
        for id in [
            "",
            &"x".repeat(129),
            "two words",
            "line\nbreak",
            "tab\there",
            "nul\0",
            "quote\"",
            "brace{}",
            "slash/",
            "é",
        ] {
            assert!(RequestId::parse(id.as_bytes()).is_none(), "{id:?}");
        }
        assert!(RequestId::parse(&[0xff, 0x41]).is_none());
    }

    #[test]
    fn generated_ids_are_sane_and_distinct() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str().as_bytes()), Some(a));
    }
}

#[cfg(test)]
mod middleware_tests {
    use std::time::Duration;

    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};
    use serde_json::Value;

    use super::*;
    use crate::http::{RequestDeadline, enforce_request_deadline};

    async fn slow() -> HttpResponse {
        tokio::time::sleep(Duration::from_secs(5)).await;
        HttpResponse::Ok().finish()
    }

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn call(uri: &str, id: Option<&str>) -> (StatusCode, String, Option<Value>) {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(enforce_request_deadline))
                .wrap(from_fn(assign))
                .app_data(web::Data::new(RequestDeadline(Duration::from_millis(50))))
                .route("/ok", web::get().to(ok))
                .route("/slow", web::get().to(slow))
                .configure(crate::http::configure_error_handling),
        )
        .await;
        let mut request = test::TestRequest::get().uri(uri);
        if let Some(id) = id {
            request = request.insert_header((REQUEST_ID_HEADER, id));
        }
        // An error is answered the way actix's dispatcher answers it.
        let response = match test::try_call_service(&app, request.to_request()).await {
            Ok(response) => response.into_parts().1,
            Err(err) => err.error_response(),
        };
        let status = response.status();
        let header = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        (status, header, serde_json::from_slice(&body).ok())
    }

    #[actix_web::test]
    async fn a_success_carries_the_gateway_id() {
        let (status, header, _) = call("/ok", Some("abc-123")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header, "abc-123");
    }

    #[actix_web::test]
    async fn an_insane_id_is_replaced_not_echoed() {
        let (_, header, body) = call("/nowhere", Some("evil id")).await;
        assert_ne!(header, "evil id");
        assert!(RequestId::parse(header.as_bytes()).is_some());
        assert_eq!(body.unwrap()["request_id"], header.as_str());
    }

    #[actix_web::test]
    async fn a_problem_from_the_router_carries_the_id() {
        let (status, header, body) = call("/nowhere", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body.unwrap()["request_id"], header.as_str());
    }

    #[actix_web::test]
    async fn an_error_from_a_middleware_carries_the_id() {
        let (status, header, body) = call("/slow", Some("late-1")).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(header, "late-1");
        let body = body.unwrap();
        assert_eq!(body["code"], "REQUEST_TIMEOUT");
        assert_eq!(body["request_id"], "late-1");
    }
}
