//! The bodies of money-moving responses. They are stored with the
//! idempotency record and replayed verbatim, so their shape is part of the
//! record's contract.

use serde::Serialize;

use super::reservation::ReservationStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PaymentReceipt {
    pub payment_id: u64,
    pub reservation_id: u64,
    /// The price paid, in the smallest currency unit.
    pub amount: i64,
    /// The balance left after the payment.
    pub balance: i64,
    /// Always `confirmed`.
    pub status: ReservationStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub user_id: String,
    pub balance: i64,
}
