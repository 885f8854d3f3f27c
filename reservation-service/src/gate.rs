//! The queue gate: only callers whose queue token is active in the
//! concert's queue may hold or pay.
//!
//! Checks run cheapest first. The token's signature and owner need no IO,
//! so a forged, tampered or borrowed token is refused before any store is
//! touched ([`Gate::precheck`]). Binding it to the concert's queue needs the
//! schedule's facts, which come from an in-memory cache ([`Gate::bind`]).
//! Only then does one Redis round trip check that the token holds an active
//! slot and record the call as a heartbeat ([`Gate::admit`]).

use shared::extract::QueueTokenHeader;
use shared::ids::{QueueId, UserId};
use shared::queue::{self, Admission};
use shared::redis_pool::RedisPool;
use shared::token::{QueueTicket, TokenCodec, TokenError};

use crate::error::{ReservationError, error_chain};

#[derive(Clone)]
pub struct Gate {
    codec: TokenCodec,
    redis: RedisPool,
}

impl Gate {
    pub fn new(codec: TokenCodec, redis: RedisPool) -> Self {
        Self { codec, redis }
    }

    /// Signature and owner. `TOKEN_INVALID` (401) for a malformed or badly
    /// signed token, `TOKEN_NOT_YOURS` (403) for someone else's.
    pub fn precheck(
        &self,
        token: &QueueTokenHeader,
        user: &UserId,
    ) -> Result<(), ReservationError> {
        let ticket = self.codec.decode(&token.0)?;
        if &ticket.user_id != user {
            return Err(TokenError::WrongUser.into());
        }
        Ok(())
    }

    /// The full binding: signed, issued to `user`, for the concert's
    /// `queue`. A token from another queue is refused like a forged one
    /// (401 `TOKEN_INVALID`): it proves nothing about this sale.
    pub fn bind(
        &self,
        token: &QueueTokenHeader,
        user: &UserId,
        queue: &QueueId,
    ) -> Result<QueueTicket, ReservationError> {
        Ok(self.codec.verify_for(&token.0, queue, user)?)
    }

    /// Whether the ticket holds an active slot right now; counts as a
    /// heartbeat. Redis unreachable is 503, never a guess.
    pub async fn check_active(&self, ticket: &QueueTicket) -> Result<Admission, ReservationError> {
        Ok(queue::touch_active(&self.redis, ticket).await?)
    }

    /// [`Gate::check_active`], refusing an inactive ticket with 403 `TOKEN_NOT_ACTIVE`.
    pub async fn admit(&self, ticket: &QueueTicket) -> Result<(), ReservationError> {
        match self.check_active(ticket).await? {
            Admission::Active { .. } => Ok(()),
            Admission::NotActive => Err(ReservationError::TokenNotActive),
        }
    }

    /// Frees the ticket's active slot after a purchase. Best effort: the
    /// purchase has committed and stands; if Redis fails here the slot
    /// simply runs out at its active-until time.
    pub async fn complete(&self, ticket: &QueueTicket) {
        if let Err(err) = queue::complete(&self.redis, ticket).await {
            tracing::warn!(
                queue.id = %ticket.queue_id,
                error.chain = %error_chain(&err),
                "could not complete the queue token after payment; its slot will expire"
            );
        }
    }
}
