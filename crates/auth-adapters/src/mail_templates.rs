//! The wording of every mail, and the links in them, rendered from the domain's [`Mail`].

use auth_domain::Mail;

/// A mail ready to be written out or sent.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may hold a live token.
        f.debug_struct("RenderedMail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// Renders `mail` with links under `public_url` (no trailing slash).
pub fn render(mail: &Mail, public_url: &str) -> RenderedMail {
    let to = mail.recipient().as_str().to_owned();
    match mail {
        Mail::VerifyEmail { token, .. } => {
            let link = format!("{public_url}/verify-email?token={}", token.expose());
            RenderedMail {
                to,
                subject: "Verify your email address".to_owned(),
                text: format!(
                    "Hello,\r\n\r\nPlease confirm that this is your email address by opening this link:\r\n\r\n\
                     {link}\r\n\r\nThe link works once and expires in 24 hours. If you did not create an \
                     account, you can ignore this mail.\r\n"
                ),
            }
        }
        Mail::PasswordReset { token, .. } => {
            let link = format!("{public_url}/reset-password?token={}", token.expose());
            RenderedMail {
                to,
                subject: "Reset your password".to_owned(),
                text: format!(
                    "Hello,\r\n\r\nSomeone (perhaps you) asked to reset the password of your account. To \
                     choose a new one, open this link:\r\n\r\n{link}\r\n\r\nThe link works once and \
                     expires in 30 minutes. If you did not ask, ignore this mail: your password is unchanged.\r\n"
                ),
            }
        }
        Mail::PasswordChanged { .. } => RenderedMail {
            to,
            subject: "Your password was changed".to_owned(),
            text: format!(
                "Hello,\r\n\r\nThe password of your account was just changed, and your other sessions were \
                 signed out. If this was not you, reset your password at {public_url} now.\r\n"
            ),
        },
        Mail::AlreadyRegistered { .. } => RenderedMail {
            to,
            subject: "You already have an account".to_owned(),
            text: format!(
                "Hello,\r\n\r\nSomeone (perhaps you) tried to create an account with this email address, \
                 but you already have one. You can sign in at {public_url}, or reset your password there \
                 if you have forgotten it.\r\n\r\nIf this was not you, you can ignore this mail: nothing \
                 has changed.\r\n"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use auth_domain::{Email, OneTimeToken};

    use super::*;

    #[test]
    fn the_verification_mail_links_to_the_public_url_with_the_token() {
        let token = OneTimeToken::from_random_bytes([1; 32]);
        let mail = Mail::VerifyEmail { to: Email::parse("ada@example.com").unwrap(), token: token.clone() };
        let rendered = render(&mail, "https://auth.example.com");
        assert_eq!(rendered.to, "ada@example.com");
        assert!(rendered.text.contains(&format!("https://auth.example.com/verify-email?token={}", token.expose())));
    }
}
