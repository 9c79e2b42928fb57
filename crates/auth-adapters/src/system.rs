//! The clock, identifier generator and random source of a running process.

use auth_domain::ports::{Clock, IdGenerator, RandomSource};
use auth_domain::tokens::TOKEN_BYTES;
use rand::RngCore;
use time::OffsetDateTime;
use uuid::Uuid;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// UUID v7: time-ordered, so new rows land at the end of an index.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// The operating system's cryptographically secure generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn token_bytes(&self) -> [u8; TOKEN_BYTES] {
        let mut bytes = [0; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes
    }
}
