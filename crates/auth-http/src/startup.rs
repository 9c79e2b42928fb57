//! Wiring: builds the components from the settings, starts the background tasks, binds the
//! servers, and stops it all in order. Each job has its module below.

mod background;
mod components;
mod database;
mod keys;
mod mail;
mod revocations;
mod server;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context;

pub use self::background::BackgroundTask;
pub use self::components::Components;
pub use self::database::{BootstrapError, Database, MigrationPolicy};
pub use self::keys::key_policy;
pub use self::server::MAX_BODY_BYTES;
use crate::config::Settings;
use crate::tasks::Deferred;

/// How long shutdown waits for the work requests handed off (mail to queue) once they are served.
const DEFERRED_DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How long shutdown waits for the background loops to finish the step they are in.
const BACKGROUND_STOP_LIMIT: Duration = Duration::from_secs(3);

/// The server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The server of AUTH_METRICS_LISTEN, and its port.
    metrics: Option<(u16, Server)>,
    background: Vec<BackgroundTask>,
    deferred: Deferred,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Builds everything and binds the listening socket (port 0 picks a free port).
    ///
    /// # Errors
    /// When a component cannot be built or the address cannot be bound.
    pub async fn build(settings: Settings, migrations: MigrationPolicy) -> anyhow::Result<Self> {
        crate::telemetry::metrics();
        let deferred = Deferred::on_current_runtime();
        let Components { services, codec, probes, mail_delivery, mail_poll_interval, key_keeper } =
            Components::build(&settings, migrations, Arc::new(deferred.clone())).await?;
        let listeners = match bind(&settings) {
            Ok(listeners) => listeners,
            Err(error) => {
                key_keeper.abort();
                return Err(error);
            }
        };
        let background = vec![
            key_keeper,
            mail::spawn_mail_delivery(mail_delivery, mail_poll_interval),
            revocations::spawn_revocation_follower(services.revocations.clone()),
        ];
        let servers = serve(listeners, server::Shared { services, codec, probes }, &settings);
        match servers {
            Ok((port, server, metrics)) => {
                tracing::info!(listen = %settings.server.listen.ip(), port, "auth-http is listening");
                Ok(Self { port, server, metrics, background, deferred })
            }
            Err(error) => {
                background.into_iter().for_each(BackgroundTask::abort);
                Err(error)
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of AUTH_METRICS_LISTEN's server, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests, then the work they handed
    /// off, then stops the background tasks: each wait bounded.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = match self.metrics {
            // Both stop on the same signal; the API's outcome is the one that matters.
            Some((_, metrics)) => {
                let (served, _) = tokio::join!(self.server, metrics);
                served
            }
            None => self.server.await,
        };
        if !self.deferred.drain(DEFERRED_DRAIN_LIMIT).await {
            tracing::warn!(
                tasks = self.deferred.pending(),
                "work handed off by requests did not finish in time; stopping anyway"
            );
        }
        background::stop_all(self.background, BACKGROUND_STOP_LIMIT).await;
        served
    }
}

/// The API's listener and, with AUTH_METRICS_LISTEN, the metrics one.
struct Listeners {
    api: TcpListener,
    metrics: Option<TcpListener>,
}

fn bind(settings: &Settings) -> anyhow::Result<Listeners> {
    let listen = settings.server.listen;
    let api = TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let metrics = settings
        .server
        .metrics_listen
        .map(|address| TcpListener::bind(address).with_context(|| format!("cannot listen on {address} for /metrics")))
        .transpose()?;
    Ok(Listeners { api, metrics })
}

type Servers = (u16, Server, Option<(u16, Server)>);

fn serve(listeners: Listeners, shared: server::Shared, settings: &Settings) -> anyhow::Result<Servers> {
    let port = listeners.api.local_addr()?.port();
    let metrics = match listeners.metrics {
        Some(listener) => {
            let address = listener.local_addr()?;
            let server = server::run_metrics(listener, shared.probes.clone())?;
            tracing::info!(listen = %address.ip(), port = address.port(), "/metrics is served on its own address");
            Some((address.port(), server))
        }
        None => None,
    };
    let server = server::run(listeners.api, shared, settings)?;
    Ok((port, server, metrics))
}
