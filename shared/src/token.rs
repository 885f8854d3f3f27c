//! Queue tokens: proof that a user holds a given place in a given line.
//!
//! A token is `v1.<payload>.<tag>`, both parts base64url without padding.
//! The payload is `queue_id:user_id:seq`, where `seq` is the issue sequence
//! number that also orders the line; the tag is HMAC-SHA256 over
//! `v1.<payload>`. Because the token is a pure function of (queue, user,
//! seq), Redis stores only the sequence number and the token is rebuilt on
//! demand, which keeps the per-user footprint of a million-strong line small.
//!
//! Verification runs in constant time and touches no store, so a forged or
//! tampered token is refused before any Redis or database work.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::ids::{QueueId, UserId};

const VERSION_PREFIX: &str = "v1.";
/// Long enough for two 64-character ids, a u64 and the tag; anything longer
/// is refused before decoding.
const MAX_TOKEN_LEN: usize = 256;

/// The claims a valid token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTicket {
    pub queue_id: QueueId,
    pub user_id: UserId,
    /// Issue sequence number; unique per queue, increasing in issue order.
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the queue token is malformed")]
    Malformed,
    #[error("the queue token's signature does not verify")]
    BadSignature,
    #[error("the queue token belongs to another queue")]
    WrongQueue,
    #[error("the queue token belongs to another user")]
    WrongUser,
}

/// Signs and verifies queue tokens with the shared `QUEUE_TOKEN_SECRET`.
#[derive(Clone)]
pub struct TokenCodec {
    /// Keyed once; cloning a keyed MAC skips the key schedule per token.
    keyed_mac: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec(..)")
    }
}

impl TokenCodec {
    pub fn new(secret: &SecretString) -> Self {
        let keyed_mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        Self { keyed_mac }
    }

    pub fn encode(&self, ticket: &QueueTicket) -> String {
        let payload = format!("{}:{}:{}", ticket.queue_id, ticket.user_id, ticket.seq);
        let mut token = String::with_capacity(MAX_TOKEN_LEN / 2);
        token.push_str(VERSION_PREFIX);
        URL_SAFE_NO_PAD.encode_string(payload.as_bytes(), &mut token);
        let tag = self.tag(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// Verifies the signature and returns the claims, without checking whom
    /// they belong to; see [`TokenCodec::verify_for`].
    pub fn decode(&self, token: &str) -> Result<QueueTicket, TokenError> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(VERSION_PREFIX) {
            return Err(TokenError::Malformed);
        }
        let (signed, tag_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.keyed_mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(&signed[VERSION_PREFIX.len()..])
            .map_err(|_| TokenError::Malformed)?;
        let payload = std::str::from_utf8(&payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = payload.split(':');
        let (Some(queue), Some(user), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        Ok(QueueTicket {
            queue_id: QueueId::parse(queue).map_err(|_| TokenError::Malformed)?,
            user_id: UserId::parse(user).map_err(|_| TokenError::Malformed)?,
            seq: seq.parse().map_err(|_| TokenError::Malformed)?,
        })
    }

    /// Verifies the token and that it was issued for `queue` to `user`.
    pub fn verify_for(
        &self,
        token: &str,
        queue: &QueueId,
        user: &UserId,
    ) -> Result<QueueTicket, TokenError> {
        let ticket = self.decode(token)?;
        if &ticket.queue_id != queue {
            return Err(TokenError::WrongQueue);
        }
        if &ticket.user_id != user {
            return Err(TokenError::WrongUser);
        }
        Ok(ticket)
    }

    fn tag(&self, signed: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed_mac.clone();
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(secret: &str) -> TokenCodec {
        TokenCodec::new(&SecretString::from(secret.to_owned()))
    }

    fn ticket() -> QueueTicket {
        QueueTicket {
            queue_id: QueueId::parse("tour").unwrap(),
            user_id: UserId::parse("alice").unwrap(),
            seq: 42,
        }
    }

    #[test]
    fn round_trips_and_is_url_safe() {
        let codec = codec("secret-for-tests-0123456789");
        let token = codec.encode(&ticket());
        assert!(token.starts_with("v1."));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(codec.decode(&token).unwrap(), ticket());
    }

    #[test]
    fn encoding_is_deterministic_so_redis_need_not_store_tokens() {
        let codec = codec("secret-for-tests-0123456789");
        assert_eq!(codec.encode(&ticket()), codec.encode(&ticket()));
    }

    #[test]
    fn any_flipped_character_is_refused() {
        let codec = codec("secret-for-tests-0123456789");
        let token = codec.encode(&ticket());
        for i in 3..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != token {
                assert!(codec.decode(&tampered).is_err(), "position {i} accepted");
            }
        }
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = codec("secret-a-0123456789abcdef").encode(&ticket());
        assert_eq!(
            codec("secret-b-0123456789abcdef").decode(&token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn binds_queue_and_user() {
        let codec = codec("secret-for-tests-0123456789");
        let token = codec.encode(&ticket());
        let other_queue = QueueId::parse("other").unwrap();
        let other_user = UserId::parse("mallory").unwrap();
        let t = ticket();
        assert_eq!(
            codec.verify_for(&token, &other_queue, &t.user_id),
            Err(TokenError::WrongQueue)
        );
        assert_eq!(
            codec.verify_for(&token, &t.queue_id, &other_user),
            Err(TokenError::WrongUser)
        );
        assert!(codec.verify_for(&token, &t.queue_id, &t.user_id).is_ok());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let codec = codec("secret-for-tests-0123456789");
        for raw in [
            "",
            "v1.",
            "v1..",
            "v2.abc.def",
            "v1.!!!.???",
            &"v1.a".repeat(100),
        ] {
            assert!(codec.decode(raw).is_err(), "{raw:?} accepted");
        }
    }
}
