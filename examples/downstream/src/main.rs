//! The example downstream service: reads its settings from the environment (see [`Settings`]),
//! builds the verifier and serves until stopped.

use std::net::TcpListener;

use anyhow::Context;
use downstream_example::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let settings = Settings::from_env()?;
    tracing::info!(settings = ?settings, "starting");
    let verifier = settings.verifier().await.context("building the token verifier")?;
    let listener = TcpListener::bind(&settings.listen)
        .with_context(|| format!("binding DOWNSTREAM_LISTEN={}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    downstream_example::run(listener, verifier)?.await?;
    Ok(())
}
