//! The backends the contracts run against: one fixture function per backend, each on fresh state.
//!
//! Every repository fixture has the fields `users`, `sessions`, `one_time_tokens`, `audit_log` and
//! `signing_keys`; every store fixture has `revocations` and `rate_limiter`. The port modules reach
//! them by those names, so a new backend's fixture only has to use them too.

use std::path::PathBuf;
use std::sync::Arc;

use auth_adapters::memory::{InMemoryRateLimiter, InMemoryRevocationStore};
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteOneTimeTokenRepository, SqliteSessionRepository, SqliteSigningKeyStore,
    SqliteUserRepository,
};
use auth_adapters::system::UuidV7Generator;
use tempfile::TempDir;

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
    SqliteFixture {
        users: SqliteUserRepository::new(database.clone()),
        sessions: SqliteSessionRepository::new(database.clone()),
        one_time_tokens: SqliteOneTimeTokenRepository::new(database.clone()),
        audit_log: SqliteAuditLog::new(database.clone(), Arc::new(UuidV7Generator)),
        signing_keys: SqliteSigningKeyStore::new(database),
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
