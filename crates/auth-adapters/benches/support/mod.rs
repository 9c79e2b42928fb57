//! What the benchmarks share: an [`AuthServices`] wired to real adapters (SQLite or PostgreSQL,
//! in-process or Redis stores), and the environment variables that name the servers.
//!
//! The servers are the ones the test suites use: AUTH_TEST_DATABASE_URL and AUTH_TEST_REDIS_URL.
//! A benchmark whose server is not configured prints one `SKIPPED:` line and measures nothing.

#![allow(dead_code, reason = "each benchmark binary includes this module and uses a different part of it")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use auth_adapters::argon2_hasher::{Argon2Hasher, Argon2Parameters};
use auth_adapters::jwt::JwtCodec;
use auth_adapters::keys::{MasterKey, SigningAlgorithm, generate_signing_key};
use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::postgres::{
    PostgresAuditLog, PostgresDatabase, PostgresMailQueue, PostgresOneTimeTokenRepository,
    PostgresSecondFactorRepository, PostgresSessionRepository, PostgresUserRepository,
};
use auth_adapters::redis_store::{RedisRateLimiter, RedisRevocationStore, RedisStore};
use auth_adapters::sealed_mail::MailSealer;
use auth_adapters::sealed_totp::TotpSealer;
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteMailQueue, SqliteOneTimeTokenRepository, SqliteSecondFactorRepository,
    SqliteSessionRepository, SqliteUserRepository,
};
use auth_adapters::system::{OsRandom, SystemClock, UuidV7Generator};
use auth_domain::ports::{
    AuditLog, MailQueue, NoBreachedPasswords, OneTimeTokenRepository, PasswordHasher, RateLimiter, RevocationStore,
    SecondFactorRepository, SessionRepository, UserRepository,
};
use auth_domain::services::{LoginOutcome, LoginRequest, RegisterRequest};
use auth_domain::{AuthPolicy, AuthPorts, AuthServices, RateLimits, RefreshSecret, RequestContext, TokenPair};
use time::OffsetDateTime;

pub const ISSUER: &str = "https://auth.bench.example";
pub const AUDIENCE: &str = "authd";
/// A password the policy accepts (long, and zxcvbn scores it 4).
pub const PASSWORD: &str = "violet-otter-sings-at-dawn-42";

/// The server URL in `variable`, or `None` after printing why the benchmark is skipped.
pub fn server_url(benchmark: &str, variable: &str, example: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("SKIPPED: {benchmark} (set {variable}={example} to run it)");
            None
        }
    }
}

/// A multi-threaded runtime like the service's (one worker per core).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime can be built")
}

/// A codec with one fresh EdDSA key, signing and verifying.
pub fn codec() -> JwtCodec {
    codec_for(SigningAlgorithm::EdDsa)
}

/// A codec with one fresh key of `algorithm`, signing and verifying.
pub fn codec_for(algorithm: SigningAlgorithm) -> JwtCodec {
    let master_key = MasterKey::generate();
    let now = OffsetDateTime::now_utc();
    let key = generate_signing_key(algorithm, &master_key, now, now);
    let codec = JwtCodec::new(ISSUER, AUDIENCE);
    codec.install(std::slice::from_ref(&key), &master_key).expect("a fresh key installs");
    codec
}

/// The repositories of one database.
pub struct Repositories {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub mail_queue: Arc<dyn MailQueue>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
}

/// A freshly migrated SQLite database in `folder`, with the service's default pool size.
pub async fn sqlite(folder: &Path) -> Repositories {
    let database = SqliteDatabase::open(&folder.join("bench.sqlite3"), 16).expect("the SQLite database opens");
    database.migrate().await.expect("the migrations apply");
    let sealer = MailSealer::new(&MasterKey::generate());
    Repositories {
        users: Arc::new(SqliteUserRepository::new(database.clone(), sealer.clone())),
        sessions: Arc::new(SqliteSessionRepository::new(database.clone(), sealer.clone())),
        one_time_tokens: Arc::new(SqliteOneTimeTokenRepository::new(database.clone(), sealer.clone())),
        audit: Arc::new(SqliteAuditLog::new(database.clone(), Arc::new(UuidV7Generator))),
        mail_queue: Arc::new(SqliteMailQueue::new(database.clone(), sealer)),
        second_factors: Arc::new(SqliteSecondFactorRepository::new(database, TotpSealer::new(&MasterKey::generate()))),
    }
}

/// A fresh, migrated schema of its own on the PostgreSQL server at `base_url`, with the
/// service's default pool size.
pub async fn postgres(base_url: &str) -> Repositories {
    let (client, connection) =
        tokio_postgres::connect(base_url, tokio_postgres::NoTls).await.expect("AUTH_TEST_DATABASE_URL answers");
    tokio::spawn(connection);
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("a schema can be created");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
    let database = PostgresDatabase::new(&secrecy::SecretString::from(url), 16, Duration::from_secs(10))
        .expect("the pool is built");
    database.migrate().await.expect("the migrations apply");
    let sealer = MailSealer::new(&MasterKey::generate());
    Repositories {
        users: Arc::new(PostgresUserRepository::new(database.clone(), sealer.clone())),
        sessions: Arc::new(PostgresSessionRepository::new(database.clone(), sealer.clone())),
        one_time_tokens: Arc::new(PostgresOneTimeTokenRepository::new(database.clone(), sealer.clone())),
        audit: Arc::new(PostgresAuditLog::new(database.clone(), Arc::new(UuidV7Generator))),
        mail_queue: Arc::new(PostgresMailQueue::new(database.clone(), sealer)),
        second_factors: Arc::new(PostgresSecondFactorRepository::new(
            database,
            TotpSealer::new(&MasterKey::generate()),
        )),
    }
}

/// The revocation store and rate limiter: in-process, or on Redis under a fresh key prefix.
pub fn stores(redis_url: Option<&str>) -> (Arc<dyn RevocationStore>, Arc<dyn RateLimiter>) {
    match redis_url {
        None => (Arc::new(InMemoryRevocationStore::new()), Arc::new(InMemoryRateLimiter::new())),
        Some(url) => {
            let prefix = format!("authd-bench:{}:", uuid::Uuid::new_v4().simple());
            let store = RedisStore::new(url, prefix, Duration::from_secs(1)).expect("a valid Redis URL");
            (Arc::new(RedisRevocationStore::new(store.clone())), Arc::new(RedisRateLimiter::new(store)))
        }
    }
}

/// Cheap Argon2 parameters, for the benchmarks that only need accounts to exist.
pub fn cheap_hasher() -> Arc<dyn PasswordHasher> {
    let parameters = Argon2Parameters { memory_kib: 1024, iterations: 1, parallelism: 1 };
    Arc::new(Argon2Hasher::new(parameters, None, 2, 1024).expect("valid parameters"))
}

/// The domain service over these adapters: no rate limits, no verification required, no mail
/// on new sign-ins, so that only the path being measured does work.
pub fn service(
    repositories: Repositories,
    stores: (Arc<dyn RevocationStore>, Arc<dyn RateLimiter>),
    hasher: Arc<dyn PasswordHasher>,
    codec: Arc<JwtCodec>,
) -> AuthServices {
    let (revocations, rate_limiter) = stores;
    let ports = AuthPorts {
        users: repositories.users,
        sessions: repositories.sessions,
        one_time_tokens: repositories.one_time_tokens,
        audit: repositories.audit,
        revocations,
        rate_limiter,
        mail_queue: repositories.mail_queue,
        second_factors: repositories.second_factors,
        hasher,
        breached_passwords: Arc::new(NoBreachedPasswords),
        tokens: codec,
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
        random: Arc::new(OsRandom),
        tasks: Arc::new(SpawnOnTokio),
    };
    let policy = AuthPolicy {
        audience: AUDIENCE.to_owned(),
        require_email_verification: false,
        notify_new_sign_in: false,
        rate_limits: RateLimits {
            login_failures_per_email: None,
            mfa_failures_per_user: None,
            login_per_ip: None,
            registration_per_ip: None,
            mail_per_email: None,
            refresh_per_session: None,
            client_auth_failures_per_ip: None,
        },
        ..AuthPolicy::with_defaults(ISSUER, RefreshSecret::new(vec![7; 32]))
    };
    AuthServices::new(&ports, policy)
}

/// Hands work to the benchmark's Tokio runtime; nothing waits for it at the end.
struct SpawnOnTokio;

impl auth_domain::ports::BackgroundTasks for SpawnOnTokio {
    fn spawn(&self, task: auth_domain::ports::BackgroundTask) {
        tokio::spawn(task);
    }
}

/// Registers a new account and logs it in: its first token pair.
pub async fn signed_in(service: &AuthServices) -> TokenPair {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let context =
        RequestContext { ip: Some(std::net::IpAddr::from([127, 0, 0, 1])), user_agent: Some("bench".to_owned()) };
    service
        .registration
        .register(RegisterRequest { email: email.clone(), password: PASSWORD.to_owned(), display_name: None }, &context)
        .await
        .expect("the account registers");
    match service.login.login(LoginRequest { email, password: PASSWORD.to_owned() }, &context).await {
        Ok(LoginOutcome::Authenticated(pair)) => pair,
        Ok(LoginOutcome::MfaRequired(_)) => panic!("a new account has no second factor"),
        Err(error) => panic!("the account does not log in: {error}"),
    }
}
