//! Balances: read, and top-ups ("charges") with an idempotency key.

use shared::ids::UserId;
use sqlx::mysql::MySql;
use sqlx::{Executor, MySqlConnection, MySqlPool, Transaction};

use super::idempotency::{self, Claim};
use crate::domain::amount::ChargeAmount;
use crate::domain::idempotency::{Fingerprint, Replay, StoredResponse};
use crate::domain::receipt::BalanceView;

/// The user's balance; a user who never topped up has 0.
#[tracing::instrument(skip_all)]
pub async fn balance_of(
    executor: impl Executor<'_, Database = MySql>,
    user: &UserId,
) -> Result<i64, sqlx::Error> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT balance FROM balances WHERE user_id = ?")
        .bind(user.as_str())
        .fetch_optional(executor)
        .await?;
    Ok(balance.unwrap_or(0))
}

#[derive(Debug, Clone)]
pub struct ChargeRequest<'a> {
    pub user: &'a UserId,
    pub amount: ChargeAmount,
    pub idempotency_key: &'a str,
}

impl ChargeRequest<'_> {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::charge(self.amount.get())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Charged(StoredResponse),
    Replayed(Replay),
}

/// Opens a transaction holding the lock on the user's balance row,
/// creating the row at 0 first if the user never had one (a row of 0 with
/// no ledger rows keeps balance = sum of ledger).
///
/// Every money-moving transaction starts here. A user's payments and
/// charges then run one at a time (they would serialize on this row's
/// update anyway), and retries of one request queue on an existing row
/// rather than on each other's idempotency records (see [`idempotency`]).
pub(crate) async fn begin_for_user(
    pool: &MySqlPool,
    user: &UserId,
) -> Result<Transaction<'static, MySql>, sqlx::Error> {
    for _ in 0..2 {
        let mut tx = pool.begin().await?;
        let locked = sqlx::query("SELECT 1 FROM balances WHERE user_id = ? FOR UPDATE")
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if locked.is_some() {
            return Ok(tx);
        }
        tx.rollback().await?;
        // Autocommitted, so simultaneous first requests of a new user wait
        // on each other for an instant and never on a rollback.
        sqlx::query("INSERT IGNORE INTO balances (user_id, balance) VALUES (?, 0)")
            .bind(user.as_str())
            .execute(pool)
            .await?;
    }
    Err(sqlx::Error::Protocol(
        "balance row missing right after it was created".into(),
    ))
}

/// Adds `amount` to the balance, with its ledger row and idempotency record,
/// in one transaction.
#[tracing::instrument(skip_all, fields(amount = request.amount.get()))]
pub async fn charge(
    pool: &MySqlPool,
    request: &ChargeRequest<'_>,
) -> Result<ChargeOutcome, sqlx::Error> {
    let fingerprint = request.fingerprint();
    let mut tx = begin_for_user(pool, request.user).await?;
    match idempotency::claim(&mut tx, request.user, request.idempotency_key, &fingerprint).await? {
        Claim::Claimed => match charge_claimed(&mut tx, request).await {
            Ok(response) => {
                tx.commit().await?;
                Ok(ChargeOutcome::Charged(response))
            }
            // The key is in the ledger already, from a request whose
            // record has since been purged: never charge it twice.
            Err(err) if super::is_unique_violation(&err) => {
                tx.rollback().await?;
                Ok(ChargeOutcome::Replayed(Replay::KeyReused))
            }
            Err(err) => Err(err),
        },
        Claim::Existing(replay) => {
            tx.rollback().await?;
            Ok(ChargeOutcome::Replayed(replay))
        }
    }
}

async fn charge_claimed(
    conn: &mut MySqlConnection,
    request: &ChargeRequest<'_>,
) -> Result<StoredResponse, sqlx::Error> {
    let amount = request.amount.get();
    sqlx::query("UPDATE balances SET balance = balance + ? WHERE user_id = ?")
        .bind(amount)
        .bind(request.user.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO balance_ledger (user_id, amount, kind, idempotency_key) \
         VALUES (?, ?, 'CHARGE', ?)",
    )
    .bind(request.user.as_str())
    .bind(amount)
    .bind(request.idempotency_key)
    .execute(&mut *conn)
    .await?;
    let balance = balance_of(&mut *conn, request.user).await?;
    let view = BalanceView {
        user_id: request.user.to_string(),
        balance,
    };
    let response = StoredResponse {
        status: 200,
        body: serde_json::to_string(&view).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
    };
    idempotency::complete(&mut *conn, request.user, request.idempotency_key, &response).await?;
    Ok(response)
}
