//! Who is calling. By default each service authenticates the caller itself
//! from `Authorization: Bearer <JWT>` (the user id is the token's `sub`).
//! Behind a gateway that authenticates, `AUTH_MODE=trusted-header` takes the
//! user id from `X-User-Id` instead, exactly as before JWTs existed; that
//! gateway must drop any `X-User-Id` a client sent (the shipped nginx does).
//!
//! Handlers ask for a [`UserId`] argument; its extractor consults the
//! [`Authenticator`] the app was built with.

mod jwt;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
pub use jwt::{JwtConfigError, JwtError, JwtVerifier, KeySource};
use secrecy::SecretString;
use serde::Deserialize;

use crate::extract::{RequestError, USER_ID_HEADER, single_header};
use crate::ids::UserId;
use crate::problem::Problem;

/// Longest development sign-in token lifetime: it is a demo convenience,
/// not a session.
const MAX_DEV_SIGNIN_TTL_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Verify `Authorization: Bearer <JWT>` here.
    #[default]
    Jwt,
    /// Believe `X-User-Id`, set by an authenticating gateway.
    TrustedHeader,
}

/// The `auth` settings section (`AUTH_*` variables).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// HS256 shared secret.
    pub jwt_secret: Option<SecretString>,
    /// PEM file with the issuer's RSA (RS256) or P-256 (ES256) public key.
    pub jwt_public_key_file: Option<String>,
    /// JWKS file with the issuer's RS256 or ES256 keys, chosen by `kid`.
    pub jwt_jwks_file: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// `POST /v1/dev/sign-in` mints tokens for any user id: development only.
    pub dev_signin: bool,
    pub dev_signin_ttl_seconds: Option<u64>,
}

/// Why the auth settings cannot be used; each names the variables to fix.
#[derive(Debug, thiserror::Error)]
pub enum AuthSettingsError {
    #[error(
        "AUTH_MODE=jwt needs exactly one of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY_FILE or \
         AUTH_JWT_JWKS_FILE (or set AUTH_MODE=trusted-header behind an authenticating gateway)"
    )]
    KeySourceCount,
    #[error("AUTH_JWT_SECRET is too short: use at least 32 characters")]
    WeakSecret,
    #[error("AUTH_DEV_SIGNIN needs AUTH_MODE=jwt with AUTH_JWT_SECRET (it signs with the secret)")]
    DevSigninWithoutSecret,
    #[error("AUTH_DEV_SIGNIN_TTL_SECONDS must be between 1 and {MAX_DEV_SIGNIN_TTL_SECONDS}")]
    DevSigninTtl,
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
}

const MIN_JWT_SECRET_LEN: usize = 32;
const DEFAULT_DEV_SIGNIN_TTL_SECONDS: u64 = 900;

/// How requests are authenticated; built once at start-up, shared as app data.
#[derive(Debug)]
pub enum Authenticator {
    TrustedHeader,
    Jwt {
        /// Boxed: the keys and validation rules are large beside the
        /// trusted-header variant, and built once.
        verifier: Box<JwtVerifier>,
        /// Lifetime of development sign-in tokens, when that is enabled.
        dev_signin_ttl_seconds: Option<u64>,
    },
}

impl Authenticator {
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, AuthSettingsError> {
        if settings.mode == AuthMode::TrustedHeader {
            if settings.dev_signin {
                return Err(AuthSettingsError::DevSigninWithoutSecret);
            }
            return Ok(Self::TrustedHeader);
        }
        let sources = [
            settings
                .jwt_secret
                .as_ref()
                .filter(|s| !secrecy::ExposeSecret::expose_secret(*s).is_empty())
                .map(KeySource::Secret),
            settings
                .jwt_public_key_file
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(KeySource::PublicKeyPem),
            settings
                .jwt_jwks_file
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(KeySource::Jwks),
        ];
        let mut sources = sources.into_iter().flatten();
        let (Some(source), None) = (sources.next(), sources.next()) else {
            return Err(AuthSettingsError::KeySourceCount);
        };
        if let KeySource::Secret(secret) = &source
            && secrecy::ExposeSecret::expose_secret(*secret).len() < MIN_JWT_SECRET_LEN
        {
            return Err(AuthSettingsError::WeakSecret);
        }
        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        let verifier = JwtVerifier::new(
            source,
            non_empty(&settings.jwt_issuer),
            non_empty(&settings.jwt_audience),
        )?;
        let dev_signin_ttl_seconds = if settings.dev_signin {
            if !verifier.can_mint() {
                return Err(AuthSettingsError::DevSigninWithoutSecret);
            }
            let ttl = settings
                .dev_signin_ttl_seconds
                .unwrap_or(DEFAULT_DEV_SIGNIN_TTL_SECONDS);
            if !(1..=MAX_DEV_SIGNIN_TTL_SECONDS).contains(&ttl) {
                return Err(AuthSettingsError::DevSigninTtl);
            }
            Some(ttl)
        } else {
            None
        };
        Ok(Self::Jwt {
            verifier: Box::new(verifier),
            dev_signin_ttl_seconds,
        })
    }

    /// One line for the start-up log saying how callers are identified.
    pub fn describe(&self) -> String {
        match self {
            Self::TrustedHeader => "AUTH_MODE=trusted-header: the user id is taken from X-User-Id \
                 as sent; only run this behind a gateway that authenticates callers and drops \
                 any X-User-Id they send"
                .to_owned(),
            Self::Jwt {
                verifier,
                dev_signin_ttl_seconds,
            } => format!(
                "AUTH_MODE=jwt: callers authenticate with Authorization: Bearer <JWT> ({:?}){}",
                verifier.algorithm(),
                if dev_signin_ttl_seconds.is_some() {
                    "; DEVELOPMENT SIGN-IN IS ON: anyone can obtain a token for any user id"
                } else {
                    ""
                }
            ),
        }
    }

    /// The caller's user id, from the request's credentials.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<UserId, AuthError> {
        match self {
            Self::TrustedHeader => match single_header(req, USER_ID_HEADER)? {
                None => Err(AuthError::UserIdMissing),
                Some(raw) => UserId::parse(raw).map_err(|_| AuthError::UserIdInvalid),
            },
            Self::Jwt { verifier, .. } => {
                let raw = single_header(req, "Authorization")?.ok_or(AuthError::BearerMissing)?;
                let token = raw
                    .strip_prefix("Bearer ")
                    .or_else(|| raw.strip_prefix("bearer "))
                    .map(str::trim)
                    .ok_or(AuthError::BearerMissing)?;
                Ok(verifier.verify(token)?)
            }
        }
    }

    /// A development sign-in token for `user`, if that is enabled.
    pub fn dev_sign_in(&self, user: &UserId, now: u64) -> Option<DevToken> {
        let Self::Jwt {
            verifier,
            dev_signin_ttl_seconds: Some(ttl),
        } = self
        else {
            return None;
        };
        Some(DevToken {
            access_token: verifier.mint(user, now, *ttl)?,
            expires_in: *ttl,
        })
    }
}

/// A token minted by the development sign-in.
#[derive(Debug, Clone)]
pub struct DevToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Why the caller could not be identified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the X-User-Id header is missing")]
    UserIdMissing,
    #[error("the X-User-Id header is not a valid user id")]
    UserIdInvalid,
    #[error("an Authorization: Bearer <JWT> header is required")]
    BearerMissing,
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error(transparent)]
    Header(#[from] RequestError),
}

impl AuthError {
    pub fn problem(&self) -> Problem {
        let code = match self {
            Self::Header(err) => return err.problem(),
            Self::UserIdMissing => "USER_ID_MISSING",
            Self::UserIdInvalid => "USER_ID_INVALID",
            Self::BearerMissing => "JWT_MISSING",
            Self::Jwt(err) => match err {
                JwtError::Malformed => "JWT_MALFORMED",
                JwtError::AlgorithmRefused => "JWT_ALGORITHM_REFUSED",
                JwtError::KeyUnknown => "JWT_KEY_UNKNOWN",
                JwtError::SignatureInvalid => "JWT_SIGNATURE_INVALID",
                JwtError::Expired => "JWT_EXPIRED",
                JwtError::NotYetValid => "JWT_NOT_YET_VALID",
                JwtError::IssuerInvalid => "JWT_ISSUER_INVALID",
                JwtError::AudienceInvalid => "JWT_AUDIENCE_INVALID",
                JwtError::ClaimsInvalid => "JWT_CLAIMS_INVALID",
                JwtError::SubjectInvalid => "JWT_SUBJECT_INVALID",
            },
        };
        Problem::new(StatusCode::UNAUTHORIZED, code, self.to_string())
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.problem().to_response()
    }
}

impl FromRequest for UserId {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.app_data::<web::Data<Authenticator>>() {
            Some(authenticator) => authenticator.authenticate(req),
            // Wiring bug: refuse rather than guess who is calling.
            None => Err(AuthError::BearerMissing),
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    const SECRET: &str = "jwt-secret-for-unit-tests-0123456789";

    fn jwt_settings() -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(SecretString::from(SECRET)),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn jwt_mode_is_the_default_and_needs_one_key_source() {
        assert_eq!(AuthSettings::default().mode, AuthMode::Jwt);
        let err = Authenticator::from_settings(&AuthSettings::default()).unwrap_err();
        assert!(err.to_string().contains("AUTH_JWT_SECRET"), "{err}");
        let two = AuthSettings {
            jwt_jwks_file: Some("/keys.json".to_owned()),
            ..jwt_settings()
        };
        assert!(matches!(
            Authenticator::from_settings(&two),
            Err(AuthSettingsError::KeySourceCount)
        ));
        let weak = AuthSettings {
            jwt_secret: Some(SecretString::from("short")),
            ..AuthSettings::default()
        };
        assert!(matches!(
            Authenticator::from_settings(&weak),
            Err(AuthSettingsError::WeakSecret)
        ));
    }

    #[test]
    fn dev_sign_in_is_off_unless_asked_for() {
        let alice = UserId::parse("alice").unwrap();
        let off = Authenticator::from_settings(&jwt_settings()).unwrap();
        assert!(off.dev_sign_in(&alice, 1).is_none());
        let on = Authenticator::from_settings(&AuthSettings {
            dev_signin: true,
            ..jwt_settings()
        })
        .unwrap();
        assert!(on.describe().contains("DEVELOPMENT SIGN-IN IS ON"));
        let token = on
            .dev_sign_in(&alice, jsonwebtoken::get_current_timestamp())
            .unwrap();
        assert_eq!(token.expires_in, DEFAULT_DEV_SIGNIN_TTL_SECONDS);
        let req = TestRequest::default()
            .insert_header(("Authorization", format!("Bearer {}", token.access_token)))
            .to_http_request();
        assert_eq!(on.authenticate(&req), Ok(alice));
    }

    #[test]
    fn in_jwt_mode_the_header_identity_is_ignored() {
        let auth = Authenticator::from_settings(&jwt_settings()).unwrap();
        let req = TestRequest::default()
            .insert_header((USER_ID_HEADER, "alice"))
            .to_http_request();
        assert_eq!(auth.authenticate(&req), Err(AuthError::BearerMissing));
    }

    #[test]
    fn trusted_header_mode_reads_x_user_id_as_before() {
        let auth = Authenticator::from_settings(&AuthSettings {
            mode: AuthMode::TrustedHeader,
            ..AuthSettings::default()
        })
        .unwrap();
        assert!(auth.describe().contains("trusted-header"));
        let req = |value: Option<&str>| {
            let mut r = TestRequest::default();
            if let Some(v) = value {
                r = r.insert_header((USER_ID_HEADER, v));
            }
            auth.authenticate(&r.to_http_request())
        };
        assert_eq!(req(Some("bob")), Ok(UserId::parse("bob").unwrap()));
        assert_eq!(req(None), Err(AuthError::UserIdMissing));
        assert_eq!(req(Some("bad id")), Err(AuthError::UserIdInvalid));
        let twice = TestRequest::default()
            .append_header((USER_ID_HEADER, "alice"))
            .append_header((USER_ID_HEADER, "bob"))
            .to_http_request();
        assert_eq!(
            auth.authenticate(&twice).unwrap_err().problem().code,
            "HEADER_REPEATED"
        );
    }
}
