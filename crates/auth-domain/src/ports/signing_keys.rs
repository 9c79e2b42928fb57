//! Port: the signing keys, stored with their private part encrypted.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;

/// A signing key as stored: the public part in clear, the private part sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// The JOSE algorithm name: `EdDSA`, `ES256` or `RS256`.
    pub algorithm: String,
    /// The public key in the form its JWK is built from: for Ed25519, the 32 raw bytes.
    pub public_key: Vec<u8>,
    /// The private key (PKCS#8 DER), encrypted with the master key.
    pub encrypted_private_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// From when it signs new tokens; before that it is only published.
    pub activates_at: OffsetDateTime,
    /// From when it no longer verifies anything and leaves the JWKS.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key that is not retired, oldest first (by `activates_at`, then `kid`).
    async fn list_active(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError>;

    /// Every key, retired ones included, in the same order.
    async fn list_all(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError>;

    async fn insert(&self, key: StoredSigningKey) -> Result<(), InfrastructureError>;

    /// Stores `key` unless a key that is not retired was created at or after `created_since` (or,
    /// when it is `None`, unless any key is not retired); returns whether it did. MUST be atomic,
    /// so that replicas starting together on an empty database agree on one first key, and
    /// replicas rotating on a schedule make one key per period between them.
    async fn insert_unless_newer(
        &self,
        key: StoredSigningKey,
        created_since: Option<OffsetDateTime>,
    ) -> Result<bool, InfrastructureError>;

    /// Marks the key retired at `at`; returns false when no key that is not retired has this id.
    async fn retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, InfrastructureError>;
}

/// Makes new signing keys (the cryptography lives with the adapters).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SigningKeyGenerator: Send + Sync {
    /// A new key, sealed for storage, created at `created_at`, that signs from `activates_at`.
    async fn generate(
        &self,
        created_at: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<StoredSigningKey, InfrastructureError>;
}
