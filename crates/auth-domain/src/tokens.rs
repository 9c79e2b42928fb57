//! Token values: refresh tokens, one-time tokens, their hashes, access-token claims and token pairs.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::ids::SessionId;
use crate::user::User;

/// Bytes of randomness in every refresh and one-time token: 256 bits.
pub const TOKEN_BYTES: usize = 32;
/// Length of a token's URL-safe base64 form without padding.
const ENCODED_TOKEN_LENGTH: usize = 43;

/// The SHA-256 of a token: what the database stores instead of the token itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// URL-safe base64, as stored in text columns.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The inverse of [`TokenHash::encode`]; `None` for anything else.
    pub fn decode(encoded: &str) -> Option<Self> {
        decode_token_bytes(encoded).map(Self)
    }

    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", &self.encode()[..8])
    }
}

fn decode_token_bytes(encoded: &str) -> Option<[u8; 32]> {
    if encoded.len() != ENCODED_TOKEN_LENGTH {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    bytes.try_into().ok()
}

macro_rules! secret_token {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Encodes 32 random bytes as a token.
            pub fn from_random_bytes(bytes: [u8; TOKEN_BYTES]) -> Self {
                Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
            }

            /// Accepts a token presented by a client when it has the shape of one of ours.
            pub fn parse(presented: &str) -> Option<Self> {
                decode_token_bytes(presented).map(|_| Self(SecretString::from(presented.to_owned())))
            }

            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }

            pub fn hash(&self) -> TokenHash {
                TokenHash::of(self.expose())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        // Compared through their hashes, so that equality takes the same time whatever differs.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.hash() == other.hash()
            }
        }

        impl Eq for $name {}
    };
}

secret_token!(
    /// An opaque refresh token: 256 random bits, URL-safe base64. Stored only as its hash.
    RefreshToken
);
secret_token!(
    /// A single-use token mailed to a user (email verification, password reset).
    OneTimeToken
);
secret_token!(
    /// The token of a login waiting for its second factor: short-lived and single use.
    MfaToken
);

/// The server secret from which a refresh token's successor is derived.
#[derive(Clone)]
pub struct RefreshSecret(Vec<u8>);

impl RefreshSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSecret([redacted])")
    }
}

impl RefreshToken {
    /// The token that replaces this one at rotation.
    ///
    /// It is an HMAC of this token under the server secret, so a retry of the same refresh inside
    /// the grace window gets the very same successor without any plaintext token being stored.
    pub fn successor(&self, secret: &RefreshSecret) -> RefreshToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC accepts a key of any length");
        mac.update(b"refresh-token-successor\0");
        mac.update(self.expose().as_bytes());
        RefreshToken::from_random_bytes(mac.finalize().into_bytes().into())
    }
}

/// The claims of an access token: `auth-claims`' type, the one definition of the token's shape,
/// which `auth-verifier` reads as well. Its issuer form (`aud` one string) is this default.
pub use auth_claims::AccessClaims;

/// What a login or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: AccessToken,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    pub user: User,
}

/// A signed access token (a compact JWS); `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(compact: String) -> Self {
        Self(SecretString::from(compact))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_has_one_successor_per_secret() {
        let token = RefreshToken::from_random_bytes([7; 32]);
        let secret = RefreshSecret::new(vec![1; 32]);
        assert_eq!(token.successor(&secret).expose(), token.successor(&secret).expose());
        assert_ne!(token.successor(&secret).expose(), token.successor(&RefreshSecret::new(vec![2; 32])).expose());
        assert_ne!(token.successor(&secret).expose(), token.expose());
    }

    #[test]
    fn only_well_shaped_tokens_parse() {
        let token = RefreshToken::from_random_bytes([9; 32]);
        assert!(RefreshToken::parse(token.expose()).is_some());
        assert!(RefreshToken::parse("short").is_none());
        assert!(RefreshToken::parse(&"!".repeat(43)).is_none());
    }

    #[test]
    fn a_token_hash_round_trips_through_its_encoding() {
        let hash = RefreshToken::from_random_bytes([3; 32]).hash();
        assert_eq!(TokenHash::decode(&hash.encode()), Some(hash));
    }

    #[test]
    fn tokens_never_print_themselves() {
        let token = RefreshToken::from_random_bytes([5; 32]);
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
