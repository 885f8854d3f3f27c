//! `reservation-service` serves the API; `reservation-service migrate`
//! applies the database migrations and exits.

use std::io::Write as _;
use std::process::ExitCode;

use reservation_service::config::Settings;
use reservation_service::error::error_chain;
use reservation_service::startup::{self, Application};

const USAGE: &str = "\
reservation-service: concerts, seat holds and payments behind the queue gate

Usage: reservation-service [migrate | --help]
  migrate    apply the database migrations and exit

Configured by environment variables (see the README for all of them):
  PORT, BIND_ADDR                 where to listen (8082, 127.0.0.1)
  DATABASE_URL                    MySQL 8.x or MariaDB 10.11+
  REDIS_URL                       the queue's Redis
  REDIS_KEY_PREFIX                namespace shared with the queue service
  QUEUE_TOKEN_SECRET              HMAC key of queue tokens (required)
  ADMIN_API_KEY                   bearer key of /v1/admin/* (required)
  AUTH_MODE                       jwt (default) or trusted-header
  AUTH_JWT_SECRET | AUTH_JWT_PUBLIC_KEY_FILE | AUTH_JWT_JWKS_FILE
  AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE
  HOLD_TTL_SECONDS                seat hold lifetime (300)
  IDEMPOTENCY_RETENTION_HOURS     how long Idempotency-Key answers are kept (168)
  SEATS_FEED_INTERVAL_MS          how often seats left are written for the queue (500)
  ORIGIN_HEALTH_INTERVAL_MS       how often this replica's health is published (1000)
";

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        let _ = std::io::stdout().write_all(USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&shared::config::process_env()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("reservation-service: {err}");
            return ExitCode::FAILURE;
        }
    };
    shared::telemetry::init(settings.log.format);

    let outcome = match std::env::args().nth(1).as_deref() {
        None => serve(settings).await,
        Some("migrate") => startup::migrate_only(&settings)
            .await
            .map(|()| tracing::info!("migrations applied"))
            .map_err(|e| error_chain(&e)),
        Some(other) => {
            eprintln!("reservation-service: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(chain) => {
            tracing::error!(error.chain = %chain, "reservation-service failed");
            eprintln!("reservation-service: {chain}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let app = Application::build(settings)
        .await
        .map_err(|e| error_chain(&e))?;
    app.run_until_stopped().await.map_err(|e| error_chain(&e))
}
