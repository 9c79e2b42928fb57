//! Collaborators that several areas share, each holding only the ports it needs: areas hold
//! them by value (they are cheap clones of `Arc`s), so an area's fields say all it depends on.

mod audit;
mod issuer;
mod mails;
mod passwords;
mod second_factor;
mod throttle;

pub(crate) use audit::Auditor;
pub(crate) use issuer::TokenIssuer;
pub(crate) use mails::MailStamp;
pub(crate) use passwords::{NewPasswordRules, PasswordConfirmation, PasswordProof};
pub(crate) use second_factor::{SecondFactorCheck, SecondFactorGate, mfa_keys, password_fingerprint};
pub use throttle::{FAILURE_STREAK, MAX_BACKOFF, backoff_after};
pub(crate) use throttle::{LimitError, Throttle, limit_keys};
