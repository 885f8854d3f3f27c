use shared::ids::QueueId;
use shared::token::TokenCodec;

use crate::metrics::QueueMetrics;
use crate::pow::PowCodec;
use crate::store::QueueStore;

/// What every handler shares; built once at start-up.
pub struct QueueState {
    pub store: QueueStore,
    pub codec: TokenCodec,
    pub pow: PowCodec,
    pub metrics: QueueMetrics,
    /// Queues declared in the configuration; an admin cannot delete them.
    pub declared: Vec<QueueId>,
}
