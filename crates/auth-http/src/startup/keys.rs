//! The master key, and the signing keys of this process: loaded once the database answers, then
//! kept current by a background loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use auth_adapters::jwt::{JwtCodec, MAX_CLOCK_SKEW_SECONDS};
use auth_adapters::keys::{KeyFileOrigin, MasterKey};
use auth_domain::ports::{Clock, StoredSigningKey};
use auth_domain::signing_keys::{KeyPolicy, SigningKeyService};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use super::background::{BackgroundTask, pause};
use super::database::{BootstrapError, Database, MigrationPolicy};
use crate::config::Settings;
use crate::routes;

/// Added to a new key's publication, for clocks and reloads that run late.
const PUBLISH_MARGIN: Duration = Duration::from_secs(30);
/// How often a process looks whether a scheduled rotation (AUTH_KEY_ROTATION_PERIOD) is due.
const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How often a process whose database was unreachable at start tries again.
const BOOTSTRAP_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The master key: AUTH_MASTER_KEY, or in the embedded mode a key file beside the database.
pub(super) fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(encoded) = &settings.keys.master_key {
        return MasterKey::from_base64(encoded.expose_secret()).context("AUTH_MASTER_KEY is invalid");
    }
    let path = settings.data_folder().join("master.key");
    let (key, origin) = MasterKey::load_or_create(&path)?;
    match origin {
        KeyFileOrigin::Created => tracing::warn!(
            key.file = %path.display(),
            "AUTH_MASTER_KEY is unset: made a new master key file for the embedded mode; \
             keep it with the database, and set AUTH_MASTER_KEY in production"
        ),
        KeyFileOrigin::Loaded => {
            tracing::info!(key.file = %path.display(), "AUTH_MASTER_KEY is unset: using the master key file")
        }
    }
    Ok(key)
}

/// How keys rotate, from the settings: a new key is published for as long as a replica takes to
/// reload plus as long as a verifier may cache the JWKS (and a margin) before it signs.
pub fn key_policy(settings: &Settings) -> KeyPolicy {
    KeyPolicy {
        publish_lead: settings.keys.reload_interval
            + Duration::from_secs(routes::well_known::JWKS_MAX_AGE_SECONDS.into())
            + PUBLISH_MARGIN,
        token_lifetime: settings.tokens.access_ttl + Duration::from_secs(MAX_CLOCK_SKEW_SECONDS),
        rotation_period: settings.keys.rotation_period,
    }
}

/// Loads the signing keys (after applying or checking migrations) and starts the loop that keeps
/// them current. A PostgreSQL server that is merely unreachable does not stop this: the loop
/// then keeps trying, and `/readyz` answers 503 until it has loaded them.
///
/// # Errors
/// When migrations are pending under [`MigrationPolicy::Refuse`], or the database cannot be set up.
pub(super) async fn keep_keys(
    settings: &Settings,
    database: &Database,
    master_key: &Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    codec: Arc<JwtCodec>,
    migrations: MigrationPolicy,
) -> anyhow::Result<BackgroundTask> {
    let keeper = KeyKeeper {
        keys: database.signing_keys_with(settings, master_key, clock),
        database: database.clone(),
        codec,
        master_key: master_key.clone(),
        migrations,
        reload_interval: settings.keys.reload_interval,
    };
    match keeper.bootstrap().await {
        Ok(()) => Ok(keeper.spawn(true)),
        Err(BootstrapError::Unavailable(error)) if matches!(database, Database::Postgres(_)) => {
            tracing::warn!(
                error = %error,
                "PostgreSQL is unreachable: serving anyway; /readyz answers 503 until it is back"
            );
            Ok(keeper.spawn(false))
        }
        Err(error) => Err(anyhow::Error::new(error).context("the database is not ready")),
    }
}

/// Keeps the signing keys of this process current: loads them once the database answers, then
/// re-reads them every AUTH_KEY_RELOAD_INTERVAL (a second by default), so that a rotation or a
/// retirement made elsewhere arrives at once, without a restart; rotates on schedule when
/// AUTH_KEY_ROTATION_PERIOD is set.
struct KeyKeeper {
    database: Database,
    keys: SigningKeyService,
    codec: Arc<JwtCodec>,
    master_key: Arc<MasterKey>,
    migrations: MigrationPolicy,
    reload_interval: Duration,
}

impl KeyKeeper {
    /// Applies or checks migrations, makes the first signing key if there is none, loads the keys.
    async fn bootstrap(&self) -> Result<(), BootstrapError> {
        self.database.prepare(self.migrations).await?;
        self.load().await
    }

    async fn load(&self) -> Result<(), BootstrapError> {
        let keys = self.keys.keys_to_load().await?;
        self.codec.install(&keys, &self.master_key).context("cannot load the signing keys")?;
        Ok(())
    }

    /// One reload: the keys are read every time (one small query), and the key ring rebuilt only
    /// when they changed. A failure is logged once per outage, not at every reload.
    async fn reload(&self, state: &mut ReloadState) {
        if state.next_rotation_check <= Instant::now() {
            state.next_rotation_check = Instant::now() + ROTATION_CHECK_INTERVAL;
            match self.keys.rotate_if_due().await {
                Ok(Some(key)) => tracing::info!(
                    token.kid = %key.kid,
                    key.activates_at = %key.activates_at,
                    "rotated the signing key on schedule (AUTH_KEY_ROTATION_PERIOD)"
                ),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "cannot rotate the signing key on schedule; retrying later");
                }
            }
        }
        let loaded = match self.keys.keys_to_load().await {
            Ok(keys) if state.installed.as_ref() == Some(&keys) => Ok(()),
            Ok(keys) => match self.codec.install(&keys, &self.master_key) {
                Ok(()) => {
                    state.installed = Some(keys);
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        match loaded {
            Ok(()) if state.failing => {
                state.failing = false;
                tracing::info!("the signing keys are read again");
            }
            Ok(()) => {}
            Err(error) if !state.failing => {
                state.failing = true;
                tracing::warn!(error = %error, "cannot reload the signing keys; keeping the previous ones");
            }
            Err(_) => {}
        }
    }

    /// Runs until told to stop; a reload under way finishes first.
    fn spawn(self, bootstrapped: bool) -> BackgroundTask {
        BackgroundTask::spawn("signing-key keeper", move |stop| self.run(stop, bootstrapped))
    }

    async fn run(self, stop: CancellationToken, mut bootstrapped: bool) {
        let mut state = ReloadState {
            installed: None,
            failing: false,
            next_rotation_check: Instant::now() + ROTATION_CHECK_INTERVAL,
        };
        loop {
            let interval = if bootstrapped { self.reload_interval } else { BOOTSTRAP_RETRY_INTERVAL };
            if !pause(&stop, interval).await {
                return;
            }
            if bootstrapped {
                self.reload(&mut state).await;
                continue;
            }
            match self.bootstrap().await {
                Ok(()) => {
                    bootstrapped = true;
                    tracing::info!("the database answers: signing keys loaded, ready to serve");
                }
                Err(error) => tracing::warn!(error = %error, "the database is not ready yet; retrying"),
            }
        }
    }
}

/// What the key reloads of one process remember between them.
struct ReloadState {
    /// The keys the ring was last built from.
    installed: Option<Vec<StoredSigningKey>>,
    /// Whether the last reload failed (to log an outage once).
    failing: bool,
    /// When to look again whether a scheduled rotation is due.
    next_rotation_check: Instant,
}
