//! A small load generator for the benchmarks: a lean HTTP/1.1 keep-alive
//! client (so the generator spends little of the machine's two cores),
//! closed-loop and open-loop runners, HDR latency histograms, and fixtures
//! that fill a queue straight into Redis.

pub mod fixtures;
pub mod http1;
pub mod runner;
pub mod suite;
