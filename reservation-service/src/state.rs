//! What every handler shares, built once at start-up.

use std::time::Duration;

use shared::redis_pool::RedisPool;
use sqlx::MySqlPool;

use crate::catalog::Catalog;
use crate::gate::Gate;
use crate::metrics::ReservationMetrics;

#[derive(Clone)]
pub struct AppState {
    pub db: MySqlPool,
    pub redis: RedisPool,
    pub gate: Gate,
    pub catalog: Catalog,
    pub hold_ttl: Duration,
    pub max_charge_amount: i64,
    pub metrics: ReservationMetrics,
}
