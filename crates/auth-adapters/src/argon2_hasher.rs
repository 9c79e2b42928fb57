//! [`PasswordHasher`] with Argon2id: bounded concurrency, a bounded queue, and hashing threads of
//! its own, each reusing one Argon2 memory buffer.
//!
//! Why threads of its own rather than Tokio's blocking pool: the blocking pool grows to hundreds
//! of threads, and every thread that ever hashed kept its 19 MiB in its malloc arena, so resident
//! memory grew with the number of threads that happened to hash (about 500 MiB after a burst of
//! logins, measured by `cargo xtask loadtest`). AUTH_HASH_CONCURRENCY threads, each with one
//! buffer allocated once, bound it to `concurrency × m` and spare the page faults of a fresh
//! allocation on every hash.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// Jobs for the hashing threads; they end when it is dropped.
    jobs: Sender<Job>,
}

/// What a hashing thread runs: given the Argon2 instance (parameters and pepper) and the thread's
/// memory buffer.
type Job = Box<dyn FnOnce(&Argon2<'_>, &mut Vec<Block>) + Send>;

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
    #[error("cannot start a hashing thread")]
    Thread(#[source] std::io::Error),
}

/// A hashing thread: runs jobs until the hasher is dropped, with one buffer of Argon2 memory
/// allocated on its first job and reused by every later one.
fn hashing_thread(jobs: &Mutex<Receiver<Job>>, parameters: Argon2Parameters, pepper: Option<&SecretBox<Vec<u8>>>) {
    let Ok(argon2) = build_argon2(parameters, pepper) else { return };
    let mut blocks = Vec::new();
    loop {
        // The lock is only held to take the next job: one thread waits in `recv`, the others on
        // the lock, and each job goes to exactly one thread.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking job must not take its thread with it: capacity would shrink unseen. Its
            // caller sees its reply channel close, and answers an error.
            Ok(job) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&argon2, &mut blocks))).is_err() {
                    tracing::error!("a password hashing job panicked; the thread goes on");
                }
            }
            Err(_) => return,
        }
    }
}

/// `blocks`, grown to what `params` needs (it only ever grows: a thread keeps its largest buffer).
fn memory_for<'a>(blocks: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::default());
    }
    &mut blocks[..params.block_count()]
}

/// A new hash of `password` with a fresh salt, as a PHC string, computed in `blocks`.
fn hash_into_phc(
    argon2: &Argon2<'_>,
    blocks: &mut Vec<Block>,
    password: &[u8],
) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2.hash_password_into_with_memory(password, raw_salt, &mut output, memory_for(blocks, argon2.params()))?;
    let phc = PhcHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `stored`, computed with the stored hash's own algorithm, version
/// and parameters (and our pepper), in `blocks`; compared in constant time (`Output`'s equality).
fn verify_phc(
    pepper: Option<&[u8]>,
    blocks: &mut Vec<Block>,
    password: &[u8],
    stored: &PhcHash<'_>,
) -> Result<bool, argon2::password_hash::Error> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(argon2::password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(stored.algorithm)?;
    let version = stored.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let params = Params::try_from(stored)?;
    let argon2 = match pepper {
        Some(pepper) => Argon2::new_with_secret(pepper, algorithm, version, params.clone())?,
        None => Argon2::new(algorithm, version, params.clone()),
    };
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes)?;
    let mut output = [0u8; Output::MAX_LENGTH];
    let output = output.get_mut(..expected.len()).ok_or(argon2::password_hash::Error::OutputSize {
        provided: std::cmp::Ordering::Greater,
        expected: Output::MAX_LENGTH,
    })?;
    argon2.hash_password_into_with_memory(password, raw_salt, output, memory_for(blocks, &params))?;
    Ok(Output::new(output)? == *expected)
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
        // One real hash made at start-up, to verify against when the account does not exist.
        let mut blocks = Vec::new();
        let dummy_hash = hash_into_phc(&argon2, &mut blocks, b"no account has this password")
            .map_err(Argon2SetupError::DummyHash)?;
        drop(blocks);
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..concurrency {
            let receiver = receiver.clone();
            let pepper = pepper.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || hashing_thread(&receiver, parameters, pepper.as_deref()))
                .map_err(Argon2SetupError::Thread)?;
        }
        Ok(Self {
            parameters,
            pepper,
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
            dummy_hash,
            jobs: sender,
        })
    }

    /// Runs one Argon2 computation on a hashing thread, once a slot is free.
    async fn compute<T, F>(&self, operation: &'static str, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'_>, &mut Vec<Block>) -> T + Send + 'static,
    {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| HashError::Overloaded)?;
        let _running = self.running.clone().acquire_owned().await.map_err(InfrastructureError::unexpected)?;
        // A child of the request's span, entered on the thread that does the work.
        let span = tracing::info_span!("password", otel.name = operation, password.operation = operation);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |argon2, blocks| {
            let _entered = span.enter();
            let _ = reply.send(work(argon2, blocks));
        });
        self.jobs.send(job).map_err(|_| InfrastructureError::unexpected("the hashing threads are gone"))?;
        answer.await.map_err(|_| HashError::from(InfrastructureError::unexpected("a hashing thread panicked")))
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
            .compute("password.hash", move |argon2, blocks| hash_into_phc(argon2, blocks, password.expose().as_bytes()))
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
        let pepper = self.pepper.clone();
        let matched = self
            .compute("password.verify", move |_, blocks| {
                let parsed = PhcHash::new(&stored)?;
                let pepper = pepper.as_deref().map(|pepper| pepper.expose_secret().as_slice());
                verify_phc(pepper, blocks, password.expose().as_bytes(), &parsed)
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
    async fn hashes_stay_interchangeable_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        // Stored hashes were made by `argon2::PasswordHasher` before the hashing threads reused
        // their memory; both directions must keep working, peppered or not.
        for pepper in [None, Some(b"pepper".to_vec())] {
            let hasher = Argon2Hasher::new(fast(), pepper.clone().map(|p| SecretBox::new(Box::new(p))), 2, 8).unwrap();
            let reference_pepper = pepper.map(|p| SecretBox::new(Box::new(p)));
            let reference = build_argon2(fast(), reference_pepper.as_ref()).unwrap();

            let ours = hasher.hash(&Password::new("violet-otter-sings")).await.unwrap();
            let parsed = PhcHash::new(ours.as_str()).unwrap();
            assert!(reference.verify_password(b"violet-otter-sings", &parsed).is_ok());
            assert!(reference.verify_password(b"violet-otter-sang", &parsed).is_err());

            let salt = SaltString::generate(&mut OsRng);
            let theirs = reference.hash_password(b"violet-otter-sings", &salt).unwrap();
            let theirs = PasswordHash::new(theirs.to_string());
            assert_eq!(
                hasher.verify(&Password::new("violet-otter-sings"), &theirs).await.unwrap(),
                PasswordCheck::Match { needs_rehash: false }
            );
            assert_eq!(
                hasher.verify(&Password::new("violet-otter-sang"), &theirs).await.unwrap(),
                PasswordCheck::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn a_hash_made_with_more_memory_than_the_threads_hold_still_verifies() {
        let big = Argon2Hasher::new(Argon2Parameters { memory_kib: 4096, ..fast() }, None, 1, 8).unwrap();
        let hash = big.hash(&Password::new("violet-otter-sings")).await.unwrap();
        let small = Argon2Hasher::new(fast(), None, 1, 8).unwrap();
        assert_eq!(
            small.verify(&Password::new("violet-otter-sings"), &hash).await.unwrap(),
            PasswordCheck::Match { needs_rehash: true }
        );
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
