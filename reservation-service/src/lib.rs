//! The reservation service: concerts, schedules and seats; seat holds that
//! never oversell; payments from a pre-charged balance that never lose
//! money; and the queue gate that admits only callers whose queue token is
//! active. See `startup` for how the pieces are wired.

pub mod catalog;
pub mod config;
pub mod domain;
pub mod error;
pub mod expiry;
pub mod gate;
pub mod metrics;
pub mod openapi;
pub mod origin_health;
pub mod purchase;
pub mod purge;
pub mod routes;
pub mod seats_feed;
pub mod startup;
pub mod state;
pub mod storage;
