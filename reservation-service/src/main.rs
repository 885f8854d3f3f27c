//! `reservation-service` serves the API; `reservation-service migrate`
//! applies the database migrations and exits.

use std::process::ExitCode;

use reservation_service::config::Settings;
use reservation_service::error::error_chain;
use reservation_service::startup::{self, Application};

#[tokio::main]
async fn main() -> ExitCode {
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
            eprintln!(
                "reservation-service: unknown command {other:?}; usage: reservation-service [migrate]"
            );
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
