//! The claims of an authd access token, and the identifiers they carry.
//!
//! The token's shape is written down here once. The issuer (`auth-domain`) signs an
//! [`AccessClaims`]; services that verify tokens themselves read the same type through
//! `auth-verifier` (as its `Claims`), so the claim names, their serde spelling and the typed ids
//! ([`UserId`], [`SessionId`]) cannot drift apart between the two. Serde only: no runtime, no
//! JWT library, nothing of the service.

mod claims;
mod ids;

pub use claims::{AccessClaims, Audiences};
pub use ids::{SessionId, UserId};

/// What [`uuid_id!`] expands to needs, reachable from the crates that invoke it.
#[doc(hidden)]
pub mod __private {
    pub use serde::{Deserialize, Serialize};
    pub use uuid::{self, Uuid};
}
