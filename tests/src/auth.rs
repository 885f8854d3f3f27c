//! How test clients identify themselves: `X-User-Id` for apps in
//! trusted-header mode, a freshly signed bearer JWT for apps in JWT mode,
//! so the same helpers drive either.

use std::sync::Arc;

use reqwest::RequestBuilder;
use secrecy::SecretString;
use shared::auth::{AuthMode, AuthSettings, JwtVerifier, KeySource};
use shared::ids::UserId;

/// The HS256 secret of test apps in JWT mode.
pub const TEST_JWT_SECRET: &str = "test-jwt-secret-0123456789-0123456789";

pub fn trusted_header_auth() -> AuthSettings {
    AuthSettings {
        mode: AuthMode::TrustedHeader,
        ..AuthSettings::default()
    }
}

/// JWT mode with [`TEST_JWT_SECRET`], development sign-in on.
pub fn jwt_auth() -> AuthSettings {
    AuthSettings {
        mode: AuthMode::Jwt,
        jwt_secret: Some(SecretString::from(TEST_JWT_SECRET)),
        dev_signin: true,
        ..AuthSettings::default()
    }
}

#[derive(Clone)]
pub enum Identity {
    Header,
    Jwt(Arc<JwtVerifier>),
}

impl Identity {
    /// How a client of an app with these settings says who it is. A JWT
    /// app whose keys are not the test secret gets bearer tokens the test
    /// signs itself.
    pub fn for_settings(settings: &AuthSettings) -> Self {
        match settings.mode {
            AuthMode::TrustedHeader => Self::Header,
            AuthMode::Jwt => Self::Jwt(Arc::new(test_signer())),
        }
    }

    /// Adds the caller's credentials to a request.
    pub fn apply(&self, request: RequestBuilder, user: &str) -> RequestBuilder {
        match self {
            Self::Header => request.header("X-User-Id", user),
            Self::Jwt(signer) => match UserId::parse(user) {
                Ok(user) => request.bearer_auth(mint(signer, &user)),
                // Tests of bad ids in JWT mode sign their own tokens.
                Err(_) => request.header("X-User-Id", user),
            },
        }
    }
}

/// A signer with the test secret.
pub fn test_signer() -> JwtVerifier {
    JwtVerifier::new(
        KeySource::Secret(&SecretString::from(TEST_JWT_SECRET)),
        None,
        None,
    )
    .expect("the test secret makes a verifier")
}

/// A bearer token for `user`, valid for ten minutes.
pub fn mint(signer: &JwtVerifier, user: &UserId) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    signer.mint(user, now, 600).expect("an HMAC signer mints")
}
