//! The mails the domain asks to be sent; their wording and links are the mailer's business.

use crate::email::Email;
use crate::tokens::OneTimeToken;

/// A mail the domain wants delivered. The mailer renders it with the service's public URL.
#[derive(Debug, Clone)]
pub enum Mail {
    /// Carries the link that verifies the address.
    VerifyEmail { to: Email, token: OneTimeToken },
    /// Sent instead of a second registration, so that registering reveals nothing to a stranger.
    AlreadyRegistered { to: Email },
    /// Carries the link that sets a new password.
    PasswordReset { to: Email, token: OneTimeToken },
    /// Tells the owner that the password was changed or reset, in case it was not them.
    PasswordChanged { to: Email },
}

impl Mail {
    pub fn recipient(&self) -> &Email {
        match self {
            Self::VerifyEmail { to, .. }
            | Self::AlreadyRegistered { to }
            | Self::PasswordReset { to, .. }
            | Self::PasswordChanged { to } => to,
        }
    }

    /// A stable name for logs and metrics.
    pub fn template_name(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::AlreadyRegistered { .. } => "already_registered",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged { .. } => "password_changed",
        }
    }
}
