//! Port: the shared cache of revoked sessions that every replica consults on every request.
//!
//! The database is the record of revocations (a revoked session, and the revocation feed's row of
//! it); this store is a cache of the part of that record whose access tokens may still be live, so
//! that checking a token costs no database query. A cache can lose what it holds: a process
//! starts with an empty one, Redis restarts empty, evicts keys under `maxmemory`, or is flushed.
//! So the store also says whether it holds the complete record, and the domain rebuilds it from
//! the database when it does not (see [`crate::RevocationService::is_session_revoked`]).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::SessionId;

/// What the store knows of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck {
    /// Not revoked, as far as the complete record goes.
    Live,
    Revoked,
    /// The store does not hold the complete record (never restored, or lost since): it cannot
    /// tell, and must be restored from the database before any token is believed.
    Incomplete,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Marks a session revoked until `until`, the latest expiry of any access token it issued;
    /// after that the mark may be forgotten. An earlier `until` never shortens a later one. MUST be
    /// visible to every replica once it returns. Does not make an incomplete store complete.
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError>;

    /// Whether the session is revoked at `now`. Called on every authenticated request: one round
    /// trip.
    ///
    /// # Errors
    /// Only infrastructure failures. MUST answer [`RevocationCheck::Incomplete`] rather than
    /// [`RevocationCheck::Live`] whenever marks may have been lost since the last
    /// [`RevocationStore::restore`]: the completeness flag and the marks are lost together or not
    /// at all.
    async fn check_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<RevocationCheck, InfrastructureError>;

    /// Adds `revoked` (each session with the instant until which it is remembered), then records
    /// that the store holds the complete record. Marks already there stay: a revocation written
    /// concurrently, after the caller read the database, is never dropped.
    async fn restore(&self, revoked: &[(SessionId, OffsetDateTime)]) -> Result<(), InfrastructureError>;

    /// Forgets the marks whose `until` has passed at `now`: their tokens have all expired.
    async fn forget_expired(&self, now: OffsetDateTime) -> Result<(), InfrastructureError>;
}
