//! The ports of `auth-domain`, implemented on real infrastructure.
//!
//! - [`sqlite`]: the repositories on SQLite through Diesel (the embedded mode);
//! - [`argon2_hasher`]: Argon2id password hashing, bounded and off the async workers;
//! - [`jwt`]: access tokens signed with `jsonwebtoken`, keys generated and sealed by [`keys`];
//! - [`postgres`]: the repositories on PostgreSQL through diesel-async (the production mode);
//! - [`memory`]: the in-process revocation store and rate limiter (one node only);
//! - [`redis_store`]: the revocation store and rate limiter on Redis, shared by every replica;
//! - [`outbox`]: a mailer that writes `.eml` files to a folder (the embedded default);
//! - [`smtp`]: a mailer that sends through an SMTP server with lettre;
//! - [`sealed_mail`]: queued mails sealed at rest (the mail queue lives with the repositories);
//! - [`sealed_totp`]: TOTP secrets sealed at rest;
//! - [`system`]: the clock, identifiers and randomness of the running process.

pub mod argon2_hasher;
pub mod audit_chain;
pub mod breached_passwords;
pub mod jwt;
pub mod keys;
mod mail_queue_rows;
pub mod mail_templates;
pub mod memory;
pub mod outbox;
pub mod postgres;
pub mod redis_store;
pub mod sealed_mail;
pub mod sealed_totp;
pub mod smtp;
pub mod sqlite;
mod stored;
pub mod system;
