//! The wording of every mail, and the links in them, rendered from the domain's [`Mail`] as a
//! plain-text and an HTML part; and the RFC 5322 message both mailers send.

use auth_domain::Mail;
use auth_domain::ids::MailJobId;
use auth_domain::mail::MailJob;
use auth_domain::ports::DeliveryError;
use lettre::Message;
/// A sender or recipient: `name <address>` or a bare address.
pub use lettre::message::Mailbox;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, MultiPart, SinglePart};
use time::format_description::well_known::Rfc3339;

/// A mail ready to be written out or sent.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may hold a live token.
        f.debug_struct("RenderedMail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// One paragraph or one link of a mail, rendered to both parts alike.
enum Block {
    Text(String),
    Link(String),
}

/// Renders `mail` with links under `public_url` (no trailing slash).
pub fn render(mail: &Mail, public_url: &str) -> RenderedMail {
    use Block::{Link, Text};
    let (subject, blocks) = match mail {
        Mail::VerifyEmail { token, .. } => (
            "Verify your email address",
            vec![
                Text("Please confirm that this is your email address by opening this link:".into()),
                Link(format!("{public_url}/verify-email?token={}", token.expose())),
                Text("The link works once and expires in 24 hours. If you did not create an account, you can ignore this mail.".into()),
            ],
        ),
        Mail::PasswordReset { token, .. } => (
            "Reset your password",
            vec![
                Text("Someone (perhaps you) asked to reset the password of your account. To choose a new one, open this link:".into()),
                Link(format!("{public_url}/reset-password?token={}", token.expose())),
                Text("The link works once and expires in 30 minutes. If you did not ask, ignore this mail: your password is unchanged.".into()),
            ],
        ),
        Mail::PasswordChanged { .. } => (
            "Your password was changed",
            vec![
                Text("The password of your account was just changed, and your other sessions were signed out.".into()),
                Text("If this was not you, reset your password now:".into()),
                Link(public_url.to_owned()),
            ],
        ),
        Mail::AlreadyRegistered { .. } => (
            "You already have an account",
            vec![
                Text("Someone (perhaps you) tried to create an account with this email address, but you already have one. You can sign in, or reset your password if you have forgotten it, at:".into()),
                Link(public_url.to_owned()),
                Text("If this was not you, you can ignore this mail: nothing has changed.".into()),
            ],
        ),
        Mail::NewSignIn { ip, user_agent, at, .. } => (
            "New sign-in to your account",
            vec![
                Text("Your account was just signed in to from a device or address we had not seen among your sessions:".into()),
                Text(format!(
                    "When: {}\nAddress: {}\nDevice: {}",
                    at.format(&Rfc3339).unwrap_or_default(),
                    ip.as_deref().unwrap_or("unknown"),
                    // A user agent is the client's to choose, up to the header limit: cut it short.
                    user_agent.as_deref().map_or_else(|| "unknown".to_owned(), |agent| agent.chars().take(200).collect()),
                )),
                Text("If this was you, there is nothing to do. If not, reset your password now, which signs out every session:".into()),
                Link(public_url.to_owned()),
            ],
        ),
    };
    RenderedMail {
        // The stored address keeps an internationalised domain in Unicode; DNS and SMTP servers
        // without SMTPUTF8 know it only by its `xn--` form.
        to: mail.recipient().ascii_domain_form(),
        subject: subject.to_owned(),
        text: text_part(&blocks),
        html: html_part(subject, &blocks),
    }
}

fn text_part(blocks: &[Block]) -> String {
    let mut text = String::from("Hello,\r\n\r\n");
    for block in blocks {
        match block {
            Block::Text(content) => {
                for line in content.lines() {
                    text.push_str(&wrap(line, 72));
                    text.push_str("\r\n");
                }
            }
            // A link stays on one line, so that it can be copied whole.
            Block::Link(link) => {
                text.push_str(link);
                text.push_str("\r\n");
            }
        }
        text.push_str("\r\n");
    }
    text
}

/// Breaks `line` at spaces into lines of at most `width` characters (longer words stay whole).
fn wrap(line: &str, width: usize) -> String {
    let mut wrapped = String::with_capacity(line.len() + 8);
    let mut current = 0;
    for word in line.split(' ') {
        let length = word.chars().count();
        if current > 0 && current + 1 + length > width {
            wrapped.push_str("\r\n");
            current = 0;
        } else if current > 0 {
            wrapped.push(' ');
            current += 1;
        }
        wrapped.push_str(word);
        current += length;
    }
    wrapped
}

fn html_part(subject: &str, blocks: &[Block]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\r\n\
         <body style=\"font-family: sans-serif; line-height: 1.5\">\r\n<p>Hello,</p>\r\n",
        escape_html(subject)
    );
    for block in blocks {
        match block {
            Block::Text(text) => {
                html.push_str(&format!("<p>{}</p>\r\n", escape_html(text).replace('\n', "<br>\r\n")));
            }
            Block::Link(link) => {
                let link = escape_html(link);
                html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>\r\n"));
            }
        }
    }
    html.push_str("</body></html>\r\n");
    html
}

/// Escapes text for HTML content and attribute values: a user agent is the client's to choose.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Why a message could not be built: a configuration or data error, never worth a retry.
#[derive(Debug, thiserror::Error)]
#[error("the mail cannot be built: {0}")]
pub struct BuildError(String);

/// The message for job `id`: multipart/alternative with the text part first, and a
/// `Message-ID` derived from the job id, so that a retry is recognisably the same mail.
///
/// # Errors
/// When the sender or the recipient is not a valid mailbox.
pub fn build_message(rendered: &RenderedMail, from: &Mailbox, id: MailJobId) -> Result<Message, BuildError> {
    let to: Mailbox = rendered.to.parse().map_err(|_| BuildError("the recipient is not a valid address".into()))?;
    let domain = from.email.domain();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(format!("<{id}@{domain}>")))
        .multipart(
            MultiPart::alternative()
                .singlepart(readable_part(ContentType::TEXT_PLAIN, &rendered.text))
                .singlepart(readable_part(ContentType::TEXT_HTML, &rendered.html)),
        )
        .map_err(|error| BuildError(error.to_string()))
}

/// The message of `job`, rendered with links under `public_url`: what every mailer sends.
///
/// # Errors
/// [`DeliveryError::Rejected`] when it cannot be built (an address lettre refuses): no retry helps.
pub fn message_for(job: &MailJob, from: &Mailbox, public_url: &str) -> Result<Message, DeliveryError> {
    build_message(&render(&job.mail, public_url), from, job.id)
        .map_err(|error| DeliveryError::Rejected(error.to_string()))
}

/// A part kept readable in the raw message, so that a link can be read (and grepped) straight
/// from an outbox file: every template is ASCII with lines far under RFC 5322's 998-octet limit,
/// so it goes as 7-bit text. lettre's own choice would quote-print any line past 76 characters,
/// links included, turning `token=` into `token=3D`. Anything else is left to lettre.
fn readable_part(content_type: ContentType, body: &str) -> SinglePart {
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits_7bit = crlf.is_ascii()
        && !crlf.contains('\0')
        && crlf.split("\r\n").all(|line| line.len() <= 998 && !line.contains('\r'));
    let builder = SinglePart::builder().header(content_type);
    if fits_7bit {
        builder.body(Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit))
    } else {
        builder.body(body.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use auth_domain::{Email, OneTimeToken};
    use time::macros::datetime;

    use super::*;

    fn ada() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn the_verification_mail_links_to_the_public_url_with_the_token_in_both_parts() {
        let token = OneTimeToken::from_random_bytes([1; 32]);
        let mail = Mail::VerifyEmail { to: ada(), token: token.clone() };
        let rendered = render(&mail, "https://auth.example.com");
        let link = format!("https://auth.example.com/verify-email?token={}", token.expose());
        assert_eq!(rendered.to, "ada@example.com");
        assert!(rendered.text.contains(&link));
        assert!(rendered.html.contains(&format!("<a href=\"{link}\">")));
    }

    #[test]
    fn a_mail_to_an_internationalised_domain_goes_to_its_ascii_form() {
        let to = Email::parse("ada@b\u{FC}cher.example").unwrap();
        let rendered = render(&Mail::PasswordChanged { to }, "https://auth.example.com");
        assert_eq!(rendered.to, "ada@xn--bcher-kva.example");
        let from: Mailbox = "no-reply@auth.example.com".parse().unwrap();
        let raw = String::from_utf8(
            build_message(&rendered, &from, MailJobId::from_uuid(uuid::Uuid::nil())).unwrap().formatted(),
        )
        .unwrap();
        assert!(raw.contains("To: ada@xn--bcher-kva.example\r\n"), "{raw}");
    }

    #[test]
    fn a_hostile_user_agent_is_escaped_in_the_html_part() {
        let mail = Mail::NewSignIn {
            to: ada(),
            ip: Some("203.0.113.9".into()),
            user_agent: Some("<script>alert(1)</script>\"".into()),
            at: datetime!(2030-01-02 03:04:05 UTC),
        };
        let rendered = render(&mail, "https://auth.example.com");
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"));
        assert!(rendered.text.contains("Address: 203.0.113.9"));
    }

    #[test]
    fn the_message_has_both_parts_a_stable_message_id_and_a_greppable_link() {
        let token = OneTimeToken::from_random_bytes([2; 32]);
        let rendered = render(&Mail::PasswordReset { to: ada(), token: token.clone() }, "http://localhost:8080");
        let id = MailJobId::from_uuid(uuid::Uuid::now_v7());
        let from: Mailbox = "no-reply@auth.example.com".parse().unwrap();
        let raw = String::from_utf8(build_message(&rendered, &from, id).unwrap().formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: <{id}@auth.example.com>")));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains(&format!("reset-password?token={}", token.expose())));
    }
}
