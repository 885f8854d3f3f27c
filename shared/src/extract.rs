//! Request extractors for the headers both services read: the queue token,
//! the admin key and the idempotency key (the caller's identity is in
//! [`crate::auth`]). A header that may carry one value and arrives twice is
//! refused: which copy a proxy or a framework would pick differs, and an
//! attacker can exploit the difference.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::Problem;

pub const USER_ID_HEADER: &str = "X-User-Id";
pub const QUEUE_TOKEN_HEADER: &str = "X-Queue-Token";
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Why a request's credentials or headers were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the {name} header must be sent once, not several times")]
    HeaderRepeated { name: &'static str },
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
            Self::HeaderRepeated { .. } => (StatusCode::BAD_REQUEST, "HEADER_REPEATED"),
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

/// The one value of a header that may appear once: `Ok(None)` when absent
/// (or not visible ASCII), 400 `HEADER_REPEATED` when sent more than once.
pub fn single_header<'r>(
    req: &'r HttpRequest,
    name: &'static str,
) -> Result<Option<&'r str>, RequestError> {
    let mut values = req.headers().get_all(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(RequestError::HeaderRepeated { name });
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

/// The raw `X-Queue-Token` header; verification needs the queue and user,
/// so it happens where those are known.
#[derive(Debug, Clone)]
pub struct QueueTokenHeader(pub String);

impl FromRequest for QueueTokenHeader {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(single_header(req, QUEUE_TOKEN_HEADER).and_then(|raw| {
            raw.filter(|raw| !raw.is_empty())
                .map(|raw| Self(raw.to_owned()))
                .ok_or(RequestError::QueueTokenMissing)
        }))
    }
}

/// The bearer key that guards `/v1/admin/*`, shared as app data.
#[derive(Clone)]
pub struct AdminApiKey(pub SecretString);

impl AdminApiKey {
    /// Constant time whatever the presented key's length: both sides are
    /// hashed first, so neither the content nor the length of the real key
    /// shows in the comparison's timing.
    pub fn matches(&self, presented: &str) -> bool {
        let expected = Sha256::digest(self.0.expose_secret().as_bytes());
        let presented = Sha256::digest(presented.as_bytes());
        expected.ct_eq(&presented).into()
    }
}

/// Present in a handler's arguments means the caller proved the admin key.
#[derive(Debug)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = RequestError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req.app_data::<web::Data<AdminApiKey>>();
        let presented = match single_header(req, "Authorization") {
            Ok(value) => value.and_then(|v| v.strip_prefix("Bearer ")),
            Err(err) => return ready(Err(err)),
        };
        ready(match (expected, presented) {
            (Some(expected), Some(presented)) if expected.matches(presented) => Ok(Admin),
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
        ready(parse_idempotency_key(req))
    }
}

fn parse_idempotency_key(req: &HttpRequest) -> Result<IdempotencyKey, RequestError> {
    if !req.headers().contains_key(IDEMPOTENCY_KEY_HEADER) {
        return Err(RequestError::IdempotencyKeyMissing);
    }
    single_header(req, IDEMPOTENCY_KEY_HEADER)?
        .filter(|raw| {
            (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&raw.len())
                && raw.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(|raw| IdempotencyKey(raw.to_owned()))
        .ok_or(RequestError::IdempotencyKeyInvalid)
}
