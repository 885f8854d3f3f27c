//! The one error type of the service and its one mapping to problem+json.
//!
//! Handlers return `Result<_, ReservationError>`; storage and Redis failures
//! convert with `?`. Client errors carry a message safe to show; server
//! errors answer with a generic body and log their cause chain here, once.

use std::error::Error as StdError;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use shared::extract::RequestError;
use shared::problem::Problem;
pub use shared::problem::error_chain;
use shared::redis_pool::RedisFailure;
use shared::token::TokenError;

use crate::domain::Invalid;
use crate::storage;

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The service's dependencies, as outage logs and metrics name them.
pub const MYSQL: &str = "mysql";
pub const REDIS: &str = "redis";

#[derive(Debug, thiserror::Error)]
pub enum ReservationError {
    /// A missing or malformed header (`X-User-Id`, `X-Queue-Token`, admin key,
    /// `Idempotency-Key`), refused by the shared extractors.
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidAmount(String),
    /// Malformed, badly signed, or issued for another concert's queue.
    #[error("the queue token is not valid for this sale")]
    TokenInvalid(#[source] TokenError),
    #[error("the queue token was issued to another user")]
    TokenNotYours,
    #[error("the queue token is not active: wait for your turn in the queue")]
    TokenNotActive,
    #[error("no concert has this id")]
    ConcertNotFound,
    #[error("no schedule has this id")]
    ScheduleNotFound,
    #[error("this schedule has no seat with this id")]
    SeatNotFound,
    #[error("you have no reservation with this id")]
    ReservationNotFound,
    #[error("the seat is already held or sold")]
    SeatUnavailable,
    #[error("the hold on this seat has expired or was released")]
    HoldExpired,
    #[error("the reservation is already confirmed")]
    ReservationAlreadyConfirmed,
    #[error("the balance does not cover the price")]
    InsufficientBalance,
    #[error("booking for this schedule is not open")]
    BookingClosed,
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// MySQL or Redis cannot be reached or is shedding load: fail closed.
    #[error("{dependency} is unavailable")]
    Unavailable {
        dependency: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("an unexpected failure occurred")]
    Unexpected(#[source] BoxError),
}

impl ReservationError {
    pub fn problem(&self) -> Problem {
        use ReservationError as E;
        let (status, code) = match self {
            E::Request(e) => return e.problem(),
            E::Unavailable { .. } => return Problem::unavailable(),
            E::Unexpected(_) => return Problem::internal(),
            E::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            E::InvalidAmount(_) => (StatusCode::BAD_REQUEST, "INVALID_AMOUNT"),
            E::TokenInvalid(_) => (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"),
            E::TokenNotYours => (StatusCode::FORBIDDEN, "TOKEN_NOT_YOURS"),
            E::TokenNotActive => (StatusCode::FORBIDDEN, "TOKEN_NOT_ACTIVE"),
            E::ConcertNotFound => (StatusCode::NOT_FOUND, "CONCERT_NOT_FOUND"),
            E::ScheduleNotFound => (StatusCode::NOT_FOUND, "SCHEDULE_NOT_FOUND"),
            E::SeatNotFound => (StatusCode::NOT_FOUND, "SEAT_NOT_FOUND"),
            E::ReservationNotFound => (StatusCode::NOT_FOUND, "RESERVATION_NOT_FOUND"),
            E::SeatUnavailable => (StatusCode::CONFLICT, "SEAT_UNAVAILABLE"),
            E::HoldExpired => (StatusCode::CONFLICT, "HOLD_EXPIRED"),
            E::ReservationAlreadyConfirmed => {
                (StatusCode::CONFLICT, "RESERVATION_ALREADY_CONFIRMED")
            }
            E::InsufficientBalance => (StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE"),
            E::BookingClosed => (StatusCode::UNPROCESSABLE_ENTITY, "BOOKING_CLOSED"),
            E::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
        };
        Problem::new(status, code, self.to_string())
    }

    pub fn unexpected(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(err.into())
    }

    pub fn mysql_unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            dependency: MYSQL,
            source: err.into(),
        }
    }
}

impl ResponseError for ReservationError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // Logged once per outage, not per request (see shared::outage).
            Self::Unavailable { dependency, .. } => {
                tracing::debug!(error.chain = %error_chain(self), "dependency unavailable");
                shared::outage::unavailable_response(dependency)
            }
            Self::Unexpected(_) => {
                tracing::error!(error.chain = %error_chain(self), "request failed");
                self.problem().to_response()
            }
            _ => self.problem().to_response(),
        }
    }
}

impl From<crate::storage::payments::PaymentRefusal> for ReservationError {
    fn from(refusal: crate::storage::payments::PaymentRefusal) -> Self {
        use crate::storage::payments::PaymentRefusal as R;
        match refusal {
            R::AlreadyConfirmed => Self::ReservationAlreadyConfirmed,
            R::HoldExpired => Self::HoldExpired,
            R::InsufficientBalance => Self::InsufficientBalance,
        }
    }
}

impl From<Invalid> for ReservationError {
    fn from(err: Invalid) -> Self {
        Self::InvalidRequest(err.0)
    }
}

impl From<TokenError> for ReservationError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::WrongUser => Self::TokenNotYours,
            TokenError::Malformed | TokenError::BadSignature | TokenError::WrongQueue => {
                Self::TokenInvalid(err)
            }
        }
    }
}

impl From<sqlx::Error> for ReservationError {
    fn from(err: sqlx::Error) -> Self {
        if storage::is_unavailable(&err) {
            Self::mysql_unavailable(err)
        } else {
            Self::Unexpected(Box::new(err))
        }
    }
}

impl From<RedisFailure> for ReservationError {
    fn from(err: RedisFailure) -> Self {
        match err {
            RedisFailure::Unavailable(_) => Self::Unavailable {
                dependency: REDIS,
                source: Box::new(err),
            },
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_map_to_the_documented_codes() {
        assert_eq!(
            ReservationError::from(TokenError::WrongUser).problem().code,
            "TOKEN_NOT_YOURS"
        );
        for err in [
            TokenError::Malformed,
            TokenError::BadSignature,
            TokenError::WrongQueue,
        ] {
            let problem = ReservationError::from(err).problem();
            assert_eq!((problem.status, &*problem.code), (401, "TOKEN_INVALID"));
        }
    }

    #[test]
    fn server_errors_never_leak_their_cause() {
        let err = ReservationError::unexpected("secret table name in message");
        let problem = err.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"));
        let err = ReservationError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(err.problem().code, "SERVICE_UNAVAILABLE");
    }

    #[test]
    fn the_chain_names_every_cause() {
        let err = ReservationError::from(sqlx::Error::PoolTimedOut);
        let chain = error_chain(&err);
        assert!(chain.starts_with("mysql is unavailable: "), "{chain}");
        assert!(chain.contains("pool timed out"), "{chain}");
    }
}
