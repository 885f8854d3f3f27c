//! Types and rules of the sale, free of HTTP and SQL so they can be tested
//! on their own. Times are always passed in (`now`), never read here.

pub mod amount;
pub mod booking;
pub mod concert;
pub mod idempotency;
pub mod ids;
pub mod receipt;
pub mod reservation;
pub mod seat;

/// Input that breaks a documented rule; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
