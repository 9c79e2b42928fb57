//! Recovery codes: single-use second factors for when the authenticator is lost.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::tokens::TokenHash;

/// How many codes a user gets when TOTP is confirmed.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Characters per code: 16 of base32, 80 bits, so that the stored hashes cannot be searched
/// through even if the database leaks.
const CODE_CHARACTERS: usize = 16;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A recovery code, shown once as `xxxx-xxxx-xxxx-xxxx` and stored only as its hash.
#[derive(Clone)]
pub struct RecoveryCode(SecretString);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

impl RecoveryCode {
    /// A code from at least 10 random bytes (80 bits are used).
    pub fn from_random_bytes(bytes: &[u8]) -> Self {
        let mut code = String::with_capacity(CODE_CHARACTERS + 3);
        let (mut buffer, mut bits, mut written) = (0u32, 0u32, 0usize);
        for &byte in bytes {
            if written == CODE_CHARACTERS {
                break;
            }
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 && written < CODE_CHARACTERS {
                bits -= 5;
                if written > 0 && written % 4 == 0 {
                    code.push('-');
                }
                code.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
                written += 1;
            }
            buffer &= (1 << bits) - 1;
        }
        assert!(written == CODE_CHARACTERS, "a recovery code needs at least 10 random bytes");
        Self(SecretString::from(code))
    }

    /// Accepts a code as a person types it: any case, with or without the dashes and spaces.
    pub fn parse(presented: &str) -> Option<Self> {
        let normalised: String =
            presented.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_lowercase()).collect();
        let valid = normalised.len() == CODE_CHARACTERS && normalised.bytes().all(|byte| ALPHABET.contains(&byte));
        if !valid {
            return None;
        }
        let grouped = normalised.as_bytes().chunks(4).map(|chunk| std::str::from_utf8(chunk).unwrap_or_default());
        Some(Self(SecretString::from(grouped.collect::<Vec<_>>().join("-"))))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form: the hash of the code without its dashes.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.expose().replace('-', ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_base32_and_parse_back_however_typed() {
        let code = RecoveryCode::from_random_bytes(&[0xa5; 32]);
        let text = code.expose().to_owned();
        assert_eq!(text.len(), 19);
        assert_eq!(text.matches('-').count(), 3);
        let typed = text.to_uppercase().replace('-', " ");
        assert_eq!(RecoveryCode::parse(&typed).unwrap().hash(), code.hash());
        assert_eq!(RecoveryCode::parse(&text.replace('-', "")).unwrap().hash(), code.hash());
    }

    #[test]
    fn different_bytes_make_different_codes() {
        let first = RecoveryCode::from_random_bytes(&[1; 10]);
        let second = RecoveryCode::from_random_bytes(&[2; 10]);
        assert_ne!(first.hash(), second.hash());
    }

    #[test]
    fn malformed_codes_are_refused() {
        assert!(RecoveryCode::parse("").is_none());
        assert!(RecoveryCode::parse("123456").is_none());
        assert!(RecoveryCode::parse("aaaa-aaaa-aaaa-aaa1").is_none());
        assert!(RecoveryCode::parse("aaaa-aaaa-aaaa-aaaa-a").is_none());
    }

    #[test]
    fn debug_redacts() {
        let code = RecoveryCode::from_random_bytes(&[7; 10]);
        assert!(!format!("{code:?}").contains(&code.expose()[..4]));
    }
}
