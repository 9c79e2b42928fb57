//! Wiring: builds every adapter from the settings, the domain service on top, and the server.

mod revocations;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use auth_adapters::argon2_hasher::{Argon2Hasher, Argon2Parameters};
use auth_adapters::audit_chain::{ChainBreak, ChainSummary};
use auth_adapters::breached_passwords::BreachedPasswordFile;
use auth_adapters::jwt::{JwtCodec, MAX_CLOCK_SKEW_SECONDS};
use auth_adapters::keys::{KeyFileOrigin, MasterKey, SealedKeyGenerator};
use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::outbox::OutboxMailer;
use auth_adapters::postgres::{
    PostgresAuditLog, PostgresDatabase, PostgresMailQueue, PostgresOneTimeTokenRepository,
    PostgresSecondFactorRepository, PostgresSessionRepository, PostgresSigningKeyStore, PostgresUserRepository,
};
use auth_adapters::redis_store::{RedisRateLimiter, RedisRevocationStore, RedisStore};
use auth_adapters::sealed_mail::MailSealer;
use auth_adapters::sealed_totp::TotpSealer;
use auth_adapters::smtp::SmtpMailer;
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteMailQueue, SqliteOneTimeTokenRepository, SqliteSecondFactorRepository,
    SqliteSessionRepository, SqliteSigningKeyStore, SqliteUserRepository,
};
use auth_adapters::system::{OsRandom, SystemClock, UuidV7Generator};
use auth_domain::ports::{
    AuditLog, Clock, IdGenerator, MailQueue, Mailer, NoBreachedPasswords, OneTimeTokenRepository, RateLimiter,
    RevocationStore, SecondFactorRepository, SessionRepository, SigningKeyStore, StoredSigningKey, UserRepository,
};
use auth_domain::services::ResourceClients;
use auth_domain::services::{MailDelivery, MailDeliveryPolicy};
use auth_domain::signing_keys::{KeyPolicy, SigningKeyPorts, SigningKeyService};
use auth_domain::{
    AuthPolicy, AuthPorts, AuthServices, InfrastructureError, PasswordPolicy, RateLimits, RefreshSecret,
};
use secrecy::{ExposeSecret, SecretBox};

use crate::app_services::AppServices;
use crate::config::{DatabaseSettings, Settings, StoreSettings};
use crate::error::{ApiError, json_error, query_error};
use crate::extractors::TrustedProxies;
use crate::request_id::{ResponseHeaders, middleware};
use crate::routes;

/// The largest request body accepted, JSON or not.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Added to a new key's publication, for clocks and reloads that run late.
const PUBLISH_MARGIN: Duration = Duration::from_secs(30);
/// How often a process looks whether a scheduled rotation (AUTH_KEY_ROTATION_PERIOD) is due.
const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How often a process whose database was unreachable at start tries again.
const BOOTSTRAP_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The database of either mode.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

impl Database {
    /// Opens the pool. For PostgreSQL this connects to nothing yet.
    ///
    /// # Errors
    /// When the SQLite file cannot be opened or the pool cannot be built.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database {
            DatabaseSettings::Sqlite { path } => SqliteDatabase::open(path, settings.database_pool_size)
                .map(Self::Sqlite)
                .with_context(|| format!("cannot open the SQLite database {}", path.display())),
            DatabaseSettings::Postgres { url } => {
                let pool_size = usize::try_from(settings.database_pool_size).unwrap_or(16);
                Ok(Self::Postgres(PostgresDatabase::new(url, pool_size, settings.database_timeout)?))
            }
        }
    }

    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn migrate(&self) -> Result<Vec<String>, InfrastructureError> {
        match self {
            Self::Sqlite(database) => database.migrate().await,
            Self::Postgres(database) => database.migrate().await,
        }
    }

    /// # Errors
    /// When the database cannot be reached.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, InfrastructureError> {
        match self {
            Self::Sqlite(database) => database.pending_migrations().await,
            Self::Postgres(database) => database.pending_migrations().await,
        }
    }

    /// # Errors
    /// When the database does not answer in time.
    pub async fn ping(&self) -> Result<(), InfrastructureError> {
        match self {
            Self::Sqlite(database) => database.ping().await,
            Self::Postgres(database) => database.ping().await,
        }
    }

    /// Checks the audit log's hash chain; the inner `Err` names the first broken row.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn verify_audit_chain(&self) -> Result<Result<ChainSummary, ChainBreak>, InfrastructureError> {
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        match self {
            Self::Sqlite(database) => SqliteAuditLog::new(database.clone(), ids).verify_chain().await,
            Self::Postgres(database) => PostgresAuditLog::new(database.clone(), ids).verify_chain().await,
        }
    }

    fn repositories(&self, ids: &Arc<dyn IdGenerator>, master_key: &MasterKey) -> Repositories {
        let sealer = &MailSealer::new(master_key);
        let totp_sealer = TotpSealer::new(master_key);
        match self {
            Self::Sqlite(database) => Repositories {
                users: Arc::new(SqliteUserRepository::new(database.clone(), sealer.clone())),
                sessions: Arc::new(SqliteSessionRepository::new(database.clone(), sealer.clone())),
                one_time_tokens: Arc::new(SqliteOneTimeTokenRepository::new(database.clone(), sealer.clone())),
                audit: Arc::new(SqliteAuditLog::new(database.clone(), ids.clone())),
                mail_queue: Arc::new(SqliteMailQueue::new(database.clone(), sealer.clone())),
                second_factors: Arc::new(SqliteSecondFactorRepository::new(database.clone(), totp_sealer)),
            },
            Self::Postgres(database) => Repositories {
                users: Arc::new(PostgresUserRepository::new(database.clone(), sealer.clone())),
                sessions: Arc::new(PostgresSessionRepository::new(database.clone(), sealer.clone())),
                one_time_tokens: Arc::new(PostgresOneTimeTokenRepository::new(database.clone(), sealer.clone())),
                audit: Arc::new(PostgresAuditLog::new(database.clone(), ids.clone())),
                mail_queue: Arc::new(PostgresMailQueue::new(database.clone(), sealer.clone())),
                second_factors: Arc::new(PostgresSecondFactorRepository::new(database.clone(), totp_sealer)),
            },
        }
    }

    /// The mail queue of this database, for the operator's commands.
    ///
    /// # Errors
    /// When the master key cannot be had.
    pub fn mail_queue(&self, settings: &Settings) -> anyhow::Result<Arc<dyn MailQueue>> {
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        Ok(self.repositories(&ids, &master_key(settings)?).mail_queue)
    }

    /// Connections open, and of those how many are in use.
    pub fn pool_usage(&self) -> (u32, u32) {
        match self {
            Self::Sqlite(database) => database.pool_usage(),
            Self::Postgres(database) => database.pool_usage(),
        }
    }

    fn signing_keys(&self) -> Arc<dyn SigningKeyStore> {
        match self {
            Self::Sqlite(database) => Arc::new(SqliteSigningKeyStore::new(database.clone())),
            Self::Postgres(database) => Arc::new(PostgresSigningKeyStore::new(database.clone())),
        }
    }
}

/// The repository ports of one database.
struct Repositories {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    audit: Arc<dyn AuditLog>,
    mail_queue: Arc<dyn MailQueue>,
    second_factors: Arc<dyn SecondFactorRepository>,
}

/// What the health and metrics routes look at.
#[derive(Clone)]
pub struct Dependencies {
    pub database: Database,
    pub redis: Option<RedisStore>,
    pub codec: Arc<JwtCodec>,
    pub mail_queue: Arc<dyn MailQueue>,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies")
            .field("database", &self.database)
            .field("redis", &self.redis)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// Everything built from the settings: the domain service and the adapters routes need directly.
#[derive(Clone)]
pub struct Components {
    pub services: AuthServices,
    pub codec: Arc<JwtCodec>,
    pub dependencies: Dependencies,
    /// Drains the mail queue; [`Application::build`] runs it in the background.
    pub mail_delivery: MailDelivery,
    pub mail_poll_interval: Duration,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components")
            .field("codec", &self.codec)
            .field("dependencies", &self.dependencies)
            .finish_non_exhaustive()
    }
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

/// Whether `serve` may apply pending PostgreSQL migrations itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    /// Apply them (the embedded mode always does; `serve --migrate` on PostgreSQL).
    Apply,
    /// Refuse to serve while any is pending: in production, migrations are a deliberate step.
    Refuse,
}

/// Why the database could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "{} database migrations are pending ({}): run `auth-http migrate` (or `cargo xtask migrate`), \
         or start with `auth-http serve --migrate`", .0.len(), .0.join(", ")
    )]
    PendingMigrations(Vec<String>),
    #[error("the database is unreachable")]
    Unavailable(#[source] InfrastructureError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<InfrastructureError> for BootstrapError {
    fn from(error: InfrastructureError) -> Self {
        match error {
            InfrastructureError::Unavailable(_) => Self::Unavailable(error),
            InfrastructureError::Unexpected(_) => Self::Other(anyhow::Error::new(error)),
        }
    }
}

impl Database {
    /// Applies pending migrations (always on SQLite; on PostgreSQL under
    /// [`MigrationPolicy::Apply`]), or fails when some are pending and may not be applied.
    ///
    /// # Errors
    /// When the database cannot be reached, a migration fails, or migrations are pending.
    pub async fn prepare(&self, migrations: MigrationPolicy) -> Result<(), BootstrapError> {
        let applied = match (self, migrations) {
            (Self::Sqlite(_), _) | (Self::Postgres(_), MigrationPolicy::Apply) => self.migrate().await?,
            (Self::Postgres(_), MigrationPolicy::Refuse) => {
                let pending = self.pending_migrations().await?;
                if !pending.is_empty() {
                    return Err(BootstrapError::PendingMigrations(pending));
                }
                Vec::new()
            }
        };
        for migration in &applied {
            tracing::info!(db.migration = %migration, "applied a database migration");
        }
        Ok(())
    }

    /// The signing-key use cases on this database.
    ///
    /// # Errors
    /// When the master key cannot be had.
    pub fn signing_key_service(&self, settings: &Settings) -> anyhow::Result<SigningKeyService> {
        let master_key = Arc::new(master_key(settings)?);
        Ok(self.signing_keys_with(settings, &master_key, Arc::new(SystemClock)))
    }

    fn signing_keys_with(
        &self,
        settings: &Settings,
        master_key: &Arc<MasterKey>,
        clock: Arc<dyn Clock>,
    ) -> SigningKeyService {
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        let audit = self.repositories(&ids, master_key).audit;
        SigningKeyService::new(
            SigningKeyPorts {
                store: self.signing_keys(),
                generator: Arc::new(SealedKeyGenerator::new(settings.signing_algorithm, master_key.clone())),
                audit,
                clock,
            },
            key_policy(settings),
        )
    }
}

/// How keys rotate, from the settings: a new key is published for as long as a replica takes to
/// reload plus as long as a verifier may cache the JWKS (and a margin) before it signs.
pub fn key_policy(settings: &Settings) -> KeyPolicy {
    KeyPolicy {
        publish_lead: settings.key_reload_interval
            + Duration::from_secs(routes::well_known::JWKS_MAX_AGE_SECONDS.into())
            + PUBLISH_MARGIN,
        token_lifetime: settings.access_ttl + Duration::from_secs(MAX_CLOCK_SKEW_SECONDS),
        rotation_period: settings.key_rotation_period,
    }
}

/// Keeps the signing keys of this process current: loads them once the database answers, then
/// re-reads them every AUTH_KEY_RELOAD_INTERVAL (a second by default), so that a rotation or a
/// retirement made elsewhere arrives at once, without a restart; rotates on schedule when
/// AUTH_KEY_ROTATION_PERIOD is set.
#[derive(Clone)]
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

    /// Runs for the life of the process.
    fn spawn(self, mut bootstrapped: bool) {
        tokio::spawn(async move {
            let mut state = ReloadState {
                installed: None,
                failing: false,
                next_rotation_check: Instant::now() + ROTATION_CHECK_INTERVAL,
            };
            loop {
                let pause = if bootstrapped { self.reload_interval } else { BOOTSTRAP_RETRY_INTERVAL };
                tokio::time::sleep(pause).await;
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
        });
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

/// The mail transport: SMTP when AUTH_SMTP_URL is set, else the outbox folder.
fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    let from: auth_adapters::mail_templates::Mailbox =
        settings.mail_from.parse().context("AUTH_MAIL_FROM is not a mailbox")?;
    match &settings.smtp_url {
        Some(url) => {
            let mailer = SmtpMailer::new(url, settings.smtp_timeout, 4, from, &settings.public_url)?;
            tracing::info!("mail is delivered through the SMTP server of AUTH_SMTP_URL");
            Ok(Arc::new(mailer))
        }
        None => {
            let mailer = OutboxMailer::new(&settings.mail_outbox, from, &settings.public_url)
                .with_context(|| format!("cannot create the mail outbox {}", settings.mail_outbox.display()))?;
            tracing::info!(
                mail.outbox = %settings.mail_outbox.display(),
                "no SMTP server configured: mail is written to the outbox folder"
            );
            Ok(Arc::new(mailer))
        }
    }
}

/// Delivers queued mail for the life of the process: at once while full batches keep coming,
/// else every `interval`. Failures are logged and retried; the queue loses nothing.
fn spawn_mail_delivery(delivery: MailDelivery, interval: Duration) {
    tokio::spawn(async move {
        // While the database is unreachable, wait longer between tries (up to 30 s), and say so
        // once per outage rather than at every poll.
        let mut failures: u32 = 0;
        loop {
            match delivery.deliver_due().await {
                Ok(report) => {
                    for (outcome, count) in
                        [("delivered", report.delivered), ("retried", report.retried), ("failed", report.failed)]
                    {
                        if count > 0 {
                            metrics::counter!("mail_deliveries_total", "outcome" => outcome)
                                .increment(u64::from(count));
                        }
                    }
                    if failures > 0 {
                        tracing::info!("the mail queue answers again");
                        failures = 0;
                    }
                    if report.claimed() >= delivery.policy().batch {
                        continue;
                    }
                }
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(error = %error, "cannot reach the mail queue; mail waits until it answers");
                    }
                    failures = failures.saturating_add(1);
                }
            }
            let pause = interval.saturating_mul(1 << failures.min(10)).min(Duration::from_secs(30).max(interval));
            tokio::time::sleep(pause).await;
        }
    });
}

/// The master key: AUTH_MASTER_KEY, or in the embedded mode a key file beside the database.
fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(encoded) = &settings.master_key {
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

impl Components {
    /// Builds every adapter and the domain service.
    ///
    /// A PostgreSQL or Redis server that is merely unreachable does not stop this: the process
    /// starts, `/readyz` answers 503 naming it, and the keys are loaded once it answers.
    ///
    /// # Errors
    /// When a setting cannot be honoured, migrations are pending under [`MigrationPolicy::Refuse`],
    /// or the SQLite database cannot be set up.
    pub async fn build(settings: &Settings, migrations: MigrationPolicy) -> anyhow::Result<Self> {
        let database = Database::open(settings)?;
        let master_key = Arc::new(master_key(settings)?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        let codec = Arc::new(JwtCodec::new(settings.issuer.clone(), settings.audience.clone()));

        let keys = KeyKeeper {
            keys: database.signing_keys_with(settings, &master_key, clock.clone()),
            database: database.clone(),
            codec: codec.clone(),
            master_key: master_key.clone(),
            migrations,
            reload_interval: settings.key_reload_interval,
        };
        match keys.bootstrap().await {
            Ok(()) => keys.spawn(true),
            Err(BootstrapError::Unavailable(error)) if matches!(database, Database::Postgres(_)) => {
                tracing::warn!(
                    error = %error,
                    "PostgreSQL is unreachable: serving anyway; /readyz answers 503 until it is back"
                );
                keys.spawn(false);
            }
            Err(error) => return Err(anyhow::Error::new(error).context("the database is not ready")),
        }

        let pepper = settings
            .password_pepper
            .as_ref()
            .map(|pepper| SecretBox::new(Box::new(pepper.expose_secret().as_bytes().to_vec())));
        let hasher =
            Argon2Hasher::new(Argon2Parameters::default(), pepper, settings.hash_concurrency, settings.hash_queue)
                .context("cannot set up password hashing")?;
        let mailer = mailer(settings)?;

        let (revocations, rate_limiter, redis): (Arc<dyn RevocationStore>, Arc<dyn RateLimiter>, _) = match &settings
            .store
        {
            StoreSettings::InProcess => {
                tracing::info!(
                    "AUTH_REDIS_URL is unset: revocations and rate limits are kept in this process (one node only)"
                );
                (Arc::new(InMemoryRevocationStore::new()), Arc::new(InMemoryRateLimiter::new()), None)
            }
            StoreSettings::Redis { url, prefix } => {
                let store = RedisStore::new(url.expose_secret(), prefix.clone(), settings.redis_timeout)
                    .context("AUTH_REDIS_URL cannot be used")?;
                tracing::info!(redis.prefix = %prefix, "revocations and rate limits are kept in Redis, shared by every replica");
                (
                    Arc::new(RedisRevocationStore::new(store.clone())),
                    Arc::new(RedisRateLimiter::new(store.clone())),
                    Some(store),
                )
            }
        };

        let Repositories { users, sessions, one_time_tokens, audit, mail_queue, second_factors } =
            database.repositories(&ids, &master_key);
        let mail_delivery = MailDelivery::new(
            mail_queue.clone(),
            mailer,
            clock.clone(),
            MailDeliveryPolicy {
                max_attempts: settings.mail_max_attempts,
                first_retry: settings.mail_retry,
                // A lease outlives a delivery: the connection and each SMTP command are bounded.
                lease: (settings.smtp_timeout * 6).max(Duration::from_secs(60)),
                ..MailDeliveryPolicy::default()
            },
        );
        let ports = AuthPorts {
            users,
            sessions,
            one_time_tokens,
            audit,
            revocations,
            rate_limiter,
            mail_queue: mail_queue.clone(),
            second_factors,
            hasher: Arc::new(hasher),
            breached_passwords: match &settings.breached_passwords {
                Some(path) => Arc::new(
                    BreachedPasswordFile::open(path)
                        .with_context(|| format!("cannot read the breached-password list {}", path.display()))?,
                ),
                None => Arc::new(NoBreachedPasswords),
            },
            tokens: codec.clone(),
            clock: clock.clone(),
            ids,
            random: Arc::new(OsRandom),
        };
        let refresh_secret = RefreshSecret::new(master_key.derive("refresh-token-successor"));
        let policy = AuthPolicy {
            audience: settings.audience.clone(),
            access_ttl: to_time(settings.access_ttl),
            session_ttl: to_time(settings.session_ttl),
            session_idle_ttl: to_time(settings.session_idle_ttl),
            refresh_grace: to_time(settings.refresh_grace),
            verify_email_ttl: to_time(settings.verify_email_ttl),
            reset_password_ttl: to_time(settings.reset_password_ttl),
            require_email_verification: settings.require_email_verification,
            notify_new_sign_in: settings.mail_new_sign_in,
            totp_issuer: settings.totp_issuer.clone(),
            mfa_token_ttl: to_time(settings.mfa_token_ttl),
            password: PasswordPolicy {
                min_length: settings.password_min_length,
                min_score: settings.password_min_score,
            },
            rate_limits: RateLimits {
                login_failures_per_email: settings.rate_login_email,
                login_per_ip: settings.rate_login_ip,
                registration_per_ip: settings.rate_register_ip,
                mail_per_email: settings.rate_email_send,
                refresh_per_session: settings.rate_refresh_session,
                mfa_failures_per_user: settings.rate_mfa_user,
                client_auth_failures_per_ip: settings.rate_client_auth,
            },
            resource_clients: ResourceClients::new(settings.introspection_clients.clone()),
            ..AuthPolicy::with_defaults(settings.issuer.clone(), refresh_secret)
        };
        Ok(Self {
            services: AuthServices::new(&ports, policy),
            codec: codec.clone(),
            dependencies: Dependencies { database, redis, codec, mail_queue },
            mail_delivery,
            mail_poll_interval: settings.mail_poll_interval,
        })
    }
}

/// The server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The server of AUTH_METRICS_LISTEN, and its port.
    metrics: Option<(u16, Server)>,
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
        let components = Components::build(&settings, migrations).await?;
        spawn_mail_delivery(components.mail_delivery.clone(), components.mail_poll_interval);
        revocations::spawn_revocation_follower(components.services.revocations.clone());
        let listener =
            TcpListener::bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let metrics = match settings.metrics_listen {
            Some(address) => {
                let listener =
                    TcpListener::bind(address).with_context(|| format!("cannot listen on {address} for /metrics"))?;
                let metrics_port = listener.local_addr()?.port();
                let server = run_metrics(listener, components.dependencies.clone())?;
                tracing::info!(listen = %address.ip(), port = metrics_port, "/metrics is served on its own address");
                Some((metrics_port, server))
            }
            None => None,
        };
        let server = run(listener, components, &settings)?;
        tracing::info!(listen = %settings.listen.ip(), port, "auth-http is listening");
        Ok(Self { port, server, metrics })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of AUTH_METRICS_LISTEN's server, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            // Both stop on the same signal; the API's outcome is the one that matters.
            Some((_, metrics)) => {
                let (served, _) = tokio::join!(self.server, metrics);
                served
            }
            None => self.server.await,
        }
    }
}

/// CORS for the configured browser origins only. Credentials (cookies) are not allowed: the API
/// takes Bearer tokens, which a browser never attaches on its own.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            actix_web::http::header::RETRY_AFTER,
        ])
        .max_age(600)
        // Another origin's request is served without CORS headers (the browser then withholds the
        // answer), not refused: same-origin pages and non-browser clients send Origin too.
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// A server of `/metrics` alone, for AUTH_METRICS_LISTEN: scrapers reach it on an internal
/// address. It is the only place metrics are served: the API's address answers 404 for them.
fn run_metrics(listener: TcpListener, dependencies: Dependencies) -> anyhow::Result<Server> {
    let dependencies = web::Data::new(dependencies);
    let server = HttpServer::new(move || {
        App::new().app_data(dependencies.clone()).route("/metrics", web::get().to(routes::health::metrics))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok(server)
}

fn run(listener: TcpListener, components: Components, settings: &Settings) -> anyhow::Result<Server> {
    let services = AppServices::new(components.services);
    let codec = web::Data::from(components.codec);
    let dependencies = web::Data::new(components.dependencies);
    let proxies = web::Data::new(TrustedProxies(settings.trusted_proxies.clone()));
    let response_headers = web::Data::new(ResponseHeaders {
        hsts: settings
            .hsts
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()
            .context("AUTH_HSTS is not a header value")?,
    });
    let cors_origins = settings.cors_origins.clone();
    let discovery = web::Data::new(routes::well_known::Discovery::new(
        &settings.public_url,
        &settings.issuer,
        settings.signing_algorithm.jose_name(),
    ));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(cors(&cors_origins))
            .wrap(from_fn(middleware))
            .app_data(codec.clone())
            .app_data(dependencies.clone())
            .app_data(proxies.clone())
            .app_data(response_headers.clone())
            .app_data(discovery.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(
                web::FormConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|error, _| routes::oauth::form_error(&error).into()),
            )
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .content_type_required(true)
                    .error_handler(|error, _| json_error(error).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("no such resource").into()))
            .app_data(web::QueryConfig::default().error_handler(|error, _| query_error(&error).into()))
            .configure(|config| services.register(config))
            .configure(routes::configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::not_found("no route matches this method and path"))
            }))
    })
    .listen(listener)?
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(30))
    .shutdown_timeout(15)
    .run();
    Ok(server)
}
