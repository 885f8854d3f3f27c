//! HTTP plumbing both services mount the same way.

use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method, StatusCode, header};
use actix_web::middleware::{ErrorHandlers, Next};
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, web};

use crate::problem::{self, Problem};

/// How long an idle keep-alive connection stays open. Longer than the
/// slowest advised poll (30 s), so a polling client reuses its connection
/// instead of racing the server's close, and longer than the usual load
/// balancer idle timeout (60 s), so a balancer never sends a request down a
/// connection the service is just closing.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

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

/// Wrap around every app: problem+json for a known path asked with a
/// method it does not serve.
pub fn method_errors_as_problems<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().handler(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        problem::method_not_allowed,
    )
}

/// One path and the methods it serves; any other method answers 405
/// problem+json with an `Allow` header naming the ones it does serve.
pub struct Endpoint {
    resource: Resource,
    methods: Vec<Method>,
}

impl Endpoint {
    pub fn new(path: &str) -> Self {
        Self {
            resource: web::resource(path),
            methods: Vec::new(),
        }
    }

    pub fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::route().method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PUT, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, handler)
    }

    /// The resource, with the 405 answer for every other method.
    pub fn build(self) -> Resource {
        let allow = self
            .methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        self.resource
            .default_service(web::to(move || method_not_allowed(allow.clone())))
    }
}

async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("This resource answers {allow} only."),
    )
    .to_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The longest one request may take, body included. Shared as app data by
/// both services; see [`enforce_request_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Duration);

/// Ends every request that is not answered within its [`RequestDeadline`]
/// with 408 `REQUEST_TIMEOUT` and closes the connection. actix-web bounds
/// only the time to receive the headers; a client that sends headers and
/// then trickles (or never sends) its body would otherwise hold the
/// connection, and one of the worker's slots, forever. Dropping the
/// handler's future rolls back any transaction it had open, so nothing is
/// left half-written.
///
/// The answer is returned as an error: the request went down with the
/// dropped future, and actix turns a service error into its response.
pub async fn enforce_request_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let deadline = req
        .app_data::<web::Data<RequestDeadline>>()
        .map_or(Duration::from_secs(10), |d| d.0);
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(response) => response.map(ServiceResponse::map_into_boxed_body),
        Err(_) => Err(DeadlineExceeded.into()),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request was not completed in time")]
struct DeadlineExceeded;

impl actix_web::ResponseError for DeadlineExceeded {
    fn status_code(&self) -> StatusCode {
        StatusCode::REQUEST_TIMEOUT
    }

    /// Built per answer, like every problem, so that it carries the
    /// request's id; a crowd of stalled requests timing out together costs
    /// one small serialisation each.
    fn error_response(&self) -> HttpResponse {
        let mut response = Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request was not completed in time (a body sent too slowly?).",
        )
        .to_response();
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        response
    }
}

/// Liveness: the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// How long a browser may cache a preflight answer: a page that polls a
/// heartbeat should not pay a preflight per poll.
const CORS_MAX_AGE_SECONDS: usize = 3600;

/// Cross-origin access for the configured front-end origins. Requests from
/// other origins are still served (a browser simply withholds the answer
/// from the page); non-browser clients are unaffected.
pub fn cors(allowed_origins: &str) -> Cors {
    allowed_origins
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .block_on_origin_mismatch(false)
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-user-id"),
            header::HeaderName::from_static("x-queue-token"),
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-pow-challenge"),
            header::HeaderName::from_static("x-pow-solution"),
        ])
        .expose_headers([header::RETRY_AFTER, crate::request_id::REQUEST_ID_HEADER])
        .max_age(CORS_MAX_AGE_SECONDS)
}
