//! Building the app (pools, listener, server) apart from running it, so
//! tests can bind port 0 and learn the port before serving.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use shared::auth::{AuthSettingsError, Authenticator};
use shared::client_addr::{InvalidTrustedProxies, TrustedProxies};
use shared::config::SettingsError;
use shared::extract::AdminApiKey;
use shared::http::RequestDeadline;
use shared::metrics::Metrics;
use shared::outage::OutageWatch;
use shared::redis_pool::{RedisFailure, build_pool};
use shared::supervise::{SupervisionError, Worker, serve_with_workers};
use shared::token::TokenCodec;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::metrics::QueueMetrics;
use crate::pow::PowCodec;
use crate::routes;
use crate::scheduler::Scheduler;
use crate::state::QueueState;
use crate::store::{IssueWait, QueueStore};

/// Seconds a stopping server gives in-flight requests.
const SHUTDOWN_GRACE_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Auth(#[from] AuthSettingsError),
    #[error(transparent)]
    TrustedProxies(#[from] InvalidTrustedProxies),
    #[error("cannot set up redis")]
    Redis(#[from] RedisFailure),
    #[error("cannot listen on the configured address")]
    Listen(#[from] std::io::Error),
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    scheduler: Option<Scheduler>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.http.validate()?;
        settings.issue.validate(&settings.redis)?;
        let secrets = settings.secrets.require()?;
        let authenticator = Authenticator::from_settings(&settings.auth)?;
        let trusted_proxies = TrustedProxies::parse(&settings.http.trusted_proxies)?;
        let declared = settings.declared_queues()?;
        tracing::info!("{}", authenticator.describe());
        let metrics = Metrics::new("queue-service");
        let queue_metrics = QueueMetrics::register(metrics.registry())?;
        let store = QueueStore::new(build_pool(&settings.redis)?).with_issue_wait(IssueWait::new(
            settings.issue.wait_replicas,
            settings.issue.wait_timeout_ms,
            queue_metrics.issue_unreplicated.clone(),
        ));
        shared::redis_pool::warn_if_not_persistent(store.pool(), &settings.redis).await;
        let outages = web::Data::new(OutageWatch::new(
            metrics.registry(),
            vec![(crate::error::REDIS, shared::redis_pool::probe(store.pool()))],
        )?);

        let listener = TcpListener::bind((settings.http.bind_addr.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();

        let scheduler = settings.scheduler.enabled.then(|| {
            Scheduler::new(
                store.clone(),
                queue_metrics.clone(),
                Duration::from_millis(settings.scheduler.tick_ms.max(10)),
                settings.scheduler.eviction_batch.max(1),
                declared.clone(),
            )
        });
        let dev_sign_in = settings.auth.dev_signin;
        let state = web::Data::new(QueueState {
            store,
            codec: TokenCodec::new(&secrets.queue_token_secret),
            pow: PowCodec::new(&secrets.queue_token_secret),
            metrics: queue_metrics,
            declared: declared.into_iter().map(|(queue, _)| queue).collect(),
        });
        let metrics = web::Data::new(metrics);
        let admin_key = web::Data::new(AdminApiKey(secrets.admin_api_key));
        let authenticator = web::Data::new(authenticator);
        let trusted_proxies = web::Data::new(trusted_proxies);
        let deadline = web::Data::new(RequestDeadline(settings.http.request_deadline()));

        let cors_origins = settings.http.cors_allowed_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(shared::http::method_errors_as_problems())
                // Inside CORS and the latency metric, so a 408 is both
                // readable by a browser and counted.
                .wrap(from_fn(shared::http::enforce_request_deadline))
                .wrap(shared::http::cors(&cors_origins))
                .wrap(from_fn(shared::outage::record_refusals))
                .wrap(from_fn(shared::metrics::record_request_latency))
                // Outermost: every line logged and every answer given,
                // errors included, carries the request's id.
                .wrap(from_fn(shared::request_id::assign))
                .app_data(deadline.clone())
                .app_data(outages.clone())
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(admin_key.clone())
                .app_data(authenticator.clone())
                .app_data(trusted_proxies.clone())
                .configure(routes::configure)
                .configure(|cfg| {
                    if dev_sign_in {
                        routes::configure_dev_sign_in(cfg);
                    }
                })
                .configure(shared::http::configure_error_handling)
        })
        .listen(listener)?
        .keep_alive(shared::http::KEEP_ALIVE)
        .max_connections(settings.http.max_connections_per_worker)
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            scheduler,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT (actix drains in-flight requests), with
    /// the scheduler beside it (see `shared::supervise`): a scheduler that
    /// dies stops the server so the orchestrator restarts the replica rather
    /// than leaving a queue unticked.
    pub async fn run_until_stopped(self) -> Result<(), SupervisionError> {
        let shutdown = CancellationToken::new();
        let workers = self
            .scheduler
            .map(|scheduler| Worker::spawn("scheduler", scheduler.run(shutdown.clone())))
            .into_iter()
            .collect();
        serve_with_workers(self.server, shutdown, workers).await
    }
}
