//! A normalised email address: trimmed, lower-cased, its domain in one IDNA form, and shaped like
//! an address.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::Serialize;

/// The longest address RFC 5321 lets through a mail system.
pub const MAX_EMAIL_LENGTH: usize = 254;

/// An email address that has been trimmed, lower-cased, its domain normalised, and checked for
/// shape.
///
/// Two spellings of one address differing only in case, surrounding space, or the spelling of an
/// internationalised domain (`bücher.example` or `xn--bcher-kva.example`) parse to equal values, so
/// lookups and rate-limit keys need no further normalisation.
///
/// The domain is kept in its Unicode form (UTS #46 ToUnicode; ASCII domains are unchanged): rows
/// stored before domains were normalised hold the lower-cased Unicode text the user typed, which
/// is this form, so they are still found; it is also what people read in a mail or the API. Mail
/// goes out to [`Email::ascii_domain_form`], which any SMTP server accepts without SMTPUTF8 when
/// the local part is ASCII. (A row stored with an `xn--` domain reads back in the Unicode form,
/// but lookups by address do not find it until it is rewritten: docs/operations.md.)
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
    #[error("the email address's domain is not a valid domain name (IDNA)")]
    InvalidDomain,
}

impl EmailError {
    /// The stable code of this error in a problem document's `errors` list.
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "required",
            Self::TooLong => "too_long",
            // The same code as any other bad address: clients need no new case, and the message
            // says what is wrong.
            Self::Malformed | Self::InvalidDomain => "invalid_email",
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
        let lowered = raw.trim().to_lowercase();
        if lowered.is_empty() {
            return Err(EmailError::Empty);
        }
        // Checked first, as before domains were normalised, which also bounds the IDNA work; and
        // again below on the form stored, which the domain's normalisation may have changed.
        if lowered.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = lowered.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let local_is_plausible = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if !local_is_plausible {
            return Err(EmailError::Malformed);
        }
        let domain = canonical_domain(domain)?;
        let normalised = format!("{local}@{domain}");
        if normalised.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its domain in ASCII (`xn--` labels), as DNS and SMTP know it: what a
    /// mailer sends to. The local part is unchanged.
    pub fn ascii_domain_form(&self) -> String {
        // Both always hold for a parsed address: it has an `@`, and its domain passed this very
        // conversion.
        let Some((local, domain)) = self.0.rsplit_once('@') else { return self.0.clone() };
        to_ascii(domain).map_or_else(|| self.0.clone(), |ascii| format!("{local}@{ascii}"))
    }
}

/// The domain in ASCII, checked: UTS #46 with the STD3 rules (letters, digits and hyphens only)
/// and DNS lengths (labels of 1 to 63 octets, at most 253 in all, no trailing dot; RFC 5321 has
/// no root dot in an address). Hyphens anywhere are allowed, as browsers and lettre do.
fn to_ascii(domain: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(domain.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow, DnsLength::Verify)
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The one form a domain is stored in, whichever way it was spelt: the Unicode form of its
/// checked ASCII form.
fn canonical_domain(domain: &str) -> Result<String, EmailError> {
    // Shapes that are no domain at all keep their old error; the rest is IDNA's to judge.
    if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(EmailError::Malformed);
    }
    if domain.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
        return Err(EmailError::Malformed);
    }
    let ascii = to_ascii(domain).ok_or(EmailError::InvalidDomain)?;
    let (unicode, result) = Uts46::new().to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    result.map_err(|_| EmailError::InvalidDomain)?;
    // As before IDNA: letters, digits, hyphens and dots only, judged on the form stored, so that
    // a stored domain parses again to itself (a label IDNA allows may hold a combining mark).
    if !unicode.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.') {
        return Err(EmailError::Malformed);
    }
    Ok(unicode.into_owned())
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

    #[test]
    fn both_spellings_of_an_internationalised_domain_are_one_address() {
        let unicode = Email::parse("user@b\u{FC}cher.example").unwrap();
        assert_eq!(unicode.as_str(), "user@b\u{FC}cher.example", "stored in the Unicode form");
        for spelling in ["user@xn--bcher-kva.example", "USER@XN--BCHER-KVA.EXAMPLE", " User@B\u{DC}CHER.Example "] {
            assert_eq!(Email::parse(spelling), Ok(unicode.clone()), "{spelling}");
        }
        assert_eq!(unicode.ascii_domain_form(), "user@xn--bcher-kva.example");
        let ascii = Email::parse("Ada@Example.COM").unwrap();
        assert_eq!(ascii.ascii_domain_form(), ascii.as_str());
    }

    #[test]
    fn a_domain_that_is_no_valid_idna_name_is_refused_with_its_own_message() {
        for domain in ["xn--.example", "xn--abc-.example", "ex_ample.com", "a\u{5D0}.example"] {
            let error = Email::parse(&format!("ada@{domain}")).unwrap_err();
            assert_eq!(error, EmailError::InvalidDomain, "{domain}");
            assert_eq!(error.code(), "invalid_email");
        }
        assert!(EmailError::InvalidDomain.to_string().contains("domain"));
    }

    #[test]
    fn a_trailing_dot_or_an_overlong_label_or_domain_is_refused() {
        assert_eq!(Email::parse("ada@example.com."), Err(EmailError::Malformed));
        assert_eq!(Email::parse(&format!("ada@{}.example", "a".repeat(64))), Err(EmailError::InvalidDomain));
        assert!(Email::parse(&format!("ada@{}.example", "a".repeat(63))).is_ok());
        // The ASCII form is what DNS limits: 60 `ü` are 60 characters but a longer `xn--` label.
        assert_eq!(Email::parse(&format!("ada@{}.example", "\u{FC}".repeat(60))), Err(EmailError::InvalidDomain));
        let long_domain = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(60)].join(".");
        assert_eq!(Email::parse(&format!("a@{long_domain}")), Ok(Email(format!("a@{long_domain}"))), "254 in all");
        assert_eq!(Email::parse(&format!("ab@{long_domain}")), Err(EmailError::TooLong));
    }
}
