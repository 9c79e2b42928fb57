//! The database of either mode, and the repositories chosen by it.

use std::sync::Arc;

use anyhow::Context;
use auth_adapters::audit_chain::{ChainBreak, ChainSummary};
use auth_adapters::keys::{MasterKey, SealedKeyGenerator};
use auth_adapters::postgres::{
    PostgresAuditLog, PostgresDatabase, PostgresMailQueue, PostgresOneTimeTokenRepository,
    PostgresSecondFactorRepository, PostgresSessionRepository, PostgresSigningKeyStore, PostgresUserRepository,
};
use auth_adapters::sealed_mail::MailSealer;
use auth_adapters::sealed_totp::TotpSealer;
use auth_adapters::sqlite::{
    SqliteAuditLog, SqliteDatabase, SqliteMailQueue, SqliteOneTimeTokenRepository, SqliteSecondFactorRepository,
    SqliteSessionRepository, SqliteSigningKeyStore, SqliteUserRepository,
};
use auth_adapters::system::{SystemClock, UuidV7Generator};
use auth_domain::InfrastructureError;
use auth_domain::ports::{
    AuditLog, Clock, IdGenerator, MailQueue, OneTimeTokenRepository, SecondFactorRepository, SessionRepository,
    SigningKeyStore, UserRepository,
};
use auth_domain::signing_keys::{SigningKeyPorts, SigningKeyService};

use super::keys::{key_policy, master_key};
use crate::config::{DatabaseLocation, Settings};
use crate::probes::{DatabaseProbe, Ping};

/// The database of either mode.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

/// The repository ports of one database.
pub(super) struct Repositories {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub mail_queue: Arc<dyn MailQueue>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
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
    /// Opens the pool. For PostgreSQL this connects to nothing yet.
    ///
    /// # Errors
    /// When the SQLite file cannot be opened or the pool cannot be built.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let database = &settings.database;
        match &database.location {
            DatabaseLocation::Sqlite { path } => SqliteDatabase::open(path, database.pool_size)
                .map(Self::Sqlite)
                .with_context(|| format!("cannot open the SQLite database {}", path.display())),
            DatabaseLocation::Postgres { url } => {
                let pool_size = usize::try_from(database.pool_size).unwrap_or(16);
                Ok(Self::Postgres(PostgresDatabase::new(url, pool_size, database.timeout)?))
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

    pub(super) fn repositories(&self, ids: &Arc<dyn IdGenerator>, master_key: &MasterKey) -> Repositories {
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

    pub(super) fn signing_keys_with(
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
                generator: Arc::new(SealedKeyGenerator::new(settings.keys.signing_algorithm, master_key.clone())),
                audit,
                clock,
            },
            key_policy(settings),
        )
    }
}

impl DatabaseProbe for Database {
    fn ping(&self) -> Ping<'_> {
        Box::pin(Database::ping(self))
    }

    fn pool_usage(&self) -> (u32, u32) {
        Database::pool_usage(self)
    }
}
