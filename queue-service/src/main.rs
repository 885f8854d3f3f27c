use std::io::Write as _;
use std::process::ExitCode;

use queue_service::config::Settings;
use queue_service::startup::Application;
use shared::problem::error_chain;

const USAGE: &str = "\
queue-service: a fair, bounded virtual waiting line on Redis

Usage: queue-service [--help]

Configured by environment variables (see the README for all of them):
  PORT, BIND_ADDR                 where to listen (8081, 127.0.0.1)
  REDIS_URL                       the queue's Redis
  REDIS_KEY_PREFIX                namespace shared with the reservation service
  QUEUE_TOKEN_SECRET              HMAC key of queue tokens (required)
  ADMIN_API_KEY                   bearer key of /v1/admin/* (required)
  AUTH_MODE                       jwt (default) or trusted-header
  AUTH_JWT_SECRET | AUTH_JWT_PUBLIC_KEY_FILE | AUTH_JWT_JWKS_FILE
  AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE, AUTH_DEV_SIGNIN (development only)
  TRUSTED_PROXIES                 CIDRs whose X-Forwarded-For is believed
  CONFIG_FILE                     optional TOML file, e.g. [queues.<id>] declarations
";

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        let _ = std::io::stdout().write_all(USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    if let Some(other) = std::env::args().nth(1) {
        eprintln!("queue-service: unknown argument {other:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let settings = match Settings::load(&shared::config::process_env()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("queue-service: {err}");
            return ExitCode::FAILURE;
        }
    };
    shared::telemetry::init(settings.log.format);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "start-up failed");
            eprintln!("queue-service: {}", error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = app.port(), "queue-service listening");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "queue-service stopped with an error");
            ExitCode::FAILURE
        }
    }
}
