//! How a queued mail is stored: its fields as JSON, sealed with a key derived from the master key.
//!
//! A queued verification or reset mail carries a live token; sealing keeps the token out of the
//! database in the clear, as everywhere else (the token tables hold only hashes). The job id is
//! bound in as associated data, so that a payload moved to another row does not open.

use std::sync::Arc;

use auth_domain::ids::MailJobId;
use auth_domain::{Email, Mail, OneTimeToken};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::keys::MasterKey;

/// Seals and opens queued mails; cheap to clone.
#[derive(Clone)]
pub struct MailSealer {
    key: Arc<MasterKey>,
}

impl std::fmt::Debug for MailSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailSealer([redacted])")
    }
}

/// A stored payload that does not open (another master key, or altered) or does not decode.
#[derive(Debug, thiserror::Error)]
#[error("the queued mail cannot be opened: {0}")]
pub struct UnreadableMail(&'static str);

#[derive(Serialize, Deserialize)]
struct StoredMail {
    template: String,
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    at: Option<OffsetDateTime>,
}

impl MailSealer {
    pub fn new(master_key: &MasterKey) -> Self {
        Self { key: Arc::new(master_key.derive_key("mail-queue")) }
    }

    /// The payload column's text for `mail`, queued as job `id`.
    pub fn seal(&self, id: MailJobId, mail: &Mail) -> String {
        let stored = to_stored(mail);
        let plaintext = serde_json::to_vec(&stored).expect("plain strings serialise");
        STANDARD.encode(self.key.seal(id.as_uuid().as_bytes(), &plaintext))
    }

    /// The mail that [`MailSealer::seal`] stored for job `id`.
    ///
    /// # Errors
    /// When the payload was sealed with another key or for another job, was altered, or holds a
    /// mail this version cannot read.
    pub fn open(&self, id: MailJobId, payload: &str) -> Result<Mail, UnreadableMail> {
        let sealed = STANDARD.decode(payload).map_err(|_| UnreadableMail("not base64"))?;
        let plaintext = self
            .key
            .open(id.as_uuid().as_bytes(), &sealed)
            .map_err(|_| UnreadableMail("sealed with another key, or altered"))?;
        let stored: StoredMail = serde_json::from_slice(&plaintext).map_err(|_| UnreadableMail("not a stored mail"))?;
        from_stored(stored).ok_or(UnreadableMail("an unknown template or a malformed field"))
    }
}

fn to_stored(mail: &Mail) -> StoredMail {
    let mut stored = StoredMail {
        template: mail.template_name().to_owned(),
        to: mail.recipient().as_str().to_owned(),
        token: None,
        ip: None,
        user_agent: None,
        at: None,
    };
    match mail {
        Mail::VerifyEmail { token, .. } | Mail::PasswordReset { token, .. } => {
            stored.token = Some(token.expose().to_owned());
        }
        Mail::NewSignIn { ip, user_agent, at, .. } => {
            stored.ip.clone_from(ip);
            stored.user_agent.clone_from(user_agent);
            stored.at = Some(*at);
        }
        Mail::AlreadyRegistered { .. } | Mail::PasswordChanged { .. } => {}
    }
    stored
}

fn from_stored(stored: StoredMail) -> Option<Mail> {
    let to = Email::parse(&stored.to).ok()?;
    let token = || stored.token.as_deref().and_then(OneTimeToken::parse);
    Some(match stored.template.as_str() {
        "verify_email" => Mail::VerifyEmail { to, token: token()? },
        "password_reset" => Mail::PasswordReset { to, token: token()? },
        "already_registered" => Mail::AlreadyRegistered { to },
        "password_changed" => Mail::PasswordChanged { to },
        "new_sign_in" => Mail::NewSignIn { to, ip: stored.ip, user_agent: stored.user_agent, at: stored.at? },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn every_mail() -> Vec<Mail> {
        let to = Email::parse("ada@example.com").unwrap();
        let token = OneTimeToken::from_random_bytes([3; 32]);
        vec![
            Mail::VerifyEmail { to: to.clone(), token: token.clone() },
            Mail::PasswordReset { to: to.clone(), token },
            Mail::AlreadyRegistered { to: to.clone() },
            Mail::PasswordChanged { to: to.clone() },
            Mail::NewSignIn {
                to,
                ip: Some("203.0.113.9".into()),
                user_agent: Some("curl/8".into()),
                at: datetime!(2030-01-02 03:04:05.123456 UTC),
            },
        ]
    }

    #[test]
    fn every_mail_round_trips_and_no_token_is_stored_in_the_clear() {
        let sealer = MailSealer::new(&MasterKey::generate());
        for mail in every_mail() {
            let id = MailJobId::from_uuid(uuid::Uuid::now_v7());
            let payload = sealer.seal(id, &mail);
            assert_eq!(sealer.open(id, &payload).unwrap(), mail);
            if let Mail::VerifyEmail { token, .. } | Mail::PasswordReset { token, .. } = &mail {
                assert!(!payload.contains(token.expose()));
            }
            assert!(!payload.contains("ada@example.com"));
        }
    }

    #[test]
    fn a_payload_opens_neither_under_another_key_nor_for_another_job() {
        let sealer = MailSealer::new(&MasterKey::generate());
        let id = MailJobId::from_uuid(uuid::Uuid::now_v7());
        let payload = sealer.seal(id, &every_mail()[0]);
        assert!(MailSealer::new(&MasterKey::generate()).open(id, &payload).is_err());
        assert!(sealer.open(MailJobId::from_uuid(uuid::Uuid::now_v7()), &payload).is_err());
        assert!(sealer.open(id, "not base64!").is_err());
    }
}
