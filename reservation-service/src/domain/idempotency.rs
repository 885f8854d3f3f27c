//! Idempotency records: what a retried request must match to get the first
//! response back, and the response that is replayed.

/// Describes the effect a request asks for. A retry with the same key must
/// carry the same fingerprint; otherwise the key is being reused for a
/// different request and is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn payment(reservation_id: u64) -> Self {
        Self(format!("payment:{reservation_id}"))
    }

    pub fn charge(amount: i64) -> Self {
        Self(format!("charge:{amount}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The response stored with a completed request, replayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What an earlier request with the same key means for this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Same request: answer with the first response.
    Same(StoredResponse),
    /// Same key, different request.
    KeyReused,
}

impl Replay {
    /// Whether this replays a request that took effect (a 2xx answer).
    pub fn is_success(&self) -> bool {
        matches!(self, Replay::Same(stored) if (200..300).contains(&stored.status))
    }

    pub fn judge(stored_fingerprint: &str, stored: StoredResponse, request: &Fingerprint) -> Self {
        if stored_fingerprint == request.as_str() {
            Self::Same(stored)
        } else {
            Self::KeyReused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredResponse {
        StoredResponse {
            status: 200,
            body: "{}".to_owned(),
        }
    }

    #[test]
    fn same_fingerprint_replays() {
        let fp = Fingerprint::charge(500);
        assert_eq!(
            Replay::judge("charge:500", stored(), &fp),
            Replay::Same(stored())
        );
    }

    #[test]
    fn another_request_under_the_same_key_is_refused() {
        assert_eq!(
            Replay::judge("charge:500", stored(), &Fingerprint::charge(501)),
            Replay::KeyReused
        );
        assert_eq!(
            Replay::judge("charge:500", stored(), &Fingerprint::payment(500)),
            Replay::KeyReused
        );
    }
}
