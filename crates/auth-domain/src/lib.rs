//! The authentication domain: entities, ports and use cases, with no knowledge of any infrastructure.
//!
//! Architecture invariant: this crate depends on no web framework, database driver, cache client,
//! mailer, JWT library or password-hashing crate. Those live behind the traits in [`ports`] and are
//! implemented in `auth-adapters`. A tidy test (`auth-domain/tests/tidy.rs`) checks the invariant with
//! `cargo tree`.

pub mod audit;
pub mod email;
pub mod error;
pub mod ids;
pub mod mail;
pub mod password;
pub mod ports;
pub mod rate_limit;
pub mod recovery_code;
pub mod services;
pub mod session;
pub mod signing_keys;
pub mod tokens;
pub mod totp;
pub mod user;
pub mod validation;

pub use audit::{AuditDetail, AuditEventKind, NewAuditEvent};
pub use email::{Email, EmailError};
pub use error::InfrastructureError;
pub use ids::{MailJobId, SessionId, UserId};
pub use mail::Mail;
pub use password::{Password, PasswordHash, PasswordPolicy};
pub use rate_limit::{RateDecision, RateLimit, RateLimitExceeded};
pub use services::{AuthPolicy, AuthPorts, AuthServices, Principal, RateLimits, RequestContext};
pub use session::{RefreshTokenRecord, Session};
pub use tokens::{AccessClaims, OneTimeToken, RefreshSecret, RefreshToken, TokenHash, TokenPair};
pub use user::{DisplayName, Role, User};
pub use validation::FieldError;
