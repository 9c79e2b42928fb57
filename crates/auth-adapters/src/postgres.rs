//! The repository ports on PostgreSQL through diesel-async, for the production mode.
//!
//! Connections come from a deadpool pool. Every operation runs in a task of its own and the caller
//! waits for it at most the configured timeout: a slow or unreachable server gives the request a
//! prompt `Unavailable` (HTTP 503), while the abandoned operation finishes or fails on its own and
//! its connection goes back to the pool whole, never half-way through a query.

mod audit_log;
mod mail_queue;
mod one_time_tokens;
mod schema;
mod second_factor;
mod sessions;
mod signing_keys;
mod users;

use std::time::Duration;

use auth_domain::InfrastructureError;
use deadpool::Runtime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

pub use audit_log::PostgresAuditLog;
pub use mail_queue::PostgresMailQueue;
pub use one_time_tokens::PostgresOneTimeTokenRepository;
pub use second_factor::PostgresSecondFactorRepository;
pub use sessions::PostgresSessionRepository;
pub use signing_keys::PostgresSigningKeyStore;
pub use users::PostgresUserRepository;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A pool of PostgreSQL connections; cheap to clone. Creating it connects to nothing: the first
/// query does, so that a server that is down at start-up does not stop the process.
#[derive(Clone)]
pub struct PostgresDatabase {
    pool: Pool<AsyncPgConnection>,
    url: SecretString,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresDatabase").field("status", &self.pool.status()).field("timeout", &self.timeout).finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the PostgreSQL connection pool: {0}")]
pub struct PostgresSetupError(String);

impl PostgresDatabase {
    /// A pool of at most `pool_size` connections to `url`, every operation bounded by `timeout`.
    ///
    /// # Errors
    /// When the pool cannot be built (never because the server is down).
    pub fn new(url: &SecretString, pool_size: usize, timeout: Duration) -> Result<Self, PostgresSetupError> {
        let mut config = ManagerConfig::default();
        // A checkout does not ping: a broken connection is noticed by diesel-async and dropped at
        // recycling, and pinging would double the round trips of every query.
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url.expose_secret(), config);
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|error| PostgresSetupError(error.to_string()))?;
        Ok(Self { pool, url: url.clone(), timeout })
    }

    /// Runs `work` with a pooled connection, in a task of its own, waiting at most the timeout.
    async fn run<T, F>(&self, work: F) -> Result<T, InfrastructureError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, DieselError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::info_span!("postgresql", otel.kind = "client", db.system = "postgresql");
        let task = tokio::spawn(
            async move {
                let mut connection = pool.get().await.map_err(InfrastructureError::unavailable)?;
                work(&mut connection).await.map_err(database_error)
            }
            .instrument(span),
        );
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) => Err(InfrastructureError::unexpected(join_error)),
            Err(_) => Err(InfrastructureError::unavailable(format!(
                "PostgreSQL did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Applies every pending migration; returns the names of those applied.
    ///
    /// # Errors
    /// When the server cannot be reached or a migration fails.
    pub async fn migrate(&self) -> Result<Vec<String>, InfrastructureError> {
        self.with_migration_harness(|harness| {
            harness
                .run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
        })
        .await
    }

    /// The migrations not yet applied.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, InfrastructureError> {
        self.with_migration_harness(|harness| {
            harness.pending_migrations(MIGRATIONS).map(|pending| pending.iter().map(|m| m.name().to_string()).collect())
        })
        .await
    }

    /// Diesel's migration harness is synchronous: it runs on a dedicated connection, on the
    /// blocking pool, so that no async worker is held up by DDL.
    async fn with_migration_harness<T, F>(&self, work: F) -> Result<T, InfrastructureError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> diesel::migration::Result<T> + Send + 'static,
    {
        use diesel_async::AsyncConnection;
        let connection = tokio::time::timeout(self.timeout, AsyncPgConnection::establish(self.url.expose_secret()))
            .await
            .map_err(|_| InfrastructureError::unavailable("PostgreSQL did not accept a connection in time"))?
            .map_err(InfrastructureError::unavailable)?;
        // Replicas started together with `--migrate` take turns; the lock goes with the connection.
        let mut connection = connection;
        tokio::time::timeout(
            self.timeout * 10,
            diesel_async::SimpleAsyncConnection::batch_execute(
                &mut connection,
                "SELECT pg_advisory_lock(7306086994436142196)",
            ),
        )
        .await
        .map_err(|_| InfrastructureError::unavailable("another process holds the migration lock for too long"))?
        .map_err(database_error)?;
        tokio::task::spawn_blocking(move || {
            let mut wrapper = AsyncConnectionWrapper::from(connection);
            work(&mut wrapper).map_err(InfrastructureError::Unexpected)
        })
        .await
        .map_err(InfrastructureError::unexpected)?
    }

    /// Connections open, and of those how many are in use.
    pub fn pool_usage(&self) -> (u32, u32) {
        let status = self.pool.status();
        let size = u32::try_from(status.size).unwrap_or(u32::MAX);
        let available = u32::try_from(status.available).unwrap_or(0);
        (size, size.saturating_sub(available))
    }

    /// Whether the server answers a trivial query.
    ///
    /// # Errors
    /// When it does not, in time.
    pub async fn ping(&self) -> Result<(), InfrastructureError> {
        use diesel_async::SimpleAsyncConnection;
        self.run(|connection| Box::pin(async move { connection.batch_execute("SELECT 1").await })).await
    }
}

/// Translates a Diesel error that no repository turned into a domain outcome.
fn database_error(error: DieselError) -> InfrastructureError {
    match error {
        // No SQLSTATE at all (diesel-async reports those as `UnableToSendCommand`): the bytes never
        // made it there and back, so the server is unreachable rather than the query wrong.
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
        | DieselError::BrokenTransactionManager => InfrastructureError::unavailable(error),
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
            if info.message().contains("connection") || info.message().contains("terminating") =>
        {
            InfrastructureError::unavailable(error)
        }
        other => InfrastructureError::unexpected(other),
    }
}

/// A row that the schema's own writers could not have produced.
fn corrupt(message: String) -> DieselError {
    DieselError::DeserializationError(message.into())
}
