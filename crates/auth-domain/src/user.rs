//! The user account and the values it is made of.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::email::Email;
use crate::ids::UserId;
use crate::password::PasswordHash;
use crate::validation::FieldError;

/// A user account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub email_verified: bool,
    pub display_name: Option<DisplayName>,
    pub roles: Vec<Role>,
    pub mfa_enabled: bool,
    pub disabled: bool,
    pub password_hash: PasswordHash,
    /// Moves on at every change that must end what was granted before it (a new password,
    /// disabling, a change of roles): a session is opened only on the account's current version.
    pub credentials_version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl User {
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|role| role.as_str().to_owned()).collect()
    }
}

/// The name a user chose to be shown by: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

pub const MAX_DISPLAY_NAME_LENGTH: usize = 100;

impl DisplayName {
    /// # Errors
    /// A [`FieldError`] on `display_name` when the name is empty, too long or has control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new("display_name", "required", "must not be empty"));
        }
        if trimmed.chars().count() > MAX_DISPLAY_NAME_LENGTH {
            return Err(FieldError::new(
                "display_name",
                "too_long",
                format!("must be at most {MAX_DISPLAY_NAME_LENGTH} characters long"),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldError::new("display_name", "invalid", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role name: 1 to 64 characters of lower-case letters, digits, `_`, `-`, `.` or `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Role(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a role is 1 to 64 characters of a-z, 0-9, '_', '-', '.' or ':'")]
pub struct InvalidRole;

impl Role {
    /// # Errors
    /// [`InvalidRole`] when `raw` is not a valid role name.
    pub fn parse(raw: &str) -> Result<Self, InvalidRole> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.:".contains(c));
        if valid { Ok(Self(raw.to_owned())) } else { Err(InvalidRole) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert_eq!(DisplayName::parse("   ").unwrap_err().code, "required");
        assert_eq!(DisplayName::parse(&"x".repeat(101)).unwrap_err().code, "too_long");
        assert_eq!(DisplayName::parse("a\u{0007}b").unwrap_err().code, "invalid");
    }

    #[test]
    fn roles_are_lower_case_words() {
        assert!(Role::parse("admin").is_ok());
        assert!(Role::parse("billing:read").is_ok());
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("").is_err());
        assert!(Role::parse("a b").is_err());
    }
}
