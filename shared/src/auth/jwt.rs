//! Bearer JWT verification, and the minting behind the development sign-in.
//!
//! One algorithm is configured (HS256 with a shared secret, or RS256/ES256
//! from a public key or a JWKS file) and a token that names any other, `none`
//! included, is refused before its signature is looked at: a verifier that
//! let the token choose would accept a token "signed" with the public key as
//! an HMAC secret.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// Clock skew tolerated on `exp` and `nbf` between the issuer and us.
const LEEWAY_SECONDS: u64 = 30;
/// Longer than any real bearer token; refused before decoding.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a bearer token was refused. Each has its own stable problem code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    #[error("the bearer token's algorithm is not the one this service accepts")]
    AlgorithmRefused,
    #[error("the bearer token's key id names no configured key")]
    KeyUnknown,
    #[error("the bearer token's signature does not verify")]
    SignatureInvalid,
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is not valid yet")]
    NotYetValid,
    #[error("the bearer token was issued by another issuer")]
    IssuerInvalid,
    #[error("the bearer token is meant for another audience")]
    AudienceInvalid,
    #[error("the bearer token lacks a required claim (exp, sub) or has one of the wrong type")]
    ClaimsInvalid,
    #[error("the bearer token's subject is not a valid user id (1-64 of A-Z, a-z, 0-9, '_', '-')")]
    SubjectInvalid,
}

/// Why the verifier could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("cannot read {variable} ({path})")]
    Read {
        variable: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{variable} holds no RSA or EC (P-256) public key in PEM form")]
    BadPem { variable: &'static str },
    #[error("AUTH_JWT_SECRET cannot be used as an HMAC key")]
    BadSecret,
    #[error("AUTH_JWT_JWKS_FILE is not a JWKS document, or holds no RS256/ES256 key")]
    BadJwks,
    #[error("AUTH_JWT_JWKS_FILE mixes algorithms; one algorithm per deployment")]
    MixedJwks,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Where the verifying keys come from.
pub enum KeySource<'a> {
    Secret(&'a SecretString),
    PublicKeyPem(&'a str),
    Jwks(&'a str),
}

/// Verifies bearer tokens against the configured key(s); built once.
pub struct JwtVerifier {
    algorithm: Algorithm,
    /// Keys by `kid`; the `None` entry serves tokens without one.
    keys: HashMap<Option<String>, DecodingKey>,
    validation: Validation,
    /// Present with an HMAC secret only: the development sign-in signs with it.
    signing_key: Option<EncodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn new(
        source: KeySource<'_>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, JwtConfigError> {
        let (algorithm, keys, signing_key) = match source {
            KeySource::Secret(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                let key = DecodingKey::from_secret(bytes).map_err(|_| JwtConfigError::BadSecret)?;
                let signing =
                    EncodingKey::from_secret(bytes).map_err(|_| JwtConfigError::BadSecret)?;
                (
                    Algorithm::HS256,
                    HashMap::from([(None, key)]),
                    Some(signing),
                )
            }
            KeySource::PublicKeyPem(path) => {
                let pem = read(path, "AUTH_JWT_PUBLIC_KEY_FILE")?;
                let (algorithm, key) = pem_key(&pem)?;
                (algorithm, HashMap::from([(None, key)]), None)
            }
            KeySource::Jwks(path) => {
                let raw = read(path, "AUTH_JWT_JWKS_FILE")?;
                let (algorithm, keys) = jwks_keys(&raw)?;
                (algorithm, keys, None)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = audience.is_some();
        if let Some(audience) = &audience {
            validation.set_audience(&[audience]);
        }
        if let Some(issuer) = &issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self {
            algorithm,
            keys,
            validation,
            signing_key,
            issuer,
            audience,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The user a valid token speaks for.
    pub fn verify(&self, token: &str) -> Result<UserId, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let header = RawHeader::of(token)?;
        if header.alg != algorithm_name(self.algorithm) {
            return Err(JwtError::AlgorithmRefused);
        }
        let key = self.key_for(header.kid)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|err| classify(err.kind()))?;
        match data.claims.sub {
            Some(serde_json::Value::String(sub)) => {
                UserId::parse(&sub).map_err(|_| JwtError::SubjectInvalid)
            }
            _ => Err(JwtError::SubjectInvalid),
        }
    }

    /// The key a token names. A key configured without an id (a secret, a
    /// PEM file, a JWKS entry without `kid`) serves any token; a token
    /// without `kid` is served by the only key there is; a `kid` that names
    /// no key is refused.
    fn key_for(&self, kid: Option<String>) -> Result<&DecodingKey, JwtError> {
        if let Some(key) = self.keys.get(&None) {
            return Ok(key);
        }
        match kid {
            Some(kid) => self.keys.get(&Some(kid)),
            None if self.keys.len() == 1 => self.keys.values().next(),
            None => None,
        }
        .ok_or(JwtError::KeyUnknown)
    }

    /// Whether tokens can be minted here (an HMAC secret is configured).
    pub fn can_mint(&self) -> bool {
        self.signing_key.is_some()
    }

    /// A token for `user`, valid from `now` for `ttl_seconds`, carrying the
    /// configured issuer and audience so this verifier accepts it. `None`
    /// without an HMAC secret.
    pub fn mint(&self, user: &UserId, now: u64, ttl_seconds: u64) -> Option<String> {
        let key = self.signing_key.as_ref()?;
        let claims = MintedClaims {
            sub: user.as_str(),
            iat: now,
            nbf: now,
            exp: now + ttl_seconds,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key).ok()
    }
}

/// The header fields read before verification. Parsed by hand so that an
/// algorithm the library does not even know (`none`) is reported as a
/// refused algorithm, not as a malformed token.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl RawHeader {
    fn of(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| JwtError::Malformed)
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        // Only the three above are ever configured.
        _ => "",
    }
}

fn classify(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature => JwtError::SignatureInvalid,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::IssuerInvalid,
        ErrorKind::InvalidAudience => JwtError::AudienceInvalid,
        ErrorKind::InvalidAlgorithm => JwtError::AlgorithmRefused,
        ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => JwtError::SubjectInvalid,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            JwtError::ClaimsInvalid
        }
        _ => JwtError::Malformed,
    }
}

fn read(path: &str, variable: &'static str) -> Result<String, JwtConfigError> {
    std::fs::read_to_string(path).map_err(|source| JwtConfigError::Read {
        variable,
        path: path.to_owned(),
        source,
    })
}

fn pem_key(pem: &str) -> Result<(Algorithm, DecodingKey), JwtConfigError> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Ok((Algorithm::ES256, key));
    }
    Err(JwtConfigError::BadPem {
        variable: "AUTH_JWT_PUBLIC_KEY_FILE",
    })
}

type KeysByKid = HashMap<Option<String>, DecodingKey>;

/// Every RS256 or ES256 (P-256) key of the set, by `kid`. Keys for other
/// uses (encryption, other algorithms) are skipped; all usable keys must
/// share one algorithm.
fn jwks_keys(raw: &str) -> Result<(Algorithm, KeysByKid), JwtConfigError> {
    let set: JwkSet = serde_json::from_str(raw).map_err(|_| JwtConfigError::BadJwks)?;
    let mut algorithm = None;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let key_algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
            (Some(KeyAlgorithm::RS256), AlgorithmParameters::RSA(_))
            | (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
            (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(ec))
            | (None, AlgorithmParameters::EllipticCurve(ec))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        if *algorithm.get_or_insert(key_algorithm) != key_algorithm {
            return Err(JwtConfigError::MixedJwks);
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| JwtConfigError::BadJwks)?;
        keys.insert(jwk.common.key_id.clone(), key);
    }
    match algorithm {
        Some(algorithm) => Ok((algorithm, keys)),
        None => Err(JwtConfigError::BadJwks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "jwt-secret-for-unit-tests-0123456789";

    fn verifier(issuer: Option<&str>, audience: Option<&str>) -> JwtVerifier {
        JwtVerifier::new(
            KeySource::Secret(&SecretString::from(SECRET)),
            issuer.map(str::to_owned),
            audience.map(str::to_owned),
        )
        .unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn signed(header: &serde_json::Value, claims: &serde_json::Value, secret: &str) -> String {
        use hmac::{Hmac, Mac};
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{head}.{body}.{tag}")
    }

    fn hs256(claims: serde_json::Value) -> String {
        signed(
            &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
            &claims,
            SECRET,
        )
    }

    #[test]
    fn a_minted_token_verifies_as_its_subject() {
        let v = verifier(Some("https://issuer.example"), Some("tickets"));
        let alice = UserId::parse("alice").unwrap();
        let token = v.mint(&alice, now(), 60).unwrap();
        assert_eq!(v.verify(&token), Ok(alice));
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let v = verifier(Some("iss-a"), Some("aud-a"));
        let t = now();
        let ok = serde_json::json!({"sub": "bob", "exp": t + 60, "iss": "iss-a", "aud": "aud-a"});
        assert!(v.verify(&hs256(ok.clone())).is_ok());
        let with = |patch: serde_json::Value| {
            let mut claims = ok.clone();
            for (k, val) in patch.as_object().unwrap() {
                claims[k] = val.clone();
            }
            v.verify(&hs256(claims))
        };
        assert_eq!(
            with(serde_json::json!({"exp": t - 120})),
            Err(JwtError::Expired)
        );
        assert_eq!(
            with(serde_json::json!({"nbf": t + 120})),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            with(serde_json::json!({"iss": "iss-b"})),
            Err(JwtError::IssuerInvalid)
        );
        assert_eq!(
            with(serde_json::json!({"aud": "aud-b"})),
            Err(JwtError::AudienceInvalid)
        );
        assert_eq!(
            with(serde_json::json!({"sub": "not a user"})),
            Err(JwtError::SubjectInvalid)
        );
        assert_eq!(
            with(serde_json::json!({"sub": 42})),
            Err(JwtError::SubjectInvalid)
        );
        assert_eq!(
            with(serde_json::json!({"exp": "soon"})),
            Err(JwtError::ClaimsInvalid)
        );
        let other_key = signed(
            &serde_json::json!({"alg": "HS256"}),
            &ok,
            "another-secret-0123456789abcdef",
        );
        assert_eq!(v.verify(&other_key), Err(JwtError::SignatureInvalid));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let v = verifier(None, None);
        let claims = serde_json::json!({"sub": "eve", "exp": now() + 60});
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        for alg in ["none", "None", "HS512", "RS256"] {
            let head = URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": alg}).to_string());
            for token in [format!("{head}.{body}."), format!("{head}.{body}.c2ln")] {
                assert_eq!(v.verify(&token), Err(JwtError::AlgorithmRefused), "{alg}");
            }
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let v = verifier(None, None);
        for raw in ["", "a.b", "a.b.c.d", "!!!.e30.e30", &"x".repeat(9000)] {
            assert_eq!(v.verify(raw), Err(JwtError::Malformed), "{raw:.20}");
        }
    }

    #[test]
    fn without_a_secret_nothing_is_minted() {
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }]});
        let path = std::env::temp_dir().join(format!("jwks-{}.json", std::process::id()));
        std::fs::write(&path, jwks.to_string()).unwrap();
        let v = JwtVerifier::new(KeySource::Jwks(path.to_str().unwrap()), None, None).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(v.algorithm(), Algorithm::ES256);
        assert!(!v.can_mint());
        assert!(v.mint(&UserId::parse("a").unwrap(), now(), 60).is_none());
    }
}
