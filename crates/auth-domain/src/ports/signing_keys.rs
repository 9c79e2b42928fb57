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
    /// Every key that is not retired, oldest first.
    async fn list_active(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError>;

    async fn insert(&self, key: StoredSigningKey) -> Result<(), InfrastructureError>;

    /// Stores `key` only if no key is active yet; returns whether it did. MUST be atomic, so that
    /// replicas starting together on an empty database agree on one first key.
    async fn insert_if_none_active(&self, key: StoredSigningKey) -> Result<bool, InfrastructureError>;
}
