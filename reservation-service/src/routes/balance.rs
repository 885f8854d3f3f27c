//! The caller's balance: read it, top it up.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::extract::IdempotencyKey;
use shared::ids::UserId;
use shared::problem::Problem;

use super::{replay_response, stored_response};
use crate::domain::amount::ChargeAmount;
use crate::domain::receipt::BalanceView;
use crate::error::ReservationError;
use crate::state::AppState;
use crate::storage;
use crate::storage::balances::{ChargeOutcome, ChargeRequest};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChargeBody {
    /// A positive integer in the smallest currency unit, up to the
    /// configured maximum. Kept as a raw JSON number so that fractions and
    /// out-of-range values get `INVALID_AMOUNT` rather than a parse error.
    #[schema(value_type = i64, minimum = 1)]
    pub amount: serde_json::Number,
}

#[utoipa::path(
    get,
    path = "/v1/users/me/balance",
    tag = "balance",
    security(("bearer" = []), ("user_id_header" = [])),
        responses(
        (status = 200, body = BalanceView),
        (status = 401, description = "USER_ID_MISSING", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_balance(
    user: UserId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReservationError> {
    let balance = storage::balances::balance_of(&state.db, &user).await?;
    Ok(HttpResponse::Ok().json(BalanceView {
        user_id: user.to_string(),
        balance,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/users/me/balance/charges",
    tag = "balance",
    security(("bearer" = []), ("user_id_header" = [])),
    request_body = ChargeBody,
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 128, pattern = "^[!-~]+$",
         description = "Retries with the same key return the first response"),
    ),
    responses(
        (status = 200, body = BalanceView),
        (status = 400, description = "INVALID_AMOUNT, MALFORMED_JSON or IDEMPOTENCY_KEY_MISSING",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn charge(
    user: UserId,
    key: IdempotencyKey,
    state: web::Data<AppState>,
    body: web::Json<ChargeBody>,
) -> Result<HttpResponse, ReservationError> {
    let amount = ChargeAmount::parse(&body.amount, state.max_charge_amount)
        .map_err(|e| ReservationError::InvalidAmount(e.0))?;
    let request = ChargeRequest {
        user: &user,
        amount,
        idempotency_key: &key.0,
    };
    match storage::retry_on_deadlock(|| storage::balances::charge(&state.db, &request)).await? {
        ChargeOutcome::Charged(stored) => Ok(stored_response(stored)),
        ChargeOutcome::Replayed(replay) => replay_response(replay),
    }
}
