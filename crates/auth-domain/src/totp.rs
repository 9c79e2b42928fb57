//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, 6 digits, 30-second steps,
//! one step of drift either way, each step usable once.
//!
//! The parameters are the ones every authenticator app implements without asking; they are fixed
//! rather than configurable so that an `otpauth://` URI never names one an app ignores.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either way.
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of secret: 160 bits, the size RFC 4226 recommends for HMAC-SHA1.
pub const SECRET_BYTES: usize = 20;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A shared TOTP secret. Never printed: `Debug` says `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }

    /// The secret as authenticator apps take it: unpadded RFC 4648 base32.
    pub fn to_base32(&self) -> String {
        let mut encoded = String::with_capacity(SECRET_BYTES * 8 / 5 + 1);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for byte in self.0 {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                encoded.push(char::from(BASE32_ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            encoded.push(char::from(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        encoded
    }

    /// The `otpauth://totp/...` URI an authenticator app scans: the issuer and account label it
    /// shows, and the secret.
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }

    /// The code of one time step.
    pub fn code_at_step(&self, step: i64) -> u32 {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        // RFC 4226 §5.3, dynamic truncation.
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]])
            & 0x7fff_ffff;
        binary % 10u32.pow(DIGITS)
    }

    /// Checks `code` against the steps around `now`. Returns the step it matched, which the caller
    /// stores: a later call with `last_used_step` at or after that step refuses the same code, and
    /// every earlier one, so a code observed in transit cannot be replayed.
    pub fn verify(&self, code: &str, now: OffsetDateTime, last_used_step: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let presented: u32 = code.parse().ok()?;
        let current = step_at(now);
        // Every candidate is computed and compared, so the time taken says nothing of which matched.
        let mut matched = None;
        for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
            let fresh = last_used_step.is_none_or(|used| step > used);
            if self.code_at_step(step) == presented && fresh && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }
}

/// The time step `instant` falls in.
pub fn step_at(instant: OffsetDateTime) -> i64 {
    instant.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a URI path or query.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret: the ASCII of "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(*b"12345678901234567890")
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).expect("in range")
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // The RFC lists 8 digits; 6-digit codes are their last six.
        for (unix, eight_digits) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(rfc_secret().code_at_step(step_at(at(unix))), eight_digits % 1_000_000, "at {unix}");
        }
    }

    #[test]
    fn the_secret_encodes_as_rfc_4648_base32() {
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn a_code_of_the_step_before_now_or_after_is_accepted_and_no_further() {
        let secret = rfc_secret();
        let now = at(1_234_567_890);
        let current = step_at(now);
        for step in [current - 1, current, current + 1] {
            let code = format!("{:06}", secret.code_at_step(step));
            assert_eq!(secret.verify(&code, now, None), Some(step));
        }
        for step in [current - 2, current + 2] {
            let code = format!("{:06}", secret.code_at_step(step));
            assert_eq!(secret.verify(&code, now, None), None, "step {step} is too far");
        }
    }

    #[test]
    fn a_code_is_accepted_once_and_never_an_older_one_after_it() {
        let secret = rfc_secret();
        let now = at(1_234_567_890);
        let current = step_at(now);
        let code = format!("{:06}", secret.code_at_step(current));
        let used = secret.verify(&code, now, None).expect("accepted first");
        assert_eq!(secret.verify(&code, now, Some(used)), None, "a replay is refused");
        let previous = format!("{:06}", secret.code_at_step(current - 1));
        assert_eq!(secret.verify(&previous, now, Some(used)), None, "an older code is refused too");
        let next = format!("{:06}", secret.code_at_step(current + 1));
        assert_eq!(secret.verify(&next, now, Some(used)), Some(current + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        for code in ["", "12345", "1234567", "12a456", "+12345", "１２３４５６"] {
            assert_eq!(secret.verify(code, at(59), None), None, "{code:?}");
        }
        let code = format!(" {:06} ", secret.code_at_step(step_at(at(59))));
        assert!(secret.verify(&code, at(59), None).is_some(), "surrounding spaces are forgiven");
    }

    #[test]
    fn the_provisioning_uri_names_issuer_account_and_parameters() {
        let uri = rfc_secret().provisioning_uri("Example Co", "ada+mfa@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Example%20Co:ada%2Bmfa%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn the_secret_is_never_printed() {
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret([redacted])");
    }
}
