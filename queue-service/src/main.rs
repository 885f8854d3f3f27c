use std::process::ExitCode;

use queue_service::config::Settings;
use queue_service::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
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
            tracing::error!(error = %queue_service::error::error_chain(&err), "start-up failed");
            eprintln!("queue-service: {}", queue_service::error::error_chain(&err));
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
