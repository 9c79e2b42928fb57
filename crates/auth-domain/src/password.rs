//! Passwords in clear (never printed), their stored hashes, and the policy a new password must meet.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::validation::FieldError;

/// The longest password accepted, in Unicode scalar values, whatever the configuration.
pub const MAX_PASSWORD_LENGTH: usize = 128;

/// A password in clear, NFKC-normalised so that the same characters typed on two keyboards hash
/// alike. Its `Debug` prints `[redacted]`, so it cannot reach a log line by accident.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Normalises `raw` without judging its strength: use this for a password being checked
    /// against a stored hash, and [`PasswordPolicy::check`] for one being set.
    pub fn new(raw: &str) -> Self {
        Self(SecretString::from(raw.nfkc().collect::<String>()))
    }

    /// The normalised password, for the hasher only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn length(&self) -> usize {
        self.expose().chars().count()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A password hash in PHC string format, as the hasher produced it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not the password, but it is what an offline attack starts from.
        f.write_str("PasswordHash([redacted])")
    }
}

/// What a new password must satisfy.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// The lowest acceptable zxcvbn score, 0 to 4.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 12, min_score: 3 }
    }
}

impl PasswordPolicy {
    /// Checks a new password, with `user_inputs` (email, display name) counted as guessable words.
    ///
    /// # Errors
    /// The field errors of `field`, at most one: the first rule the password breaks.
    pub fn check(&self, field: &'static str, password: &Password, user_inputs: &[&str]) -> Result<(), FieldError> {
        let length = password.length();
        if length < self.min_length {
            return Err(FieldError::new(
                field,
                "too_short",
                format!("must be at least {} characters long", self.min_length),
            ));
        }
        if length > MAX_PASSWORD_LENGTH {
            return Err(FieldError::new(
                field,
                "too_long",
                format!("must be at most {MAX_PASSWORD_LENGTH} characters long"),
            ));
        }
        if self.min_score > 0 {
            let estimate = zxcvbn::zxcvbn(password.expose(), user_inputs);
            if u8::from(estimate.score()) < self.min_score {
                let hint = estimate
                    .feedback()
                    .and_then(|feedback| feedback.warning().map(|warning| warning.to_string()))
                    .unwrap_or_else(|| "add more words or characters that are hard to guess".to_owned());
                return Err(FieldError::new(field, "too_weak", format!("is too easy to guess: {hint}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_prints_itself() {
        let password = Password::new("correct horse battery staple");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn passwords_are_nfkc_normalised() {
        // U+FB01 is the "fi" ligature; NFKC turns it into the two letters.
        assert_eq!(Password::new("\u{FB01}").expose(), "fi");
    }

    #[test]
    fn a_short_password_is_too_short() {
        let error = PasswordPolicy::default().check("password", &Password::new("Sh0rt!"), &[]).unwrap_err();
        assert_eq!(error.code, "too_short");
    }

    #[test]
    fn a_long_but_guessable_password_is_too_weak() {
        let error = PasswordPolicy::default().check("password", &Password::new("passwordpassword"), &[]).unwrap_err();
        assert_eq!(error.code, "too_weak");
    }

    #[test]
    fn the_email_counts_against_the_password() {
        let policy = PasswordPolicy::default();
        let password = Password::new("ada.lovelace1815");
        assert!(policy.check("password", &password, &["ada.lovelace1815@example.com", "ada", "lovelace1815"]).is_err());
    }

    #[test]
    fn an_overlong_password_is_refused() {
        let error = PasswordPolicy::default().check("password", &Password::new(&"x7#Q".repeat(40)), &[]).unwrap_err();
        assert_eq!(error.code, "too_long");
    }

    #[test]
    fn a_strong_password_passes() {
        PasswordPolicy::default().check("password", &Password::new("violet-otter-sings-at-dawn"), &[]).unwrap();
    }
}
