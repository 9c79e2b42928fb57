//! Typed identifiers, so a session id can never be passed where a user id is expected.
//!
//! The ids an access token carries are `auth-claims`' (the crate that defines the token's shape
//! for the issuer and for verifiers alike), re-exported so that `auth_domain::ids::UserId` stays
//! the same type; the domain's own ids are made with the same macro.

pub use auth_claims::{SessionId, UserId};

auth_claims::uuid_id!(
    /// Identifies a mail waiting in, or failed out of, the mail queue.
    MailJobId
);
