//! Request extractors for the headers both services read: the caller's
//! identity, the queue token, the admin key and the idempotency key.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::ids::UserId;
use crate::problem::Problem;

pub const USER_ID_HEADER: &str = "X-User-Id";
pub const QUEUE_TOKEN_HEADER: &str = "X-Queue-Token";
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Why a request's credentials or headers were refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the X-User-Id header is missing")]
    UserIdMissing,
    #[error("the X-User-Id header is not a valid user id")]
    UserIdInvalid,
    #[error("the X-Queue-Token header is missing")]
    QueueTokenMissing,
    #[error("admin credentials are missing or wrong")]
    AdminUnauthorized,
    #[error("the Idempotency-Key header is missing")]
    IdempotencyKeyMissing,
    #[error("the Idempotency-Key header must be 1-128 visible ASCII characters")]
    IdempotencyKeyInvalid,
}

impl RequestError {
    pub fn problem(&self) -> Problem {
        let (status, code) = match self {
            Self::UserIdMissing => (StatusCode::UNAUTHORIZED, "USER_ID_MISSING"),
            Self::UserIdInvalid => (StatusCode::UNAUTHORIZED, "USER_ID_INVALID"),
            Self::QueueTokenMissing => (StatusCode::UNAUTHORIZED, "TOKEN_MISSING"),
            Self::AdminUnauthorized => (StatusCode::UNAUTHORIZED, "ADMIN_UNAUTHORIZED"),
            Self::IdempotencyKeyMissing => (StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_MISSING"),
            Self::IdempotencyKeyInvalid => (StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_INVALID"),
        };
        Problem::new(status, code, self.to_string())
    }
}

impl ResponseError for RequestError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.problem().to_response()
    }
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl FromRequest for UserId {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get(USER_ID_HEADER) {
            None => Err(RequestError::UserIdMissing),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|raw| UserId::parse(raw).ok())
                .ok_or(RequestError::UserIdInvalid),
        })
    }
}

/// The raw `X-Queue-Token` header; verification needs the queue and user,
/// so it happens where those are known.
#[derive(Debug, Clone)]
pub struct QueueTokenHeader(pub String);

impl FromRequest for QueueTokenHeader {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            header(req, QUEUE_TOKEN_HEADER)
                .filter(|raw| !raw.is_empty())
                .map(|raw| Self(raw.to_owned()))
                .ok_or(RequestError::QueueTokenMissing),
        )
    }
}

/// The bearer key that guards `/v1/admin/*`, shared as app data.
#[derive(Clone)]
pub struct AdminApiKey(pub SecretString);

/// Present in a handler's arguments means the caller proved the admin key.
#[derive(Debug)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req.app_data::<web::Data<AdminApiKey>>();
        let presented = header(req, "Authorization").and_then(|v| v.strip_prefix("Bearer "));
        ready(match (expected, presented) {
            (Some(expected), Some(presented))
                if bool::from(
                    presented
                        .as_bytes()
                        .ct_eq(expected.0.expose_secret().as_bytes()),
                ) =>
            {
                Ok(Admin)
            }
            _ => Err(RequestError::AdminUnauthorized),
        })
    }
}

/// The `Idempotency-Key` header, required on money-moving requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl FromRequest for IdempotencyKey {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get(IDEMPOTENCY_KEY_HEADER) {
            None => Err(RequestError::IdempotencyKeyMissing),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|raw| {
                    (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&raw.len())
                        && raw.bytes().all(|b| b.is_ascii_graphic())
                })
                .map(|raw| Self(raw.to_owned()))
                .ok_or(RequestError::IdempotencyKeyInvalid),
        })
    }
}
