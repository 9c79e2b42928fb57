//! [`PasswordHasher`] with Argon2id: bounded concurrency, a bounded queue, and the blocking pool.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use auth_domain::ports::{HashError, PasswordCheck, PasswordHasher};
use auth_domain::{InfrastructureError, Password, PasswordHash};
use secrecy::{ExposeSecret, SecretBox};
use tokio::sync::Semaphore;

/// Argon2id parameters: memory in KiB, iterations, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Parameters {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Parameters {
    /// OWASP's recommendation: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// Argon2id hashing that never runs more than `concurrency` hashes at once nor lets more than
/// `queue` wait, so that floods of logins cannot exhaust memory: past the queue, callers get
/// [`HashError::Overloaded`] at once.
pub struct Argon2Hasher {
    parameters: Argon2Parameters,
    pepper: Option<Arc<SecretBox<Vec<u8>>>>,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    dummy_hash: String,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("parameters", &self.parameters)
            .field("peppered", &self.pepper.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Argon2SetupError {
    #[error("invalid Argon2 parameters: {0}")]
    Parameters(argon2::Error),
    #[error("cannot compute the dummy hash: {0}")]
    DummyHash(argon2::password_hash::Error),
}

impl Argon2Hasher {
    /// # Errors
    /// When the parameters or pepper are out of Argon2's bounds.
    pub fn new(
        parameters: Argon2Parameters,
        pepper: Option<SecretBox<Vec<u8>>>,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self, Argon2SetupError> {
        let concurrency = concurrency.max(1);
        let pepper = pepper.map(Arc::new);
        let argon2 = build_argon2(parameters, pepper.as_deref()).map_err(Argon2SetupError::Parameters)?;
        let salt = SaltString::generate(&mut OsRng);
        // One real hash made at start-up, to verify against when the account does not exist.
        let dummy_hash = argon2
            .hash_password(b"no account has this password", &salt)
            .map_err(Argon2SetupError::DummyHash)?
            .to_string();
        Ok(Self {
            parameters,
            pepper,
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
            dummy_hash,
        })
    }

    /// Runs one Argon2 computation on the blocking pool, once a slot is free.
    async fn compute<T, F>(&self, operation: &'static str, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'_>) -> T + Send + 'static,
    {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| HashError::Overloaded)?;
        let _running = self.running.clone().acquire_owned().await.map_err(InfrastructureError::unexpected)?;
        let parameters = self.parameters;
        let pepper = self.pepper.clone();
        // A child of the request's span, entered on the blocking thread that does the work.
        let span = tracing::info_span!("password", otel.name = operation, password.operation = operation);
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let argon2 = build_argon2(parameters, pepper.as_deref()).map_err(InfrastructureError::unexpected)?;
            Ok(work(&argon2))
        })
        .await
        .map_err(InfrastructureError::unexpected)?
    }

    fn needs_rehash(&self, stored: &PhcHash<'_>) -> bool {
        let Ok(stored_params) = Params::try_from(stored) else { return true };
        stored.algorithm != argon2::ARGON2ID_IDENT
            || stored_params.m_cost() != self.parameters.memory_kib
            || stored_params.t_cost() != self.parameters.iterations
            || stored_params.p_cost() != self.parameters.parallelism
    }
}

fn build_argon2(
    parameters: Argon2Parameters,
    pepper: Option<&SecretBox<Vec<u8>>>,
) -> Result<Argon2<'_>, argon2::Error> {
    let params = Params::new(parameters.memory_kib, parameters.iterations, parameters.parallelism, None)?;
    match pepper {
        Some(pepper) => Argon2::new_with_secret(pepper.expose_secret(), Algorithm::Argon2id, Version::V0x13, params),
        None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        let phc = self
            .compute("password.hash", move |argon2| {
                let salt = SaltString::generate(&mut OsRng);
                argon2.hash_password(password.expose().as_bytes(), &salt).map(|hash| hash.to_string())
            })
            .await?
            .map_err(InfrastructureError::unexpected)?;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<PasswordCheck, HashError> {
        let stored = hash.as_str().to_owned();
        let needs_rehash = {
            let parsed = PhcHash::new(&stored).map_err(InfrastructureError::unexpected)?;
            self.needs_rehash(&parsed)
        };
        let password = password.clone();
        let matched = self
            .compute("password.verify", move |argon2| {
                let parsed = PhcHash::new(&stored)?;
                match argon2.verify_password(password.expose().as_bytes(), &parsed) {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::Password) => Ok(false),
                    Err(other) => Err(other),
                }
            })
            .await?
            .map_err(InfrastructureError::unexpected)?;
        Ok(if matched { PasswordCheck::Match { needs_rehash } } else { PasswordCheck::Mismatch })
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        let dummy = PasswordHash::new(self.dummy_hash.clone());
        self.verify(password, &dummy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Parameters {
        Argon2Parameters { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = Argon2Hasher::new(fast(), None, 2, 8).unwrap();
        let hash = hasher.hash(&Password::new("violet-otter-sings")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert_eq!(
            hasher.verify(&Password::new("violet-otter-sings"), &hash).await.unwrap(),
            PasswordCheck::Match { needs_rehash: false }
        );
        assert_eq!(hasher.verify(&Password::new("violet-otter-sang"), &hash).await.unwrap(), PasswordCheck::Mismatch);
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_needs_a_rehash() {
        let old = Argon2Hasher::new(fast(), None, 2, 8).unwrap();
        let hash = old.hash(&Password::new("violet-otter-sings")).await.unwrap();
        let new = Argon2Hasher::new(Argon2Parameters { iterations: 2, ..fast() }, None, 2, 8).unwrap();
        assert_eq!(
            new.verify(&Password::new("violet-otter-sings"), &hash).await.unwrap(),
            PasswordCheck::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn the_pepper_is_part_of_the_hash() {
        let peppered = Argon2Hasher::new(fast(), Some(SecretBox::new(Box::new(b"pepper".to_vec()))), 2, 8).unwrap();
        let hash = peppered.hash(&Password::new("violet-otter-sings")).await.unwrap();
        let plain = Argon2Hasher::new(fast(), None, 2, 8).unwrap();
        assert_eq!(plain.verify(&Password::new("violet-otter-sings"), &hash).await.unwrap(), PasswordCheck::Mismatch);
    }

    #[tokio::test]
    async fn past_the_queue_callers_are_told_to_come_back_later() {
        let hasher = Arc::new(Argon2Hasher::new(fast(), None, 1, 0).unwrap());
        // Hold the only slot, then ask for another hash.
        let held = hasher.admitted.clone().try_acquire_owned().unwrap();
        let refused = hasher.hash(&Password::new("violet-otter-sings")).await;
        assert!(matches!(refused, Err(HashError::Overloaded)));
        drop(held);
        assert!(hasher.hash(&Password::new("violet-otter-sings")).await.is_ok());
    }
}
