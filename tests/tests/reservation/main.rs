//! API tests of the reservation service: the real service on a random
//! port, a fresh MariaDB database per test, the shared Redis with a queue
//! id per test.

mod auth;
mod balance;
mod catalog;
mod errors;
mod expiry;
mod holds;
mod housekeeping;
mod operations;
mod origin;
mod outages;
mod payments;
mod purchase;
mod request_ids;

use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::Barrier;

/// Runs `tasks` on separate tokio tasks, released together by a barrier so
/// they really hit the service at the same moment.
pub async fn all_at_once<T, F, Fut>(count: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let handles = (0..count).map(|i| {
        let barrier = Arc::clone(&barrier);
        let work = task(i);
        tokio::spawn(async move {
            barrier.wait().await;
            work.await
        })
    });
    join_all(handles)
        .await
        .into_iter()
        .map(|joined| joined.expect("task panicked"))
        .collect()
}
