//! Queue-service API tests against the real Redis. Each test uses its own
//! queue ids, so they run in parallel with each other and with other suites.

mod admission;
mod auth;
mod bots;
mod draw;
mod errors;
mod estimate;
mod eviction;
mod fairness;
mod faults;
mod lifecycle;
mod limits;
mod ops;
mod poll_budget;
mod request_ids;
mod sale;
