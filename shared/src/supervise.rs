//! Serving HTTP with background workers beside it (the scheduler, the
//! hold-expiry sweep, ...), under one rule: the process lives as long as
//! all of them do. SIGTERM stops the server, which drains in-flight
//! requests; the workers are then told to stop and awaited. A worker that
//! exits on its own is reported and stops the server too, so the
//! orchestrator restarts a replica rather than leaving it half-working.

use actix_web::dev::Server;
use futures_util::future::select_all;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A background task and the name it is reported by.
pub struct Worker {
    pub name: &'static str,
    pub task: JoinHandle<()>,
}

impl Worker {
    /// Spawns `task` on the runtime.
    pub fn spawn(
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            name,
            task: tokio::spawn(task),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisionError {
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
    #[error("the {0} worker exited unexpectedly")]
    WorkerExited(&'static str),
}

/// Runs `server` until it stops, with `workers` beside it; `shutdown` is the
/// token the workers watch.
pub async fn serve_with_workers(
    server: Server,
    shutdown: CancellationToken,
    workers: Vec<Worker>,
) -> Result<(), SupervisionError> {
    if workers.is_empty() {
        return server.await.map_err(SupervisionError::Server);
    }
    let handle = server.handle();
    let names: Vec<&'static str> = workers.iter().map(|w| w.name).collect();
    let mut tasks: Vec<JoinHandle<()>> = workers.into_iter().map(|w| w.task).collect();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        served = &mut server => {
            shutdown.cancel();
            for (name, task) in names.iter().zip(tasks) {
                if let Err(err) = task.await {
                    tracing::error!(worker = name, error = %err, "worker failed during shutdown");
                }
            }
            served.map_err(SupervisionError::Server)
        }
        (exited, index, _) = select_all(tasks.iter_mut()) => {
            let name = names[index];
            tracing::error!(worker = name, ?exited, "a worker exited; stopping the server");
            shutdown.cancel();
            handle.stop(true).await;
            let _ = server.await;
            Err(SupervisionError::WorkerExited(name))
        }
    }
}
