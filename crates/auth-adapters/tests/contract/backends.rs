//! The backends the contracts run against: one fixture function per backend, each on fresh state.
//!
//! Every repository fixture has the fields `users`, `sessions`, `one_time_tokens`, `audit_log`,
//! `signing_keys` and `mail_queue`; every store fixture has `revocations` and `rate_limiter`. The
//! port modules reach them by those names, so a new backend's fixture only has to use them too.
//!
//! A repository fixture makes one master key of its own. The repositories that queue mail in the
//! transaction of their change (users, sessions, one-time tokens) and `mail_queue` seal with the
//! same sealer from it, so that what a repository queues, `mail_queue` claims back readable. Its
//! `mail_queue_under_another_key` is a second queue over the same database sealing under another
//! master key: what it queues, `mail_queue` cannot open (as after a change of master key).
//!
//! A backend that needs a server takes its URL from a variable and returns `Option<Fixture>`:
//! `None`, after [`server_url`] has announced the skip (or panicked, in CI), when it is not set.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_adapters::keys::MasterKey;
use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::postgres::{
    PostgresAuditLog, PostgresDatabase, PostgresMailQueue, PostgresOneTimeTokenRepository,
    PostgresSecondFactorRepository, PostgresSessionRepository, PostgresSigningKeyStore, PostgresUserRepository,
};
use auth_adapters::redis_store::{RedisRateLimiter, RedisRevocationStore, RedisStore};
use auth_adapters::sealed_mail::MailSealer;
use auth_adapters::sealed_totp::TotpSealer;
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteMailQueue, SqliteOneTimeTokenRepository, SqliteSecondFactorRepository,
    SqliteSessionRepository, SqliteSigningKeyStore, SqliteUserRepository,
};
use auth_adapters::system::UuidV7Generator;
use tempfile::TempDir;
use uuid::Uuid;

/// What a fixture function returns: its fixture, or `None` when its backend is not configured on
/// this machine. [`contract_tests!`](crate::contract_tests) skips a test on `None`.
pub trait FixtureOrSkip {
    type Fixture;

    fn into_fixture(self) -> Option<Self::Fixture>;
}

/// The fixture of a backend that may be absent.
impl<Fixture> FixtureOrSkip for Option<Fixture> {
    type Fixture = Fixture;

    fn into_fixture(self) -> Option<Fixture> {
        self
    }
}

/// Marks fixtures of backends that are always there (embedded, in-process): returned bare.
macro_rules! always_available {
    ($($fixture:ty),+ $(,)?) => {
        $(
            impl FixtureOrSkip for $fixture {
                type Fixture = Self;

                fn into_fixture(self) -> Option<Self> {
                    Some(self)
                }
            }
        )+
    };
}

always_available!(SqliteFixture, InMemoryFixture);

/// Whether we run in CI, where every backend must run: CI services set `CI=true`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// The suites already announced as skipped, so that each says so once, not once per test.
static ANNOUNCED_SKIPS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Says that `suite` is skipped because `variable` is not set, suggesting `example` as its value;
/// panics instead in CI, where a skipped backend would pass unnoticed.
///
/// The line goes straight to the process's standard error rather than through `eprintln!`, which
/// the test harness captures and hides for a passing test.
pub fn skip_or_panic(suite: &str, variable: &str, example: &str) {
    assert!(!in_ci(), "the {suite} are required in CI, but {variable} is not set (e.g. {variable}={example})");
    let mut announced = ANNOUNCED_SKIPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !announced.iter().any(|announced_suite| announced_suite == suite) {
        announced.push(suite.to_owned());
        // Nothing useful can be done if standard error is gone.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {suite} (set {variable}={example} to run them)");
    }
}

/// The server URL in `variable`, or `None` after [`skip_or_panic`] when it is unset or empty.
pub fn server_url(suite: &str, variable: &str, example: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            skip_or_panic(suite, variable, example);
            None
        }
    }
}

/// Enough connections for the concurrency contracts to run their contenders side by side.
const SQLITE_POOL_SIZE: u32 = 4;

/// The SQLite repositories over one freshly migrated database in a temporary folder.
#[derive(Debug)]
pub struct SqliteFixture {
    pub users: SqliteUserRepository,
    pub sessions: SqliteSessionRepository,
    pub one_time_tokens: SqliteOneTimeTokenRepository,
    pub audit_log: SqliteAuditLog,
    pub signing_keys: SqliteSigningKeyStore,
    pub mail_queue: SqliteMailQueue,
    pub second_factors: SqliteSecondFactorRepository,
    /// Over the same database, sealing under another master key than every field above.
    pub mail_queue_under_another_key: SqliteMailQueue,
    /// The database file, for the SQLite-only tests that read the tables directly.
    pub database_path: PathBuf,
    /// Declared last so that it is dropped last: removing the folder deletes the database.
    _folder: TempDir,
}

/// A new, migrated SQLite database, private to the calling test.
pub async fn sqlite() -> SqliteFixture {
    let folder = tempfile::tempdir().expect("a temporary folder can be created");
    let database_path = folder.path().join("contract.sqlite3");
    let database = SqliteDatabase::open(&database_path, SQLITE_POOL_SIZE).expect("the temporary database opens");
    database.migrate().await.expect("the migrations apply to an empty database");
    let sealer = MailSealer::new(&MasterKey::generate());
    SqliteFixture {
        users: SqliteUserRepository::new(database.clone(), sealer.clone()),
        sessions: SqliteSessionRepository::new(database.clone(), sealer.clone()),
        one_time_tokens: SqliteOneTimeTokenRepository::new(database.clone(), sealer.clone()),
        audit_log: SqliteAuditLog::new(database.clone(), Arc::new(UuidV7Generator)),
        signing_keys: SqliteSigningKeyStore::new(database.clone()),
        mail_queue: SqliteMailQueue::new(database.clone(), sealer),
        second_factors: SqliteSecondFactorRepository::new(database.clone(), TotpSealer::new(&MasterKey::generate())),
        mail_queue_under_another_key: SqliteMailQueue::new(database, MailSealer::new(&MasterKey::generate())),
        database_path,
        _folder: folder,
    }
}

/// The in-process stores of the embedded mode, empty.
#[derive(Debug, Default)]
pub struct InMemoryFixture {
    pub revocations: InMemoryRevocationStore,
    pub rate_limiter: InMemoryRateLimiter,
}

/// New, empty in-process stores. Async like every fixture function, so that the runners treat
/// all backends alike.
pub async fn in_memory() -> InMemoryFixture {
    InMemoryFixture::default()
}

/// Generous, for a shared CI machine: the contracts test behaviour, not latency.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis stores, under a key prefix no other test uses.
#[derive(Debug)]
pub struct RedisFixture {
    pub revocations: RedisRevocationStore,
    pub rate_limiter: RedisRateLimiter,
    /// Every key this fixture writes starts with it.
    pub prefix: String,
    /// The server's URL, for the Redis-only tests that inspect keys or sit in front of it.
    pub url: String,
}

/// The Redis stores on the server named by AUTH_TEST_REDIS_URL, with a fresh key prefix
/// (`{AUTH_TEST_REDIS_PREFIX, by default "authd-test:"}{uuid}:`) so tests never see each other's
/// keys. Nothing is deleted afterwards: every key the stores write expires on its own.
pub async fn redis() -> Option<RedisFixture> {
    let url = server_url("Redis contract tests", "AUTH_TEST_REDIS_URL", "redis://127.0.0.1:6379")?;
    let base_prefix = std::env::var("AUTH_TEST_REDIS_PREFIX").unwrap_or_else(|_| "authd-test:".to_owned());
    let prefix = format!("{base_prefix}{}:", Uuid::new_v4());
    let store = RedisStore::new(&url, prefix.clone(), REDIS_TIMEOUT).expect("AUTH_TEST_REDIS_URL is a valid Redis URL");
    store.ping().await.expect("the Redis server named by AUTH_TEST_REDIS_URL answers PING");
    Some(RedisFixture {
        revocations: RedisRevocationStore::new(store.clone()),
        rate_limiter: RedisRateLimiter::new(store),
        prefix,
        url,
    })
}

/// Generous, for a shared CI machine: the contracts test behaviour, not latency.
const POSTGRES_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL repositories over a fresh, migrated schema of their own.
#[derive(Debug)]
pub struct PostgresFixture {
    pub users: PostgresUserRepository,
    pub sessions: PostgresSessionRepository,
    pub one_time_tokens: PostgresOneTimeTokenRepository,
    pub audit_log: PostgresAuditLog,
    pub signing_keys: PostgresSigningKeyStore,
    pub mail_queue: PostgresMailQueue,
    pub second_factors: PostgresSecondFactorRepository,
    /// Over the same schema, sealing under another master key than every field above.
    pub mail_queue_under_another_key: PostgresMailQueue,
    /// A URL whose connections use the fixture's schema, for the PostgreSQL-only tests.
    pub url: String,
}

/// The PostgreSQL repositories on the database named by AUTH_TEST_DATABASE_URL, in a schema no
/// other test uses (`search_path` set through the URL's `options`), migrated from scratch.
pub async fn postgres() -> Option<PostgresFixture> {
    let base_url =
        server_url("PostgreSQL contract tests", "AUTH_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")?;
    let (client, connection) = tokio_postgres::connect(&base_url, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL server named by AUTH_TEST_DATABASE_URL answers");
    tokio::spawn(connection);
    let schema = format!("contract_{}", Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("a schema can be created");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
    let database = PostgresDatabase::new(&secrecy::SecretString::from(url.clone()), 8, POSTGRES_TIMEOUT)
        .expect("the pool is built");
    database.migrate().await.expect("the migrations apply to an empty schema");
    let sealer = MailSealer::new(&MasterKey::generate());
    Some(PostgresFixture {
        users: PostgresUserRepository::new(database.clone(), sealer.clone()),
        sessions: PostgresSessionRepository::new(database.clone(), sealer.clone()),
        one_time_tokens: PostgresOneTimeTokenRepository::new(database.clone(), sealer.clone()),
        audit_log: PostgresAuditLog::new(database.clone(), Arc::new(UuidV7Generator)),
        signing_keys: PostgresSigningKeyStore::new(database.clone()),
        mail_queue: PostgresMailQueue::new(database.clone(), sealer),
        second_factors: PostgresSecondFactorRepository::new(database.clone(), TotpSealer::new(&MasterKey::generate())),
        mail_queue_under_another_key: PostgresMailQueue::new(database, MailSealer::new(&MasterKey::generate())),
        url,
    })
}
