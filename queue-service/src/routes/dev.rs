//! The development sign-in: mints a short-lived JWT for any user id, so the
//! demo page, the load scripts and curl examples work in JWT mode without
//! an identity provider. Mounted only with `AUTH_DEV_SIGNIN=true`, which no
//! image or production default sets.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::auth::Authenticator;
use shared::ids::UserId;
use shared::problem::Problem;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub user_id: UserId,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignInResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user_id: UserId,
}

/// Development only: a bearer token for any user id.
#[utoipa::path(
    post,
    path = "/v1/dev/sign-in",
    request_body = SignInRequest,
    responses(
        (status = 200, body = SignInResponse),
        (status = 400, description = "MALFORMED_JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Development sign-in is off", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "development"
)]
pub async fn sign_in(
    authenticator: web::Data<Authenticator>,
    body: web::Json<SignInRequest>,
) -> HttpResponse {
    let user = body.into_inner().user_id;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match authenticator.dev_sign_in(&user, now) {
        Some(token) => HttpResponse::Ok().json(SignInResponse {
            access_token: token.access_token,
            token_type: "Bearer",
            expires_in: token.expires_in,
            user_id: user,
        }),
        None => shared::problem::not_found_response(),
    }
}
