//! Paying for a held seat from the balance, in one transaction.

use shared::ids::UserId;
use sqlx::{MySqlConnection, MySqlPool};

use super::idempotency::{self, Claim};
use super::{balances, is_unique_violation, reservations};
use crate::domain::idempotency::{Fingerprint, Replay, StoredResponse};
use crate::domain::ids::ReservationId;
use crate::domain::receipt::PaymentReceipt;
use crate::domain::reservation::{ReservationStatus, StoredReservationStatus};

#[derive(Debug, Clone)]
pub struct PaymentRequest<'a> {
    pub user: &'a UserId,
    pub reservation_id: ReservationId,
    pub idempotency_key: &'a str,
}

impl PaymentRequest<'_> {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::payment(self.reservation_id.get())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Committed now; the response was stored with the idempotency record.
    Paid(StoredResponse),
    /// The key was used before (possibly by a twin that committed first).
    Replayed(Replay),
    NotFound,
    /// Decided against the payment; nothing moved, and the answer is stored
    /// under the key so a retry with it gets the same answer.
    Refused {
        refusal: PaymentRefusal,
        response: StoredResponse,
    },
}

/// Why a payment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRefusal {
    AlreadyConfirmed,
    HoldExpired,
    InsufficientBalance,
}

/// What the claimed transaction decided, before it is committed.
enum Decision {
    Paid(StoredResponse),
    NotFound,
    Refused(PaymentRefusal),
    /// The key is in the ledger already: used by a request whose record
    /// has since been purged.
    KeyUsedBefore,
}

/// Pays for the caller's held reservation. Every step is conditional and
/// a failed one rolls back all of them; a refusal (402, 409) keeps only the
/// idempotency record, holding the refusal, so the same key answers the
/// same way on a retry (a client that tops up retries with a new key):
///
/// 0. lock the user's balance row (a user's payments run one at a time);
/// 1. claim the idempotency key (a committed twin → replay its response;
///    see [`idempotency`] for simultaneous twins);
/// 2. seat HELD → SOLD, only for this reservation and while the hold runs;
/// 3. debit the balance only if it covers the price;
/// 4. reservation HELD → CONFIRMED; payment row (unique per reservation);
///    ledger row; store the response.
///
/// Locks are taken balance → idempotency record → seat → reservation. The
/// hold, release and expiry paths take seat → reservation and never a
/// balance, so none of them can deadlock with a payment.
///
/// `render` gives the response a refusal is answered with.
#[tracing::instrument(skip_all, fields(reservation.id = %request.reservation_id))]
pub async fn pay(
    pool: &MySqlPool,
    request: &PaymentRequest<'_>,
    render: impl Fn(PaymentRefusal) -> StoredResponse,
) -> Result<PaymentOutcome, sqlx::Error> {
    let fingerprint = request.fingerprint();
    let mut tx = balances::begin_for_user(pool, request.user).await?;
    match idempotency::claim(&mut tx, request.user, request.idempotency_key, &fingerprint).await? {
        Claim::Claimed => {}
        Claim::Existing(replay) => {
            tx.rollback().await?;
            return Ok(PaymentOutcome::Replayed(replay));
        }
    }
    sqlx::query("SAVEPOINT claimed").execute(&mut *tx).await?;
    match pay_claimed(&mut tx, request).await? {
        Decision::Paid(response) => {
            tx.commit().await?;
            Ok(PaymentOutcome::Paid(response))
        }
        Decision::NotFound => {
            tx.rollback().await?;
            Ok(PaymentOutcome::NotFound)
        }
        Decision::KeyUsedBefore => {
            tx.rollback().await?;
            Ok(PaymentOutcome::Replayed(Replay::KeyReused))
        }
        Decision::Refused(refusal) => {
            sqlx::query("ROLLBACK TO SAVEPOINT claimed")
                .execute(&mut *tx)
                .await?;
            let response = render(refusal);
            idempotency::complete(&mut tx, request.user, request.idempotency_key, &response)
                .await?;
            tx.commit().await?;
            Ok(PaymentOutcome::Refused { refusal, response })
        }
    }
}

async fn pay_claimed(
    conn: &mut MySqlConnection,
    request: &PaymentRequest<'_>,
) -> Result<Decision, sqlx::Error> {
    let id = request.reservation_id;
    let Some(reservation) = reservations::find_owned(&mut *conn, id, request.user).await? else {
        return Ok(Decision::NotFound);
    };
    match reservations::parse_status(&reservation.status)? {
        StoredReservationStatus::Held => {}
        StoredReservationStatus::Confirmed => {
            return Ok(Decision::Refused(PaymentRefusal::AlreadyConfirmed));
        }
        StoredReservationStatus::Expired | StoredReservationStatus::Released => {
            return Ok(Decision::Refused(PaymentRefusal::HoldExpired));
        }
    }

    // The seat is sold only under this reservation's own hold, identified by
    // holder and expiry, and only while that hold runs.
    let sold = sqlx::query(
        "UPDATE seats SET status = 'SOLD', hold_expires_at = NULL \
          WHERE id = ? AND status = 'HELD' AND holder_user_id = ? AND hold_expires_at = ? \
            AND hold_expires_at > NOW(3)",
    )
    .bind(reservation.seat_id)
    .bind(request.user.as_str())
    .bind(reservation.hold_expires_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if sold == 0 {
        // Either the hold lapsed, or a payment under another key won the
        // seat lock first; after waiting for it this read sees its commit.
        return Ok(Decision::Refused(
            match reservations::status_of(&mut *conn, id).await? {
                Some(StoredReservationStatus::Confirmed) => PaymentRefusal::AlreadyConfirmed,
                _ => PaymentRefusal::HoldExpired,
            },
        ));
    }

    let debited =
        sqlx::query("UPDATE balances SET balance = balance - ? WHERE user_id = ? AND balance >= ?")
            .bind(reservation.price)
            .bind(request.user.as_str())
            .bind(reservation.price)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if debited == 0 {
        return Ok(Decision::Refused(PaymentRefusal::InsufficientBalance));
    }

    let confirmed = sqlx::query(
        "UPDATE reservations SET status = 'CONFIRMED' WHERE id = ? AND status = 'HELD'",
    )
    .bind(id.get())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if confirmed == 0 {
        // The expiry worker marked it in the instant since the seat update.
        return Ok(Decision::Refused(PaymentRefusal::HoldExpired));
    }

    let inserted =
        sqlx::query("INSERT INTO payments (reservation_id, user_id, amount) VALUES (?, ?, ?)")
            .bind(id.get())
            .bind(request.user.as_str())
            .bind(reservation.price)
            .execute(&mut *conn)
            .await;
    let payment_id = match inserted {
        Ok(done) => done.last_insert_id(),
        // Second line of defence: one payment per reservation.
        Err(err) if is_unique_violation(&err) => {
            return Ok(Decision::Refused(PaymentRefusal::AlreadyConfirmed));
        }
        Err(err) => return Err(err),
    };
    let ledger = sqlx::query(
        "INSERT INTO balance_ledger (user_id, amount, kind, payment_id, idempotency_key) \
         VALUES (?, ?, 'PAYMENT', ?, ?)",
    )
    .bind(request.user.as_str())
    .bind(-reservation.price)
    .bind(payment_id)
    .bind(request.idempotency_key)
    .execute(&mut *conn)
    .await;
    match ledger {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => return Ok(Decision::KeyUsedBefore),
        Err(err) => return Err(err),
    }
    let balance: i64 = sqlx::query_scalar("SELECT balance FROM balances WHERE user_id = ?")
        .bind(request.user.as_str())
        .fetch_one(&mut *conn)
        .await?;

    let receipt = PaymentReceipt {
        payment_id,
        reservation_id: id.get(),
        amount: reservation.price,
        balance,
        status: ReservationStatus::Confirmed,
    };
    let response = StoredResponse {
        status: 200,
        body: serde_json::to_string(&receipt).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
    };
    idempotency::complete(&mut *conn, request.user, request.idempotency_key, &response).await?;
    Ok(Decision::Paid(response))
}
