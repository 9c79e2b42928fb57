//! The `auth-http` binary: reads the configuration, installs logging, runs the chosen command.

use std::process::ExitCode;

use auth_http::cli::{Cli, Command, print_openapi, run};
use auth_http::config::{Settings, SettingsSource};
use auth_http::telemetry;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The document depends on the code only: printing it needs no configuration.
    if matches!(cli.command, Some(Command::Openapi)) {
        return match print_openapi() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("auth-http: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    // Every setting is checked before anything listens or touches the database.
    let loaded = SettingsSource::from_process()
        .and_then(|source| Settings::load(&source).map(|settings| (settings, source.unread_variables())));
    let (settings, unread_variables) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("auth-http: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let tracer_provider = match telemetry::tracer_provider_from_env() {
        Ok(provider) => provider,
        Err(error) => {
            eprintln!("auth-http: invalid configuration: {error:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::install(telemetry::subscriber(
        settings.server.log_format.unwrap_or_else(telemetry::default_format),
        std::io::stderr,
        tracer_provider.as_ref(),
    ));
    for variable in &unread_variables {
        tracing::warn!(setting = %variable, "this AUTH_ variable is not a setting and is ignored: check its spelling");
    }
    let outcome = run(cli.command.unwrap_or(Command::Serve { migrate: false }), settings).await;
    if let Some(provider) = tracer_provider {
        // Sends the spans still batched; the exporter's own timeout bounds the wait.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "auth-http failed");
            eprintln!("auth-http: {error:#}");
            ExitCode::FAILURE
        }
    }
}
