//! The ports: what the domain needs from the world, one trait per role, one file per port.
//!
//! Each trait's documentation is its contract; every implementation in `auth-adapters` is held to
//! it by the shared contract tests there.

mod audit_log;
mod background_tasks;
mod breached_passwords;
mod clock;
mod ids;
mod mail_queue;
mod mailer;
mod one_time_tokens;
mod password_hasher;
mod random;
mod rate_limiter;
mod revocation_store;
mod second_factor;
mod sessions;
mod signing_keys;
mod token_codec;
mod users;

pub use audit_log::*;
pub use background_tasks::*;
pub use breached_passwords::*;
pub use clock::*;
pub use ids::*;
pub use mail_queue::*;
pub use mailer::*;
pub use one_time_tokens::*;
pub use password_hasher::*;
pub use random::*;
pub use rate_limiter::*;
pub use revocation_store::*;
pub use second_factor::*;
pub use sessions::*;
pub use signing_keys::*;
pub use token_codec::*;
pub use users::*;
