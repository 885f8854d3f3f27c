//! Building blocks that both services share: layered configuration, caller
//! authentication and client addresses, the queue-token codec, the queue's
//! Redis key layout and the two queue operations the reservation service
//! runs itself, request extractors, problem+json errors, request ids, HTTP
//! metrics and tracing set-up.

pub mod auth;
pub mod client_addr;
pub mod config;
pub mod extract;
pub mod http;
pub mod ids;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod outage;
pub mod problem;
pub mod queue;
pub mod redis_pool;
pub mod request_id;
pub mod rfc3339;
pub mod supervise;
pub mod telemetry;
pub mod token;
