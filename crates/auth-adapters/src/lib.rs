//! The ports of `auth-domain`, implemented on real infrastructure.
//!
//! - [`sqlite`]: the repositories on SQLite through Diesel (the embedded mode);
//! - [`argon2_hasher`]: Argon2id password hashing, bounded and off the async workers;
//! - [`jwt`]: access tokens signed with `jsonwebtoken`, keys generated and sealed by [`keys`];
//! - [`memory`]: the in-process revocation store and rate limiter (one node only);
//! - [`outbox`]: a mailer that writes `.eml` files to a folder;
//! - [`system`]: the clock, identifiers and randomness of the running process.

pub mod argon2_hasher;
pub mod jwt;
pub mod keys;
pub mod mail_templates;
pub mod memory;
pub mod outbox;
pub mod sqlite;
pub mod system;
