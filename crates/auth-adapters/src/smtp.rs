//! A mailer that hands each mail to an SMTP server through lettre's pooled async transport.
//!
//! `smtp://host:port` speaks plain SMTP (STARTTLS when the URL adds `?tls=required` or
//! `?tls=opportunistic`); `smtps://host:port` speaks TLS from the first byte. Credentials come
//! from the URL's user and password. TLS uses rustls with the Mozilla roots built in.

use std::time::Duration;

use async_trait::async_trait;
use auth_domain::mail::MailJob;
use auth_domain::ports::{DeliveryError, Mailer};
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::mail_templates::message_for;

/// Delivers through one SMTP relay; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials.
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

/// The SMTP URL cannot be used; the message never repeats the URL, which may hold a password.
#[derive(Debug, thiserror::Error)]
#[error("AUTH_SMTP_URL is not a usable SMTP URL (smtp://host:port or smtps://user:password@host:port): {0}")]
pub struct SmtpSetupError(String);

impl SmtpMailer {
    /// A mailer for `url`, each connection attempt and command bounded by `timeout`, at most
    /// `pool_size` connections kept open. Connects to nothing until the first mail.
    ///
    /// # Errors
    /// When the URL is not an SMTP URL.
    pub fn new(
        url: &SecretString,
        timeout: Duration,
        pool_size: u32,
        from: Mailbox,
        public_url: &str,
    ) -> Result<Self, SmtpSetupError> {
        let url = url.expose_secret();
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err(SmtpSetupError("the scheme must be smtp or smtps".into()));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // lettre's messages name the part of the URL that is wrong, not its value.
            .map_err(|error| SmtpSetupError(error.to_string()))?
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(pool_size.max(1)).idle_timeout(Duration::from_secs(60)))
            .build();
        Ok(Self { transport, from, public_url: public_url.trim_end_matches('/').to_owned() })
    }

    /// Whether the server answers a NOOP, for the readiness probe of an operator's choosing.
    ///
    /// # Errors
    /// When it does not.
    pub async fn test_connection(&self) -> Result<bool, String> {
        self.transport.test_connection().await.map_err(|error| error.to_string())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(name = "mail.send", skip_all, fields(mail.job = %job.id, mail.template = job.mail.template_name(), mail.transport = "smtp"))]
    async fn send(&self, job: &MailJob) -> Result<(), DeliveryError> {
        let message = message_for(job, &self.from, &self.public_url)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server will not take this mail, however often it is sent.
            Err(error) if error.is_permanent() => Err(DeliveryError::Rejected(error.to_string())),
            Err(error) => Err(DeliveryError::Transient(error.to_string())),
        }
    }
}
