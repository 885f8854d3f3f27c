//! Idempotency records. A record is claimed as the first write of the
//! transaction that performs the effect and completed with the response as
//! its last, so others see it exactly when the effect committed; a failed
//! effect rolls the claim back with it.
//!
//! Simultaneous retries never race on the claim itself: every money-moving
//! transaction first locks the user's balance row
//! ([`super::balances::begin_for_user`]), so twins with the same
//! (user, key) queue on that existing row. When one gets its turn, the
//! previous holder has committed (the claim hits a duplicate at once and the
//! stored response is replayed) or rolled back (the claim succeeds and the
//! twin proceeds as if it were first). Letting twins wait on the
//! uncommitted record instead would leave them holding gap locks when the
//! first rolls back, and InnoDB would kill all but one as deadlocked.

use shared::ids::UserId;
use sqlx::mysql::MySql;
use sqlx::{Executor, MySqlConnection};

use super::is_unique_violation;
use crate::domain::idempotency::{Fingerprint, Replay, StoredResponse};

/// What an earlier request with this key left behind, judged against this one.
#[tracing::instrument(skip_all)]
pub async fn replay(
    executor: impl Executor<'_, Database = MySql>,
    user: &UserId,
    key: &str,
    fingerprint: &Fingerprint,
) -> Result<Option<Replay>, sqlx::Error> {
    let row: Option<(String, Option<u16>, Option<String>)> = sqlx::query_as(
        "SELECT request_fingerprint, response_status, response_body \
           FROM idempotency_keys WHERE user_id = ? AND idem_key = ?",
    )
    .bind(user.as_str())
    .bind(key)
    .fetch_optional(executor)
    .await?;
    let Some((stored_fingerprint, status, body)) = row else {
        return Ok(None);
    };
    let (Some(status), Some(body)) = (status, body) else {
        // Committed records always carry their response; see the module docs.
        return Err(sqlx::Error::Protocol(
            "idempotency record committed without a response".into(),
        ));
    };
    Ok(Some(Replay::judge(
        &stored_fingerprint,
        StoredResponse { status, body },
        fingerprint,
    )))
}

/// The outcome of claiming a key inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This transaction owns the key: perform the effect, then [`complete`].
    Claimed,
    /// A request with this key has committed: roll back and answer with this.
    Existing(Replay),
}

/// Claims the key. Call with the user's balance row locked (see module docs).
pub async fn claim(
    conn: &mut MySqlConnection,
    user: &UserId,
    key: &str,
    fingerprint: &Fingerprint,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_fingerprint) VALUES (?, ?, ?)",
    )
    .bind(user.as_str())
    .bind(key)
    .bind(fingerprint.as_str())
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(Claim::Claimed),
        Err(err) if is_unique_violation(&err) => {
            // A failed statement does not end the transaction; under READ
            // COMMITTED this read sees the committed record.
            let replay = replay(&mut *conn, user, key, fingerprint)
                .await?
                .ok_or_else(|| {
                    sqlx::Error::Protocol("idempotency record vanished after a conflict".into())
                })?;
            Ok(Claim::Existing(replay))
        }
        Err(err) => Err(err),
    }
}

/// Stores the response the claimed request is about to give.
pub async fn complete(
    conn: &mut MySqlConnection,
    user: &UserId,
    key: &str,
    response: &StoredResponse,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = ?, response_body = ? \
          WHERE user_id = ? AND idem_key = ?",
    )
    .bind(response.status)
    .bind(&response.body)
    .bind(user.as_str())
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes up to `batch` records older than `retention`, oldest first,
/// through the `created_at` index. Returns how many went.
#[tracing::instrument(skip_all, fields(batch))]
pub async fn purge_older_than(
    executor: impl Executor<'_, Database = MySql>,
    retention: std::time::Duration,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM idempotency_keys \
          WHERE created_at < NOW(3) - INTERVAL ? SECOND \
          ORDER BY created_at LIMIT ?",
    )
    .bind(retention.as_secs())
    .bind(batch)
    .execute(executor)
    .await?
    .rows_affected())
}
