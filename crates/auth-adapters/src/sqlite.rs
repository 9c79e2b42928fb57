//! The repository ports on SQLite through Diesel, for the embedded mode.
//!
//! Diesel's SQLite connection is synchronous, so every query runs on Tokio's blocking pool (never
//! on an async worker) with a connection from an r2d2 pool. Writes that read before they write
//! take an IMMEDIATE transaction, so that SQLite's busy timeout applies instead of a lock-upgrade
//! failure.

mod audit_log;
mod mail_queue;
mod one_time_tokens;
mod schema;
mod second_factor;
mod sessions;
mod signing_keys;
mod users;

pub use audit_log::SqliteAuditLog;
pub use mail_queue::SqliteMailQueue;
pub use one_time_tokens::SqliteOneTimeTokenRepository;
pub use second_factor::SqliteSecondFactorRepository;
pub use sessions::SqliteSessionRepository;
pub use signing_keys::SqliteSigningKeyStore;
pub use users::SqliteUserRepository;

use std::path::Path;
use std::time::Duration;

use auth_domain::InfrastructureError;
use diesel::SqliteConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How long a request waits for a pooled connection before it gets a 503.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of SQLite connections to one database file; cheap to clone.
#[derive(Clone)]
pub struct SqliteDatabase {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase").field("state", &self.pool.state()).finish()
    }
}

#[derive(Debug)]
struct ConnectionSettings;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, connection: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the one writer; the busy timeout makes writers queue
        // instead of failing; foreign keys are off by default in SQLite.
        connection
            .batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the database folder {path}")]
    CreateFolder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database")]
    Pool(#[from] diesel::r2d2::PoolError),
}

impl SqliteDatabase {
    /// Opens (creating if needed) the database file at `path`, with at most `pool_size` connections.
    ///
    /// # Errors
    /// When the folder cannot be created or the file cannot be opened.
    pub fn open(path: &Path, pool_size: u32) -> Result<Self, OpenError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| OpenError::CreateFolder { path: parent.display().to_string(), source })?;
        }
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            .connection_customizer(Box::new(ConnectionSettings))
            .build(manager)?;
        Ok(Self { pool })
    }

    /// Applies every pending migration; returns the names of those applied.
    ///
    /// # Errors
    /// When a migration fails; the database is left at the last one that succeeded.
    pub async fn migrate(&self) -> Result<Vec<String>, InfrastructureError> {
        self.run(|connection| {
            let applied = connection.run_pending_migrations(MIGRATIONS).map_err(InfrastructureError::Unexpected)?;
            Ok(applied.iter().map(ToString::to_string).collect())
        })
        .await
    }

    /// The migrations not yet applied.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, InfrastructureError> {
        self.run(|connection| {
            let pending = connection.pending_migrations(MIGRATIONS).map_err(InfrastructureError::Unexpected)?;
            Ok(pending.iter().map(|migration| migration.name().to_string()).collect())
        })
        .await
    }

    /// Connections open, and of those how many are in use.
    pub fn pool_usage(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.connections.saturating_sub(state.idle_connections))
    }

    /// Whether the database answers a trivial query.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), InfrastructureError> {
        self.run(|connection| connection.batch_execute("SELECT 1").map_err(InfrastructureError::unexpected)).await
    }

    /// Runs `work` with a pooled connection on the blocking pool.
    async fn run<T, F>(&self, work: F) -> Result<T, InfrastructureError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, InfrastructureError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::info_span!("sqlite", otel.kind = "client", db.system = "sqlite");
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut connection: PooledConnection<_> = pool.get().map_err(InfrastructureError::unavailable)?;
            work(&mut connection)
        })
        .await
        .map_err(InfrastructureError::unexpected)?
    }

    /// Runs `work` in an IMMEDIATE transaction on the blocking pool.
    async fn write<T, F>(&self, work: F) -> Result<T, InfrastructureError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, diesel::result::Error> + Send + 'static,
    {
        self.run(|connection| connection.immediate_transaction(work).map_err(database_error)).await
    }

    /// Runs `work` outside a transaction on the blocking pool.
    async fn read<T, F>(&self, work: F) -> Result<T, InfrastructureError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, diesel::result::Error> + Send + 'static,
    {
        self.run(|connection| work(connection).map_err(database_error)).await
    }
}

/// Translates a Diesel error that no repository turned into a domain outcome.
fn database_error(error: diesel::result::Error) -> InfrastructureError {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        // A locked database past the busy timeout: the request may succeed later.
        Error::DatabaseError(DatabaseErrorKind::Unknown, ref info) if info.message().contains("locked") => {
            InfrastructureError::unavailable(error)
        }
        other => InfrastructureError::unexpected(other),
    }
}

const INSTANT_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// An instant in the fixed-width text form the schema stores.
fn encode_instant(instant: OffsetDateTime) -> String {
    instant.to_offset(time::UtcOffset::UTC).format(INSTANT_FORMAT).expect("every UTC instant formats")
}

fn decode_instant(text: &str) -> Result<OffsetDateTime, diesel::result::Error> {
    time::PrimitiveDateTime::parse(text, INSTANT_FORMAT)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|error| corrupt(format!("bad instant {text:?}: {error}")))
}

fn decode_uuid(text: &str) -> Result<uuid::Uuid, diesel::result::Error> {
    uuid::Uuid::parse_str(text).map_err(|error| corrupt(format!("bad uuid {text:?}: {error}")))
}

/// A row that the schema's own writers could not have produced.
fn corrupt(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_and_sort_as_text() {
        let early = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        let late = early + time::Duration::microseconds(1);
        assert_eq!(decode_instant(&encode_instant(early)).unwrap(), early);
        assert!(encode_instant(early) < encode_instant(late));
        assert_eq!(encode_instant(early).len(), encode_instant(OffsetDateTime::UNIX_EPOCH).len());
    }
}
