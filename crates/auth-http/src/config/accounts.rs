//! How accounts are proven: email verification, password rules and the hashing that guards them.

use std::path::PathBuf;

use auth_domain::PasswordPolicy;
use secrecy::SecretString;

use super::{ConfigError, SettingsSource};

#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub require_email_verification: bool,
    pub password_min_length: usize,
    pub password_min_score: u8,
    pub password_pepper: Option<SecretString>,
    /// A sorted file of SHA-1 hashes of breached passwords (Have I Been Pwned's format).
    pub breached_passwords: Option<PathBuf>,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
}

impl AccountSettings {
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_concurrency = source.derived_count("AUTH_HASH_CONCURRENCY", (cpus, "number of CPUs"), 1, 1024)?;
        let breached_passwords = match source.optional("AUTH_BREACHED_PASSWORDS") {
            None => None,
            Some(path) => {
                let path = PathBuf::from(path);
                std::fs::File::open(&path).map_err(|error| {
                    ConfigError::new("AUTH_BREACHED_PASSWORDS", format!("cannot read {}: {error}", path.display()))
                })?;
                Some(path)
            }
        };
        // The domain's defaults, so that they are written down once.
        let defaults = PasswordPolicy::default();
        let min_length = source.count(
            "AUTH_PASSWORD_MIN_LENGTH",
            defaults.min_length,
            1,
            auth_domain::password::MAX_PASSWORD_LENGTH,
        )?;
        let min_score = source.count("AUTH_PASSWORD_MIN_SCORE", defaults.min_score.into(), 0, 4)?;
        Ok(Self {
            require_email_verification: source.flag("AUTH_REQUIRE_EMAIL_VERIFICATION", true)?,
            password_min_length: min_length,
            password_min_score: u8::try_from(min_score).unwrap_or(defaults.min_score),
            password_pepper: source.secret("AUTH_PASSWORD_PEPPER")?,
            breached_passwords,
            hash_concurrency,
            hash_queue: source.derived_count(
                "AUTH_HASH_QUEUE",
                (hash_concurrency * 4, "4 × AUTH_HASH_CONCURRENCY"),
                0,
                1_000_000,
            )?,
        })
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy { min_length: self.password_min_length, min_score: self.password_min_score }
    }
}
