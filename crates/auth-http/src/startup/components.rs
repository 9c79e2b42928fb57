//! Everything built from the settings: the adapters, and the domain service on top of them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auth_adapters::argon2_hasher::{Argon2Hasher, Argon2Parameters};
use auth_adapters::breached_passwords::BreachedPasswordFile;
use auth_adapters::jwt::JwtCodec;
use auth_adapters::keys::MasterKey;
use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::redis_store::{RedisRateLimiter, RedisRevocationStore, RedisStore};
use auth_adapters::system::{OsRandom, SystemClock, UuidV7Generator};
use auth_domain::ports::BackgroundTasks;
use auth_domain::ports::{BreachedPasswords, Clock, IdGenerator, NoBreachedPasswords, RateLimiter, RevocationStore};
use auth_domain::services::MailDelivery;
use auth_domain::services::ResourceClients;
use auth_domain::{AuthPolicy, AuthPorts, AuthServices, RefreshSecret};
use secrecy::{ExposeSecret, SecretBox};

use super::background::BackgroundTask;
use super::database::{Database, MigrationPolicy, Repositories};
use super::keys::{keep_keys, master_key};
use super::mail::{mail_delivery, mailer};
use crate::config::{Settings, StoreSettings};
use crate::probes::Probes;

/// Everything built from the settings: the domain service and the adapters routes need directly.
pub struct Components {
    pub services: AuthServices,
    pub codec: Arc<JwtCodec>,
    pub probes: Probes,
    /// Drains the mail queue; [`super::Application::build`] runs it in the background.
    pub mail_delivery: MailDelivery,
    pub mail_poll_interval: Duration,
    /// Keeps the signing keys current from the moment the components exist.
    pub key_keeper: BackgroundTask,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components")
            .field("codec", &self.codec)
            .field("probes", &self.probes)
            .field("key_keeper", &self.key_keeper.name())
            .finish_non_exhaustive()
    }
}

/// What a revocation check and a rate limit are kept in.
struct Stores {
    revocations: Arc<dyn RevocationStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    redis: Option<RedisStore>,
}

impl Components {
    /// Builds every adapter and the domain services, and starts the key keeper.
    ///
    /// A PostgreSQL or Redis server that is merely unreachable does not stop this: the process
    /// starts, `/readyz` answers 503 naming it, and the keys are loaded once it answers.
    ///
    /// # Errors
    /// When a setting cannot be honoured, migrations are pending under [`MigrationPolicy::Refuse`],
    /// or the SQLite database cannot be set up.
    pub async fn build(
        settings: &Settings,
        migrations: MigrationPolicy,
        tasks: Arc<dyn BackgroundTasks>,
    ) -> anyhow::Result<Self> {
        let database = Database::open(settings)?;
        let master_key = Arc::new(master_key(settings)?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        let codec = Arc::new(JwtCodec::new(settings.tokens.issuer.clone(), settings.tokens.audience.clone()));
        let key_keeper = keep_keys(settings, &database, &master_key, clock.clone(), codec.clone(), migrations).await?;
        // The keeper runs from here on: it must not outlive a build that fails after it.
        match assemble(settings, database, &master_key, (clock, ids, tasks), codec.clone()) {
            Ok(Assembled { services, probes, mail_delivery }) => Ok(Self {
                services,
                codec,
                probes,
                mail_delivery,
                mail_poll_interval: settings.mail.poll_interval,
                key_keeper,
            }),
            Err(error) => {
                key_keeper.abort();
                Err(error)
            }
        }
    }
}

/// What is built on the database once its keys are taken care of.
struct Assembled {
    services: AuthServices,
    probes: Probes,
    mail_delivery: MailDelivery,
}

fn assemble(
    settings: &Settings,
    database: Database,
    master_key: &MasterKey,
    (clock, ids, tasks): (Arc<dyn Clock>, Arc<dyn IdGenerator>, Arc<dyn BackgroundTasks>),
    codec: Arc<JwtCodec>,
) -> anyhow::Result<Assembled> {
    let hasher = hasher(settings)?;
    let mailer = mailer(settings)?;
    let Stores { revocations, rate_limiter, redis } = stores(settings)?;
    let Repositories { users, sessions, one_time_tokens, audit, mail_queue, second_factors } =
        database.repositories(&ids, master_key);
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
        breached_passwords: breached_passwords(settings)?,
        tokens: codec.clone(),
        clock: clock.clone(),
        ids,
        random: Arc::new(OsRandom),
        tasks,
    };
    Ok(Assembled {
        services: AuthServices::new(&ports, policy(settings, master_key)),
        mail_delivery: mail_delivery(settings, mail_queue.clone(), mailer, clock),
        probes: Probes { database: Arc::new(database), redis, codec, mail_queue },
    })
}

fn stores(settings: &Settings) -> anyhow::Result<Stores> {
    match &settings.redis.store {
        StoreSettings::InProcess => {
            tracing::info!(
                "AUTH_REDIS_URL is unset: revocations and rate limits are kept in this process (one node only)"
            );
            Ok(Stores {
                revocations: Arc::new(InMemoryRevocationStore::new()),
                rate_limiter: Arc::new(InMemoryRateLimiter::new()),
                redis: None,
            })
        }
        StoreSettings::Redis { url, prefix } => {
            let store = RedisStore::new(url.expose_secret(), prefix.clone(), settings.redis.timeout)
                .context("AUTH_REDIS_URL cannot be used")?;
            tracing::info!(redis.prefix = %prefix, "revocations and rate limits are kept in Redis, shared by every replica");
            Ok(Stores {
                revocations: Arc::new(RedisRevocationStore::new(store.clone())),
                rate_limiter: Arc::new(RedisRateLimiter::new(store.clone())),
                redis: Some(store),
            })
        }
    }
}

fn hasher(settings: &Settings) -> anyhow::Result<Argon2Hasher> {
    let accounts = &settings.accounts;
    let pepper = accounts
        .password_pepper
        .as_ref()
        .map(|pepper| SecretBox::new(Box::new(pepper.expose_secret().as_bytes().to_vec())));
    Argon2Hasher::new(Argon2Parameters::default(), pepper, accounts.hash_concurrency, accounts.hash_queue)
        .context("cannot set up password hashing")
}

fn breached_passwords(settings: &Settings) -> anyhow::Result<Arc<dyn BreachedPasswords>> {
    Ok(match &settings.accounts.breached_passwords {
        Some(path) => Arc::new(
            BreachedPasswordFile::open(path)
                .with_context(|| format!("cannot read the breached-password list {}", path.display()))?,
        ),
        None => Arc::new(NoBreachedPasswords),
    })
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

fn policy(settings: &Settings, master_key: &MasterKey) -> AuthPolicy {
    let tokens = &settings.tokens;
    let refresh_secret = RefreshSecret::new(master_key.derive("refresh-token-successor"));
    AuthPolicy {
        audience: tokens.audience.clone(),
        access_ttl: to_time(tokens.access_ttl),
        session_ttl: to_time(tokens.session_ttl),
        session_idle_ttl: to_time(tokens.session_idle_ttl),
        refresh_grace: to_time(tokens.refresh_grace),
        verify_email_ttl: to_time(tokens.verify_email_ttl),
        reset_password_ttl: to_time(tokens.reset_password_ttl),
        require_email_verification: settings.accounts.require_email_verification,
        notify_new_sign_in: settings.mail.new_sign_in,
        totp_issuer: tokens.totp_issuer.clone(),
        mfa_token_ttl: to_time(tokens.mfa_token_ttl),
        password: settings.accounts.password_policy(),
        rate_limits: settings.rate_limits.clone(),
        resource_clients: ResourceClients::new(settings.server.introspection_clients.clone()),
        ..AuthPolicy::with_defaults(tokens.issuer.clone(), refresh_secret)
    }
}
