//! A mailer that writes each mail as an `.eml` file into a folder: the embedded default.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use auth_domain::ports::Mailer;
use auth_domain::{InfrastructureError, Mail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::mail_templates::{RenderedMail, render};

/// Writes mails to `folder` as RFC 5322 files, one per mail, named so that `ls` sorts them by time.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    folder: PathBuf,
    from: String,
    public_url: String,
}

impl OutboxMailer {
    /// # Errors
    /// When the folder cannot be created.
    pub fn new(folder: &Path, from: &str, public_url: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(folder)?;
        Ok(Self {
            folder: folder.to_owned(),
            from: from.to_owned(),
            public_url: public_url.trim_end_matches('/').into(),
        })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    fn message(&self, mail: &RenderedMail, id: uuid::Uuid, now: OffsetDateTime) -> String {
        let date = now.format(&Rfc2822).unwrap_or_default();
        // Plain 7-bit text, so that the link can be read (and grepped) straight from the file.
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@auth-http>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             {text}",
            from = self.from,
            to = mail.to,
            subject = mail.subject,
            text = mail.text,
        )
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: Mail) -> Result<(), InfrastructureError> {
        let rendered = render(&mail, &self.public_url);
        let now = OffsetDateTime::now_utc();
        let id = uuid::Uuid::now_v7();
        let name = format!("{}-{id}.eml", now.unix_timestamp_nanos() / 1_000_000);
        let final_path = self.folder.join(&name);
        let partial_path = self.folder.join(format!(".{name}.partial"));
        // Written aside and renamed, so that a reader never sees half a mail.
        tokio::fs::write(&partial_path, self.message(&rendered, id, now))
            .await
            .map_err(InfrastructureError::unavailable)?;
        tokio::fs::rename(&partial_path, &final_path).await.map_err(InfrastructureError::unavailable)?;
        tracing::info!(mail.template = mail.template_name(), mail.file = %final_path.display(), "mail written to the outbox");
        Ok(())
    }
}
