//! A mailer that writes each mail as an `.eml` file into a folder: the embedded default.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use auth_domain::mail::MailJob;
use auth_domain::ports::{DeliveryError, Mailer};
use lettre::message::Mailbox;
use time::OffsetDateTime;

use crate::mail_templates::message_for;

/// Writes mails to `folder` as RFC 5322 files, one per mail, named so that `ls` sorts them by time.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    folder: PathBuf,
    from: Mailbox,
    public_url: String,
}

impl OutboxMailer {
    /// # Errors
    /// When the folder cannot be created.
    pub fn new(folder: &Path, from: Mailbox, public_url: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(folder)?;
        Ok(Self { folder: folder.to_owned(), from, public_url: public_url.trim_end_matches('/').into() })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    #[tracing::instrument(name = "mail.send", skip_all, fields(mail.job = %job.id, mail.template = job.mail.template_name(), mail.transport = "outbox"))]
    async fn send(&self, job: &MailJob) -> Result<(), DeliveryError> {
        let message = message_for(job, &self.from, &self.public_url)?;
        let now = OffsetDateTime::now_utc();
        // Named by the job, so that a retry after a lost acknowledgement overwrites, not duplicates.
        let name = format!("{}-{}.eml", (job.queued_at.unix_timestamp_nanos() / 1_000_000), job.id);
        let final_path = self.folder.join(&name);
        let partial_path = self.folder.join(format!(".{name}.{}.partial", now.unix_timestamp_nanos()));
        let unavailable = |error: std::io::Error| DeliveryError::Transient(format!("cannot write the outbox: {error}"));
        // Written aside and renamed, so that a reader never sees half a mail.
        tokio::fs::write(&partial_path, message.formatted()).await.map_err(unavailable)?;
        tokio::fs::rename(&partial_path, &final_path).await.map_err(unavailable)?;
        tracing::info!(mail.job = %job.id, mail.template = job.mail.template_name(), mail.file = %final_path.display(), "mail written to the outbox");
        Ok(())
    }
}
