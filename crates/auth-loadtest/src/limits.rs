//! The limits every figure is compared with, measured in the same run on the same machine: the
//! raw Argon2id rate at the service's parameters, and the raw rate of the refresh-rotation
//! transaction on the service's own database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use auth_adapters::argon2_hasher::Argon2Parameters;
use auth_adapters::keys::MasterKey;
use auth_adapters::postgres::{PostgresDatabase, PostgresSessionRepository};
use auth_adapters::sealed_mail::MailSealer;
use auth_adapters::sqlite::{SqliteDatabase, SqliteSessionRepository};
use auth_domain::ports::{Rotation, RotationOutcome, SessionRepository};
use auth_domain::{RefreshToken, TokenHash};
use time::OffsetDateTime;

use crate::service::{Mode, Service};

/// Argon2id verifications per second with the `argon2` crate alone, at the service's parameters,
/// on one thread per CPU (what the service's hashing can use at most).
pub fn argon2_rate(duration: Duration) -> anyhow::Result<f64> {
    let parameters = Argon2Parameters::default();
    let params = Params::new(parameters.memory_kib, parameters.iterations, parameters.parallelism, None)
        .map_err(|error| anyhow::anyhow!("invalid Argon2 parameters: {error}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let password = b"violet-otter-sings-at-dawn-42";
    let phc = argon2
        .hash_password(password, &SaltString::generate(&mut OsRng))
        .map_err(|error| anyhow::anyhow!("cannot hash: {error}"))?
        .to_string();
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon2, phc, done, stop) = (argon2.clone(), phc.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(parsed) = PasswordHash::new(&phc)
                        && argon2.verify_password(password, &parsed).is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    // Hashes that finish after the stop still count, over the time they took.
    for worker in workers {
        let _ = worker.join();
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

fn random_hash() -> TokenHash {
    RefreshToken::from_random_bytes(rand::random()).hash()
}

/// The service's own session repository, over its database, with its default pool size (16).
fn sessions(service: &Service) -> anyhow::Result<Arc<dyn SessionRepository>> {
    // Rotations seal nothing; any sealer will do.
    let sealer = MailSealer::new(&MasterKey::generate());
    Ok(match service.mode {
        Mode::Embedded => Arc::new(SqliteSessionRepository::new(
            SqliteDatabase::open(std::path::Path::new(&service.database), 16).context("cannot open the SQLite file")?,
            sealer,
        )),
        Mode::Postgres => {
            let database = PostgresDatabase::new(
                &secrecy::SecretString::from(service.database.clone()),
                16,
                Duration::from_secs(3),
            )?;
            Arc::new(PostgresSessionRepository::new(database, sealer))
        }
    })
}

/// Refresh-token rotations per second through the service's own repository on its database
/// (`SessionRepository::rotate`: the transaction of a refresh, nothing around it), one chain of
/// rotations per refresh token given, all at once.
pub async fn rotation_rate(service: &Service, refresh_tokens: &[String], duration: Duration) -> anyhow::Result<f64> {
    let sessions = sessions(service)?;
    let mut chains = Vec::with_capacity(refresh_tokens.len());
    for token in refresh_tokens {
        let token = RefreshToken::parse(token).context("a refresh token that does not parse")?;
        let (session, record) = sessions
            .find_by_refresh_token(&token.hash())
            .await?
            .context("a seeded refresh token the database does not know")?;
        chains.push((session.id, record.hash));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = chains
        .into_iter()
        .map(|(session_id, mut parent)| {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                let mut rotations = 0u64;
                while Instant::now() < deadline {
                    let successor = random_hash();
                    let now = OffsetDateTime::now_utc();
                    let rotation = Rotation {
                        session_id,
                        parent: parent.clone(),
                        successor: successor.clone(),
                        now,
                        idle_expires_at: now + time::Duration::days(7),
                    };
                    if matches!(sessions.rotate(&rotation).await, Ok(RotationOutcome::Rotated)) {
                        rotations += 1;
                        parent = successor;
                    }
                }
                rotations
            })
        })
        .collect();
    let mut total = 0u64;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
