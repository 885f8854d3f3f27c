use shared::token::TokenCodec;

use crate::metrics::QueueMetrics;
use crate::store::QueueStore;

/// What every handler shares; built once at start-up.
pub struct QueueState {
    pub store: QueueStore,
    pub codec: TokenCodec,
    pub metrics: QueueMetrics,
}
