//! Wiring: builds every adapter from the settings, the domain service on top, and the server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use auth_adapters::argon2_hasher::{Argon2Hasher, Argon2Parameters};
use auth_adapters::jwt::JwtCodec;
use auth_adapters::keys::{KeyFileOrigin, MasterKey, SigningAlgorithm, ensure_signing_key};
use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::outbox::OutboxMailer;
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteOneTimeTokenRepository, SqliteSessionRepository, SqliteSigningKeyStore,
    SqliteUserRepository,
};
use auth_adapters::system::{OsRandom, SystemClock, UuidV7Generator};
use auth_domain::ports::{Clock, IdGenerator, SigningKeyStore};
use auth_domain::{AuthPolicy, AuthPorts, AuthService, PasswordPolicy, RateLimits, RefreshSecret};
use secrecy::{ExposeSecret, SecretBox};

use crate::config::{DatabaseSettings, Settings};
use crate::error::{ApiError, json_error};
use crate::extractors::TrustedProxies;
use crate::request_id::{ResponseHeaders, middleware};
use crate::routes;

/// The largest request body accepted, JSON or not.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How often each process re-reads the signing keys, to pick up a rotation made elsewhere.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// What the health routes look at.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub database: SqliteDatabase,
}

/// Everything built from the settings: the domain service and the adapters routes need directly.
#[derive(Clone)]
pub struct Components {
    pub service: AuthService,
    pub codec: Arc<JwtCodec>,
    pub dependencies: Dependencies,
    key_store: Arc<dyn SigningKeyStore>,
    master_key: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
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

/// Opens the database, applying pending migrations.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_database(settings: &Settings) -> anyhow::Result<SqliteDatabase> {
    open_and_migrate(settings).await.map(|(database, _)| database)
}

/// Opens the database and applies pending migrations; returns the names of those applied.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_and_migrate(settings: &Settings) -> anyhow::Result<(SqliteDatabase, Vec<String>)> {
    let DatabaseSettings::Sqlite { path } = &settings.database;
    let database = SqliteDatabase::open(path, settings.database_pool_size)
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
    let applied = database.migrate().await.context("cannot apply the database migrations")?;
    for migration in &applied {
        tracing::info!(db.migration = %migration, "applied a database migration");
    }
    Ok((database, applied))
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
    /// # Errors
    /// When the database, the master key or the signing keys cannot be set up.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let database = open_database(settings).await?;
        let master_key = Arc::new(master_key(settings)?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);

        let key_store: Arc<dyn SigningKeyStore> = Arc::new(SqliteSigningKeyStore::new(database.clone()));
        let codec = Arc::new(JwtCodec::new(settings.issuer.clone(), settings.audience.clone()));
        let keys = ensure_signing_key(key_store.as_ref(), SigningAlgorithm::EdDsa, &master_key, clock.now())
            .await
            .context("cannot load or create the signing key")?;
        codec.install(&keys, &master_key, clock.now()).context("cannot load the signing keys")?;

        let pepper = settings
            .password_pepper
            .as_ref()
            .map(|pepper| SecretBox::new(Box::new(pepper.expose_secret().as_bytes().to_vec())));
        let hasher =
            Argon2Hasher::new(Argon2Parameters::default(), pepper, settings.hash_concurrency, settings.hash_queue)
                .context("cannot set up password hashing")?;
        let mailer = OutboxMailer::new(&settings.mail_outbox, &settings.mail_from, &settings.public_url)
            .with_context(|| format!("cannot create the mail outbox {}", settings.mail_outbox.display()))?;
        tracing::info!(
            mail.outbox = %settings.mail_outbox.display(),
            "no SMTP server configured: mail is written to the outbox folder; revocations and rate limits are \
             kept in this process (run one process per database)"
        );

        let ports = AuthPorts {
            users: Arc::new(SqliteUserRepository::new(database.clone())),
            sessions: Arc::new(SqliteSessionRepository::new(database.clone())),
            one_time_tokens: Arc::new(SqliteOneTimeTokenRepository::new(database.clone())),
            audit: Arc::new(SqliteAuditLog::new(database.clone(), ids.clone())),
            revocations: Arc::new(InMemoryRevocationStore::new()),
            rate_limiter: Arc::new(InMemoryRateLimiter::new()),
            mailer: Arc::new(mailer),
            hasher: Arc::new(hasher),
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
            require_email_verification: settings.require_email_verification,
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
            },
            ..AuthPolicy::with_defaults(settings.issuer.clone(), refresh_secret)
        };
        Ok(Self {
            service: AuthService::new(ports, policy),
            codec,
            dependencies: Dependencies { database },
            key_store,
            master_key,
            clock,
        })
    }

    /// Re-reads the signing keys now and then, so that a rotation made by another process (or
    /// `auth-http keys rotate`) reaches this one without a restart.
    fn spawn_key_reloader(&self) {
        let (key_store, codec, master_key, clock) =
            (self.key_store.clone(), self.codec.clone(), self.master_key.clone(), self.clock.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(KEY_RELOAD_INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match key_store.list_active().await {
                    Ok(keys) => {
                        if let Err(error) = codec.install(&keys, &master_key, clock.now()) {
                            tracing::error!(error = %error, "cannot reload the signing keys; keeping the previous ones");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot read the signing keys; keeping the previous ones")
                    }
                }
            }
        });
    }
}

/// The server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
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
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let components = Components::build(&settings).await?;
        components.spawn_key_reloader();
        let listener =
            TcpListener::bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let server = run(listener, components, &settings)?;
        tracing::info!(listen = %settings.listen.ip(), port, "auth-http is listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn run(listener: TcpListener, components: Components, settings: &Settings) -> anyhow::Result<Server> {
    let service = web::Data::new(components.service);
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
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(middleware))
            .app_data(service.clone())
            .app_data(codec.clone())
            .app_data(dependencies.clone())
            .app_data(proxies.clone())
            .app_data(response_headers.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .content_type_required(true)
                    .error_handler(|error, _| json_error(error).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("no such resource").into()))
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
