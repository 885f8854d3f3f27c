//! Building the application (listener, pools, migrations, HTTP server)
//! separately from running it, so tests can start it on port 0 and learn
//! the port before serving.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
pub use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, middleware, web};
use shared::auth::{AuthSettings, AuthSettingsError, Authenticator};
use shared::config::SettingsError;
use shared::extract::AdminApiKey;
use shared::http::RequestDeadline;
use shared::metrics::Metrics;
use shared::outage::{OutageWatch, Probe};
use shared::redis_pool::{RedisFailure, RedisPool};
pub use shared::supervise::SupervisionError as RunError;
use shared::supervise::{Worker, serve_with_workers};
use shared::token::TokenCodec;
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::gate::Gate;
use crate::metrics::ReservationMetrics;
use crate::origin_health::RequestWindow;
use crate::origin_health::publisher::HealthPublisher;
use crate::seats_feed::SeatsFeed;
use crate::state::AppState;
use crate::{expiry, purge, routes, storage};

/// In-flight requests get this long to finish after SIGTERM.
const SHUTDOWN_GRACE_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Auth(#[from] AuthSettingsError),
    #[error("cannot listen on {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid database settings")]
    Database(#[source] sqlx::Error),
    #[error("database migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot set up the redis pool")]
    Redis(#[from] RedisFailure),
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the HTTP server")]
    Server(#[source] std::io::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    db: MySqlPool,
    redis: RedisPool,
    settings: Settings,
    metrics: ReservationMetrics,
    /// Names this replica in the seat feed lease and the health hash.
    replica_id: String,
    requests: Arc<RequestWindow>,
}

impl Application {
    /// Binds the listener, builds both pools once, runs migrations and
    /// prepares the HTTP server. Refuses to build without the secrets.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        settings.http.validate()?;
        let secrets = settings.secrets.require()?;
        // The development sign-in is the queue service's; this service only
        // verifies the tokens it mints.
        let authenticator = Authenticator::from_settings(&AuthSettings {
            dev_signin: false,
            ..settings.auth.clone()
        })?;
        tracing::info!("{}", authenticator.describe());
        let address = format!("{}:{}", settings.http.bind_addr, settings.http.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?
            .port();

        let db = storage::build_pool(&settings.database).map_err(StartupError::Database)?;
        storage::migrate(&db).await?;
        let redis = shared::redis_pool::build_pool(&settings.redis)?;
        shared::redis_pool::warn_if_not_persistent(&redis, &settings.redis).await;

        let metrics = Metrics::new("reservation-service");
        let reservation_metrics = ReservationMetrics::register(metrics.registry())?;
        let outages = web::Data::new(OutageWatch::new(
            metrics.registry(),
            vec![
                (crate::error::MYSQL, mysql_probe(&db)),
                (crate::error::REDIS, shared::redis_pool::probe(&redis)),
            ],
        )?);
        let state = AppState {
            db: db.clone(),
            redis: redis.clone(),
            gate: Gate::new(TokenCodec::new(&secrets.queue_token_secret), redis.clone()),
            catalog: Catalog::new(db.clone()),
            hold_ttl: settings.holds.ttl(),
            max_charge_amount: settings.balance.max_charge_amount,
            metrics: reservation_metrics.clone(),
        };
        let state = web::Data::new(state);
        let metrics = web::Data::new(metrics);
        let requests = Arc::new(RequestWindow::default());
        let request_window = web::Data::from(requests.clone());
        let admin_key = web::Data::new(AdminApiKey(secrets.admin_api_key));
        let authenticator = web::Data::new(authenticator);
        let deadline = web::Data::new(RequestDeadline(settings.http.request_deadline()));
        let document = web::Data::new(crate::openapi::Document(
            crate::openapi::document(settings.balance.max_charge_amount).into(),
        ));

        let cors_origins = settings.http.cors_allowed_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(shared::http::method_errors_as_problems())
                // Inside CORS and the latency metric, so a 408 is both
                // readable by a browser and counted.
                .wrap(middleware::from_fn(shared::http::enforce_request_deadline))
                .wrap(shared::http::cors(&cors_origins))
                .wrap(middleware::from_fn(shared::outage::record_refusals))
                .wrap(middleware::from_fn(shared::metrics::record_request_latency))
                .wrap(middleware::from_fn(
                    crate::origin_health::record_api_requests,
                ))
                // Outermost: every line logged and every answer given,
                // errors included, carries the request's id.
                .wrap(middleware::from_fn(shared::request_id::assign))
                .app_data(request_window.clone())
                .app_data(deadline.clone())
                .app_data(document.clone())
                .app_data(outages.clone())
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(admin_key.clone())
                .app_data(authenticator.clone())
                .configure(shared::http::configure_error_handling)
                .configure(routes::configure)
        })
        .keep_alive(shared::http::KEEP_ALIVE)
        .max_connections(settings.http.max_connections_per_worker)
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(StartupError::Server)?.run();
        tracing::info!(port, "reservation-service listening");

        Ok(Application {
            port,
            server,
            db,
            redis,
            settings,
            metrics: reservation_metrics,
            replica_id: uuid::Uuid::new_v4().simple().to_string(),
            requests,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// This replica's id: the seat feed lease's value while it holds it,
    /// and its field in the origin health hash.
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// A handle to stop the server (e.g. from tests); SIGTERM does the same.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGTERM drains in-flight requests),
    /// with the hold-expiry sweep, the idempotency purge, the seat feed and
    /// the health publisher beside it (see `shared::supervise`).
    pub async fn run_until_stopped(self) -> Result<(), RunError> {
        let shutdown = CancellationToken::new();
        let workers = vec![
            Worker::spawn(
                "hold-expiry",
                expiry::run(
                    self.db.clone(),
                    self.settings.holds.sweep_interval(),
                    self.settings.holds.sweep_batch,
                    self.metrics.clone(),
                    shutdown.clone(),
                ),
            ),
            Worker::spawn(
                "idempotency-purge",
                purge::run(
                    self.db.clone(),
                    self.settings.idempotency.clone(),
                    shutdown.clone(),
                ),
            ),
            Worker::spawn(
                "seats-feed",
                SeatsFeed {
                    db: self.db.clone(),
                    redis: self.redis.clone(),
                    owner: self.replica_id.clone(),
                    interval: self.settings.seats_feed.interval(),
                    metrics: self.metrics.clone(),
                }
                .run(shutdown.clone()),
            ),
            Worker::spawn(
                "origin-health",
                HealthPublisher {
                    db: self.db.clone(),
                    redis: self.redis.clone(),
                    replica: self.replica_id.clone(),
                    window: self.requests.clone(),
                    interval: self.settings.origin_health.interval(),
                    metrics: self.metrics.clone(),
                }
                .run(shutdown.clone()),
            ),
        ];
        let result = serve_with_workers(self.server, shutdown, workers).await;
        self.db.close().await;
        result
    }
}

fn mysql_probe(db: &MySqlPool) -> Probe {
    let db = db.clone();
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&db)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    })
}

/// `reservation-service migrate`: apply migrations and exit.
pub async fn migrate_only(settings: &Settings) -> Result<(), StartupError> {
    let db = storage::build_pool(&settings.database).map_err(StartupError::Database)?;
    storage::migrate(&db).await?;
    db.close().await;
    Ok(())
}
