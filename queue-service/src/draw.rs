//! The opening draw: everyone who joins a queue before its `opens_at` is
//! placed by a key that nobody, the operator included, can steer once the
//! commitment is published. The seed is drawn at random when the queue
//! gets its opening; its SHA-256 (the commitment) is public from then on,
//! the seed itself only after the opening, so anyone can recompute every
//! key and check the order.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How the order follows from the seed, as published with the draw.
pub const METHOD: &str = "key = HMAC-SHA256(seed bytes, UTF-8 user id); entrants in ascending order of \
     the key's first 52 bits, ties by user id (bytewise); commitment = SHA-256(seed bytes)";

/// Scores at or above this are joiners after the opening (see the Lua
/// prelude): 2^52, so every draw score (1 + 52 bits) stays below it.
pub const LATE_SCORE: u64 = 1 << 52;

#[derive(Clone, PartialEq, Eq)]
pub struct DrawSeed([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a draw seed is 64 hex digits")]
pub struct MalformedSeed;

impl std::fmt::Debug for DrawSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The seed is secret until the opening: never in a log line.
        f.write_str("DrawSeed(..)")
    }
}

impl DrawSeed {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_hex(text: &str) -> Result<Self, MalformedSeed> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| MalformedSeed)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Hex SHA-256 of the seed's bytes.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// The user's full draw key.
    pub fn key(&self, user_id: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts a key of any length");
        mac.update(user_id.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The user's place in the line: 1 + the key's first 52 bits.
    pub fn score(&self, user_id: &str) -> u64 {
        let key = self.key(user_id);
        let mut first = [0u8; 8];
        first.copy_from_slice(&key[..8]);
        1 + (u64::from_be_bytes(first) >> 12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_a_known_hmac_and_scores_stay_below_the_late_joiners() {
        let seed = DrawSeed::from_hex(&"00".repeat(32)).unwrap();
        // As Python computes it: hmac.new(bytes(32), b"alice", "sha256").
        let key = hex::encode(seed.key("alice"));
        assert_eq!(
            key,
            "ce3837f76a54a635191b1704ac7672264fc17c3397ff52e7dacfc1ef3603a493"
        );
        let score = seed.score("alice");
        assert_eq!(score, 1 + u64::from_str_radix(&key[..13], 16).unwrap());
        assert!((1..=LATE_SCORE).contains(&score));
        assert_eq!(
            seed.commitment(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn a_seed_round_trips_through_hex_and_is_never_printed() {
        let seed = DrawSeed::generate();
        assert_eq!(DrawSeed::from_hex(&seed.to_hex()).unwrap(), seed);
        assert!(DrawSeed::from_hex("zz").is_err());
        assert!(!format!("{seed:?}").contains(&seed.to_hex()));
    }
}
