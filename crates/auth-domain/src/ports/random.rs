//! Port: secret randomness for tokens.

use crate::tokens::TOKEN_BYTES;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RandomSource: Send + Sync {
    /// Bytes from a cryptographically secure generator.
    fn token_bytes(&self) -> [u8; TOKEN_BYTES];
}
