//! The master key and the signing keys.

use std::time::Duration;

use auth_adapters::keys::SigningAlgorithm;
use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, DatabaseLocation, DatabaseSettings, SettingsSource, TokenSettings};

#[derive(Debug, Clone)]
pub struct KeySettings {
    pub master_key: Option<SecretString>,
    /// The algorithm of the signing keys made from now on (existing keys keep theirs).
    pub signing_algorithm: SigningAlgorithm,
    /// Automatic signing-key rotation: a new key when the newest is this old.
    pub rotation_period: Option<Duration>,
    /// How often each process re-reads the signing keys, so that a rotation or a retirement made
    /// elsewhere reaches it.
    pub reload_interval: Duration,
}

impl KeySettings {
    /// Whether a master key is required depends on the database, and the shortest rotation on
    /// the access tokens' lifetime.
    ///
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(
        source: &SettingsSource,
        database: &DatabaseSettings,
        tokens: &TokenSettings,
    ) -> Result<Self, ConfigError> {
        let master_key = source.secret("AUTH_MASTER_KEY")?;
        if master_key.is_none() && matches!(database.location, DatabaseLocation::Postgres { .. }) {
            return Err(ConfigError::new(
                "AUTH_MASTER_KEY",
                "is required with PostgreSQL: every replica must seal and open the signing keys with the same key \
                 (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            ));
        }
        if let Some(key) = &master_key {
            auth_adapters::keys::MasterKey::from_base64(key.expose_secret())
                .map_err(|_| ConfigError::new("AUTH_MASTER_KEY", "expected the base64 of exactly 32 bytes"))?;
        }
        let signing_algorithm = source
            .text("AUTH_SIGNING_ALG", "EdDSA")
            .trim()
            .parse::<SigningAlgorithm>()
            .map_err(|error| ConfigError::new("AUTH_SIGNING_ALG", error.to_string()))?;
        let rotation_period = source.optional_duration("AUTH_KEY_ROTATION_PERIOD")?;
        let reload_interval = source.duration("AUTH_KEY_RELOAD_INTERVAL", "1s")?;
        if reload_interval > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "AUTH_KEY_RELOAD_INTERVAL",
                "at most 60s: replicas must pick up a rotation or a retirement within a minute",
            ));
        }
        if let Some(period) = rotation_period {
            // A key must outlive the tokens it signed, and the next one its publication.
            if period < tokens.access_ttl * 2 || period < Duration::from_secs(3600) {
                return Err(ConfigError::new(
                    "AUTH_KEY_ROTATION_PERIOD",
                    "must be at least 1h and twice AUTH_ACCESS_TTL, e.g. 30d",
                ));
            }
        }
        Ok(Self { master_key, signing_algorithm, rotation_period, reload_interval })
    }
}
