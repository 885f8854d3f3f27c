//! The queue service: issues queue tokens, answers heartbeats with position
//! and ETA, and promotes waiting users at a bounded pace. State lives in
//! Redis; see `shared::queue` for the key layout.

pub mod config;
pub mod domain;
pub mod draw;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod pow;
pub mod routes;
pub mod scheduler;
pub mod startup;
pub mod state;
pub mod store;
