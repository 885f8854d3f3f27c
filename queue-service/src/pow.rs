//! Proof of work on joining: a queue may ask every newcomer to spend a
//! little CPU (a second or so in a browser) before it gets a place, which
//! costs a fan nothing noticeable and a script that wants ten thousand
//! places ten thousand times as much.
//!
//! The server keeps no state for a challenge. A challenge is
//! `p1.<payload>.<tag>`: the payload (`queue:user:issued_ms:bits:nonce`)
//! binds it to one user, one queue, a time and a difficulty, and the tag is
//! an HMAC over it with a key derived from `QUEUE_TOKEN_SECRET`. A solution
//! is a string `s` such that SHA-256(`<challenge>:<s>`) starts with `bits`
//! zero bits. Verification is constant-time on the tag; single use is
//! enforced by the issue script (a marker per solved challenge, expiring
//! with it).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use shared::ids::{QueueId, UserId};

use crate::store::ProvenWork;

const PREFIX: &str = "p1.";
/// How long a challenge may be solved and used.
pub const CHALLENGE_TTL_MS: u64 = 10 * 60 * 1000;
const MAX_CHALLENGE_LEN: usize = 512;
const MAX_SOLUTION_LEN: usize = 32;
/// Domain separation: the queue-token HMAC key signs nothing else.
const KEY_LABEL: &[u8] = b"concert-queue proof-of-work challenge v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("the proof-of-work challenge is malformed or not ours")]
    Invalid,
    #[error("the proof-of-work challenge was issued for another user or queue")]
    Foreign,
    #[error("the proof-of-work challenge has expired; ask for a new one")]
    Expired,
    #[error("the proof-of-work solution does not meet the challenge's difficulty")]
    Unsolved,
}

/// A challenge as handed to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub challenge: String,
    pub difficulty_bits: u8,
    pub expires_at_ms: u64,
}

#[derive(Clone)]
pub struct PowCodec {
    keyed_mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PowCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PowCodec(..)")
    }
}

impl PowCodec {
    pub fn new(secret: &SecretString) -> Self {
        let mut derive = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        derive.update(KEY_LABEL);
        let key = derive.finalize().into_bytes();
        Self {
            keyed_mac: Hmac::<Sha256>::new_from_slice(&key).expect("32-byte key"),
        }
    }

    pub fn issue(
        &self,
        queue: &QueueId,
        user: &UserId,
        difficulty_bits: u8,
        now_ms: u64,
    ) -> Challenge {
        let nonce: [u8; 12] = rand::random();
        let payload = format!(
            "{queue}:{user}:{now_ms}:{difficulty_bits}:{}",
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let mut challenge = String::from(PREFIX);
        URL_SAFE_NO_PAD.encode_string(payload.as_bytes(), &mut challenge);
        let mut mac = self.keyed_mac.clone();
        mac.update(challenge.as_bytes());
        challenge.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut challenge);
        Challenge {
            challenge,
            difficulty_bits,
            expires_at_ms: now_ms + CHALLENGE_TTL_MS,
        }
    }

    /// Checks a solved challenge for `user` in `queue` at `now_ms`.
    pub fn verify(
        &self,
        challenge: &str,
        solution: &str,
        queue: &QueueId,
        user: &UserId,
        now_ms: u64,
    ) -> Result<ProvenWork, PowError> {
        if challenge.len() > MAX_CHALLENGE_LEN
            || !(1..=MAX_SOLUTION_LEN).contains(&solution.len())
            || !solution.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PowError::Invalid);
        }
        let (signed, tag) = challenge.rsplit_once('.').ok_or(PowError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| PowError::Invalid)?;
        let mut mac = self.keyed_mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag).map_err(|_| PowError::Invalid)?;

        let payload = signed
            .strip_prefix(PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(PowError::Invalid)?;
        let fields: Vec<&str> = payload.split(':').collect();
        let &[q, u, issued, bits, _nonce] = fields.as_slice() else {
            return Err(PowError::Invalid);
        };
        if q != queue.as_str() || u != user.as_str() {
            return Err(PowError::Foreign);
        }
        let issued: u64 = issued.parse().map_err(|_| PowError::Invalid)?;
        let bits: u8 = bits.parse().map_err(|_| PowError::Invalid)?;
        let expires = issued + CHALLENGE_TTL_MS;
        if now_ms >= expires {
            return Err(PowError::Expired);
        }
        let digest = Sha256::new()
            .chain_update(challenge.as_bytes())
            .chain_update(b":")
            .chain_update(solution.as_bytes())
            .finalize();
        if leading_zero_bits(&digest) < u32::from(bits) {
            return Err(PowError::Unsolved);
        }
        Ok(ProvenWork {
            difficulty_bits: bits,
            digest_hex: hex::encode(&Sha256::digest(challenge.as_bytes())[..16]),
            valid_for_ms: expires - now_ms,
        })
    }
}

fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Finds a solution by brute force, as a client does; for tests and tools.
pub fn solve(challenge: &str, difficulty_bits: u8) -> String {
    (0u64..)
        .map(|n| format!("{n:x}"))
        .find(|candidate| {
            let digest = Sha256::new()
                .chain_update(challenge.as_bytes())
                .chain_update(b":")
                .chain_update(candidate.as_bytes())
                .finalize();
            leading_zero_bits(&digest) >= u32::from(difficulty_bits)
        })
        .expect("some counter value solves any difficulty below 256 bits")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn codec() -> PowCodec {
        PowCodec::new(&SecretString::from("pow-test-secret-0123456789"))
    }

    fn ids() -> (QueueId, UserId) {
        (
            QueueId::parse("tour").unwrap(),
            UserId::parse("alice").unwrap(),
        )
    }

    #[test]
    fn a_solved_challenge_verifies_once_per_marker() {
        let (queue, user) = ids();
        let c = codec().issue(&queue, &user, 8, NOW);
        let solution = solve(&c.challenge, 8);
        let work = codec()
            .verify(&c.challenge, &solution, &queue, &user, NOW + 1_000)
            .unwrap();
        assert_eq!(work.difficulty_bits, 8);
        assert_eq!(work.valid_for_ms, CHALLENGE_TTL_MS - 1_000);
        let again = codec()
            .verify(&c.challenge, &solution, &queue, &user, NOW + 2_000)
            .unwrap();
        assert_eq!(
            work.digest_hex, again.digest_hex,
            "one marker per challenge"
        );
    }

    #[test]
    fn challenges_are_bound_to_user_queue_time_and_secret() {
        let (queue, user) = ids();
        let c = codec().issue(&queue, &user, 4, NOW);
        let solution = solve(&c.challenge, 4);
        let mallory = UserId::parse("mallory").unwrap();
        let other = QueueId::parse("other").unwrap();
        let verify = |codec: &PowCodec, q: &QueueId, u: &UserId, at: u64| {
            codec.verify(&c.challenge, &solution, q, u, at)
        };
        assert_eq!(
            verify(&codec(), &queue, &mallory, NOW),
            Err(PowError::Foreign)
        );
        assert_eq!(verify(&codec(), &other, &user, NOW), Err(PowError::Foreign));
        assert_eq!(
            verify(&codec(), &queue, &user, NOW + CHALLENGE_TTL_MS),
            Err(PowError::Expired)
        );
        let stranger = PowCodec::new(&SecretString::from("another-secret-0123456789"));
        assert_eq!(
            verify(&stranger, &queue, &user, NOW),
            Err(PowError::Invalid)
        );
    }

    #[test]
    fn a_wrong_solution_is_unsolved_and_garbage_is_invalid() {
        let (queue, user) = ids();
        let c = codec().issue(&queue, &user, 20, NOW);
        // A random string meets 20 bits once in a million tries.
        let unsolved = (0..50)
            .filter(|n| {
                codec().verify(&c.challenge, &n.to_string(), &queue, &user, NOW)
                    == Err(PowError::Unsolved)
            })
            .count();
        assert!(unsolved >= 49, "{unsolved}");
        for (challenge, solution) in [
            ("", "1"),
            ("p1.abc", "1"),
            (c.challenge.as_str(), ""),
            (c.challenge.as_str(), "not valid!"),
        ] {
            assert_eq!(
                codec().verify(challenge, solution, &queue, &user, NOW),
                Err(PowError::Invalid),
                "{challenge:.10} {solution}"
            );
        }
    }

    #[test]
    fn counts_leading_zero_bits() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x1f]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
