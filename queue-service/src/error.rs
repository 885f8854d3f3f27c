//! Every way a queue request can fail, and the one mapping to problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use shared::extract::RequestError;
use shared::problem::{Problem, error_chain};
use shared::redis_pool::RedisFailure;
use shared::token::TokenError;

use crate::domain::InvalidQueueConfig;
use crate::pow::PowError;

/// The one dependency of the queue service, as outage logs name it.
pub const REDIS: &str = "redis";

/// How long a newcomer refused by a full line is asked to wait.
const QUEUE_FULL_RETRY_AFTER_MS: u64 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    InvalidConfig(#[from] InvalidQueueConfig),
    #[error("no queue with this id is configured")]
    QueueNotFound,
    #[error(
        "this queue is declared in the service's configuration; remove it there, or it comes back"
    )]
    QueueDeclared,
    #[error("the queue token is not valid for this queue")]
    TokenInvalid,
    #[error("the queue token belongs to another user")]
    TokenNotYours,
    #[error("the token has left the queue (evicted, expired, left or completed); issue a new one")]
    TokenExpired,
    #[error("too many requests: {what}; retry later")]
    RateLimited {
        what: &'static str,
        retry_after_ms: u64,
    },
    #[error("the line is full; retry later")]
    QueueFull,
    #[error("sold out: no seat is left and none is held")]
    SoldOut,
    #[error("the draw has not been made yet: it is made at the queue's opening")]
    DrawPending,
    #[error("limit must be between 1 and 10000, offset between 0 and 10^12")]
    InvalidDrawPage,
    #[error(
        "this queue asks a proof of work of {difficulty_bits} bits: get a challenge from \
         POST /v1/queues/{{queue_id}}/challenges, solve it, and send X-Pow-Challenge and \
         X-Pow-Solution"
    )]
    PowRequired { difficulty_bits: u8 },
    #[error(transparent)]
    PowInvalid(#[from] PowError),
    #[error("this proof-of-work challenge was already used; ask for a new one")]
    PowReused,
    #[error("queue storage is unavailable")]
    Unavailable(#[source] RedisFailure),
    #[error("unexpected failure")]
    Unexpected(#[source] RedisFailure),
}

impl From<TokenError> for QueueError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::WrongUser => Self::TokenNotYours,
            TokenError::Malformed | TokenError::BadSignature | TokenError::WrongQueue => {
                Self::TokenInvalid
            }
        }
    }
}

impl From<RedisFailure> for QueueError {
    fn from(err: RedisFailure) -> Self {
        match err {
            RedisFailure::Unavailable(_) => Self::Unavailable(err),
            _ => Self::Unexpected(err),
        }
    }
}

impl QueueError {
    fn problem(&self) -> Problem {
        let (status, code) = match self {
            Self::Request(err) => return err.problem(),
            Self::InvalidConfig(_) => (StatusCode::BAD_REQUEST, "INVALID_QUEUE_CONFIG"),
            Self::QueueNotFound => (StatusCode::NOT_FOUND, "QUEUE_NOT_FOUND"),
            Self::QueueDeclared => (StatusCode::CONFLICT, "QUEUE_DECLARED"),
            Self::TokenInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"),
            Self::TokenNotYours => (StatusCode::FORBIDDEN, "TOKEN_NOT_YOURS"),
            Self::TokenExpired => (StatusCode::GONE, "TOKEN_EXPIRED"),
            Self::RateLimited { retry_after_ms, .. } => {
                return Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    self.to_string(),
                )
                .with_retry_after_ms(*retry_after_ms);
            }
            Self::QueueFull => {
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "QUEUE_FULL",
                    self.to_string(),
                )
                .with_retry_after_ms(QUEUE_FULL_RETRY_AFTER_MS);
            }
            Self::SoldOut => (StatusCode::CONFLICT, "SOLD_OUT"),
            Self::DrawPending => (StatusCode::CONFLICT, "DRAW_PENDING"),
            Self::InvalidDrawPage => (StatusCode::BAD_REQUEST, "INVALID_DRAW_PAGE"),
            Self::PowRequired { .. } => (StatusCode::FORBIDDEN, "POW_REQUIRED"),
            Self::PowInvalid(PowError::Expired) => (StatusCode::FORBIDDEN, "POW_EXPIRED"),
            Self::PowInvalid(_) => (StatusCode::FORBIDDEN, "POW_INVALID"),
            Self::PowReused => (StatusCode::FORBIDDEN, "POW_REUSED"),
            Self::Unavailable(_) => return Problem::unavailable(),
            Self::Unexpected(_) => return Problem::internal(),
        };
        Problem::new(status, code, self.to_string())
    }
}

impl ResponseError for QueueError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // Logged once per outage, not per request (see shared::outage).
            Self::Unavailable(cause) => {
                tracing::debug!(error = %error_chain(cause), "queue storage unavailable");
                shared::outage::unavailable_response(REDIS)
            }
            Self::Unexpected(cause) => {
                tracing::error!(error = %error_chain(cause), "queue request failed");
                self.problem().to_response()
            }
            _ => self.problem().to_response(),
        }
    }
}
