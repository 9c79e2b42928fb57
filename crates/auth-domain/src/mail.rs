//! The mails the domain asks to be sent; their wording and links are the mailer's business.

use time::OffsetDateTime;

use crate::email::Email;
use crate::ids::MailJobId;
use crate::tokens::OneTimeToken;

/// A mail the domain wants delivered. The mailer renders it with the service's public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// Carries the link that verifies the address.
    VerifyEmail { to: Email, token: OneTimeToken },
    /// Sent instead of a second registration, so that registering reveals nothing to a stranger.
    AlreadyRegistered { to: Email },
    /// Carries the link that sets a new password.
    PasswordReset { to: Email, token: OneTimeToken },
    /// Tells the owner that the password was changed or reset, in case it was not them.
    PasswordChanged { to: Email },
    /// Tells the owner of a sign-in from a device and address none of their live sessions uses.
    NewSignIn { to: Email, ip: Option<String>, user_agent: Option<String>, at: OffsetDateTime },
}

impl Mail {
    pub fn recipient(&self) -> &Email {
        match self {
            Self::VerifyEmail { to, .. }
            | Self::AlreadyRegistered { to }
            | Self::PasswordReset { to, .. }
            | Self::PasswordChanged { to }
            | Self::NewSignIn { to, .. } => to,
        }
    }

    /// A stable name for logs, metrics and the queue.
    pub fn template_name(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged { .. } => "password_changed",
            Self::NewSignIn { .. } => "new_sign_in",
        }
    }
}

/// A mail to put in the queue, in the same transaction as the change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: MailJobId,
    pub mail: Mail,
    pub queued_at: OffsetDateTime,
}

/// A mail claimed from the queue by one worker, for one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailJob {
    pub id: MailJobId,
    pub mail: Mail,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub queued_at: OffsetDateTime,
}
