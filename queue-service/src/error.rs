//! Every way a queue request can fail, and the one mapping to problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use shared::extract::RequestError;
use shared::problem::Problem;
use shared::redis_pool::RedisFailure;
use shared::token::TokenError;

use crate::domain::InvalidQueueConfig;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    InvalidConfig(#[from] InvalidQueueConfig),
    #[error("no queue with this id is configured")]
    QueueNotFound,
    #[error("the queue token is not valid for this queue")]
    TokenInvalid,
    #[error("the queue token belongs to another user")]
    TokenNotYours,
    #[error("the token has left the queue (evicted, expired, left or completed); issue a new one")]
    TokenExpired,
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
            Self::TokenInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"),
            Self::TokenNotYours => (StatusCode::FORBIDDEN, "TOKEN_NOT_YOURS"),
            Self::TokenExpired => (StatusCode::GONE, "TOKEN_EXPIRED"),
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
            Self::Unavailable(cause) => {
                tracing::warn!(error = %error_chain(cause), "queue storage unavailable");
            }
            Self::Unexpected(cause) => {
                tracing::error!(error = %error_chain(cause), "queue request failed");
            }
            _ => {}
        }
        self.problem().to_response()
    }
}

/// `outer: inner: root` for one log line.
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
