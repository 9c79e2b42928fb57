//! The database: which one, and how much of it a process may hold.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, SettingsSource};

/// The database when AUTH_DATABASE_URL is unset: the embedded mode.
const DEFAULT_URL: &str = "sqlite://data/auth.db";

/// How the database is reached.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    /// The embedded mode: a SQLite file, created on first start.
    Sqlite { path: PathBuf },
    /// The production mode: a PostgreSQL server shared by every replica.
    Postgres { url: SecretString },
}

impl PartialEq for DatabaseLocation {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Sqlite { path: left }, Self::Sqlite { path: right }) => left == right,
            (Self::Postgres { url: left }, Self::Postgres { url: right }) => {
                left.expose_secret() == right.expose_secret()
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub location: DatabaseLocation,
    pub pool_size: u32,
    /// The longest a request waits for the database before it gets a 503.
    pub timeout: Duration,
}

impl DatabaseSettings {
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let url = source.secret("AUTH_DATABASE_URL")?;
        source.secret_default("AUTH_DATABASE_URL", DEFAULT_URL);
        let location = match url.as_ref().map_or(DEFAULT_URL, ExposeSecret::expose_secret) {
            url if url.starts_with("sqlite://") => {
                let path = &url["sqlite://".len()..];
                if path.is_empty() {
                    return Err(ConfigError::new(
                        "AUTH_DATABASE_URL",
                        "sqlite:// needs a file path, e.g. sqlite://data/auth.db",
                    ));
                }
                DatabaseLocation::Sqlite { path: PathBuf::from(path) }
            }
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseLocation::Postgres { url: SecretString::from(url.to_owned()) }
            }
            // The value is not echoed: a mistyped URL may still hold a password.
            _ => return Err(ConfigError::new("AUTH_DATABASE_URL", "expected sqlite://PATH or postgres://...")),
        };
        let pool_size = source.count("AUTH_DATABASE_POOL_SIZE", 16, 1, 1024)?;
        Ok(Self {
            location,
            pool_size: u32::try_from(pool_size).unwrap_or(16),
            timeout: source.duration("AUTH_DATABASE_TIMEOUT", "3s")?,
        })
    }

    /// The folder beside the SQLite file, where the embedded mode keeps its master key.
    pub fn data_folder(&self) -> PathBuf {
        match &self.location {
            DatabaseLocation::Sqlite { path } => path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            DatabaseLocation::Postgres { .. } => PathBuf::from("data"),
        }
    }
}
