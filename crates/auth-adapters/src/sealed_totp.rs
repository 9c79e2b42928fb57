//! How a TOTP secret is stored: sealed with a key derived from the master key, bound to its user.
//!
//! Whoever reads the database alone cannot compute a user's codes; a sealed secret copied to
//! another user's row does not open.

use std::sync::Arc;

use auth_domain::UserId;
use auth_domain::totp::{SECRET_BYTES, TotpSecret};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::keys::MasterKey;

/// Seals and opens TOTP secrets; cheap to clone.
#[derive(Clone)]
pub struct TotpSealer {
    key: Arc<MasterKey>,
}

impl std::fmt::Debug for TotpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSealer([redacted])")
    }
}

/// A stored secret that does not open (another master key, another user, or altered).
#[derive(Debug, thiserror::Error)]
#[error("the stored TOTP secret cannot be opened: {0}")]
pub struct UnreadableSecret(&'static str);

impl TotpSealer {
    pub fn new(master_key: &MasterKey) -> Self {
        Self { key: Arc::new(master_key.derive_key("totp-secret")) }
    }

    /// The stored text of `secret`, for `user_id`.
    pub fn seal(&self, user_id: UserId, secret: &TotpSecret) -> String {
        STANDARD.encode(self.key.seal(user_id.as_uuid().as_bytes(), secret.expose_bytes()))
    }

    /// # Errors
    /// When `sealed` was sealed with another key or for another user, or was altered.
    pub fn open(&self, user_id: UserId, sealed: &str) -> Result<TotpSecret, UnreadableSecret> {
        let sealed = STANDARD.decode(sealed).map_err(|_| UnreadableSecret("not base64"))?;
        let bytes = self
            .key
            .open(user_id.as_uuid().as_bytes(), &sealed)
            .map_err(|_| UnreadableSecret("sealed with another key or for another user, or altered"))?;
        let bytes: [u8; SECRET_BYTES] = bytes.try_into().map_err(|_| UnreadableSecret("not a secret's length"))?;
        Ok(TotpSecret::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_secret_opens_for_its_user_only() {
        let sealer = TotpSealer::new(&MasterKey::generate());
        let secret = TotpSecret::from_bytes([9; SECRET_BYTES]);
        let sealed = sealer.seal(user(1), &secret);
        assert_eq!(sealer.open(user(1), &sealed).unwrap(), secret);
        assert!(sealer.open(user(2), &sealed).is_err());
        assert!(TotpSealer::new(&MasterKey::generate()).open(user(1), &sealed).is_err());
        assert!(!sealed.contains(&secret.to_base32()));
    }
}
