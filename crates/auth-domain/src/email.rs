//! A normalised email address: trimmed, lower-cased and shaped like an address.

use std::fmt;

use serde::Serialize;

/// The longest address RFC 5321 lets through a mail system.
pub const MAX_EMAIL_LENGTH: usize = 254;

/// An email address that has been trimmed, lower-cased and checked for shape.
///
/// Two spellings of one address differing only in case or surrounding space parse to equal values,
/// so lookups and rate-limit keys need no further normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 characters")]
    TooLong,
    #[error("the email address is not of the form name@domain")]
    Malformed,
}

impl EmailError {
    /// The stable code of this error in a problem document's `errors` list.
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "required",
            Self::TooLong => "too_long",
            Self::Malformed => "invalid_email",
        }
    }
}

impl Email {
    /// Normalises and checks `raw`.
    ///
    /// # Errors
    /// [`EmailError`] names what is wrong with the address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        // The rules judge the lower-case form, the one stored and parsed again on every read:
        // lower-casing may lengthen text (`Ⱥ` is two bytes, `ⱥ` three) or add a mark that is not
        // alphanumeric (`İ` becomes `i` and U+0307), so an address judged before it would be
        // stored yet refused when read back, an account no one could load.
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let domain_is_plausible = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_is_plausible = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if !domain_is_plausible || !local_is_plausible {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_differing_in_case_and_space_are_equal() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap(), Email::parse("ada@example.com").unwrap());
    }

    #[test]
    fn an_address_without_a_domain_is_malformed() {
        assert_eq!(Email::parse("ada@"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("ada"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("@example.com"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("ada@exa mple.com"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("ada@example..com"), Err(EmailError::Malformed));
    }

    #[test]
    fn an_accepted_address_parses_again_to_itself_even_when_lower_casing_changes_its_shape() {
        // Both were accepted, then refused when read back; the `request_bodies` fuzz target checks it.
        let dotted_capital_i = "ada@\u{130}.example";
        let lengthening_local_part = format!("{}@example.com", "\u{23A}".repeat(32));
        assert_eq!(Email::parse(dotted_capital_i), Err(EmailError::Malformed));
        assert_eq!(Email::parse(&lengthening_local_part), Err(EmailError::Malformed));
        for raw in ["Ada@Example.COM", "\u{C9}lise@B\u{DC}cher.example", "\u{3A3}\u{3A3}@example.gr"] {
            let email = Email::parse(raw).expect("a valid address");
            assert_eq!(Email::parse(email.as_str()), Ok(email));
        }
    }

    #[test]
    fn an_empty_or_overlong_address_is_refused() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
