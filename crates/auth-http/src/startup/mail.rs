//! Mail: the transport chosen by the settings, and the loop that drains the queue into it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auth_adapters::outbox::OutboxMailer;
use auth_adapters::smtp::SmtpMailer;
use auth_domain::ports::{Clock, MailQueue, Mailer};
use auth_domain::services::{MailDelivery, MailDeliveryPolicy};
use tokio_util::sync::CancellationToken;

use super::background::{BackgroundTask, pause};
use crate::config::Settings;

/// The mail transport: SMTP when AUTH_SMTP_URL is set, else the outbox folder.
pub(super) fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    let mail = &settings.mail;
    let public_url = &settings.server.public_url;
    let from: auth_adapters::mail_templates::Mailbox = mail.from.parse().context("AUTH_MAIL_FROM is not a mailbox")?;
    match &mail.smtp_url {
        Some(url) => {
            let mailer = SmtpMailer::new(url, mail.smtp_timeout, 4, from, public_url)?;
            tracing::info!("mail is delivered through the SMTP server of AUTH_SMTP_URL");
            Ok(Arc::new(mailer))
        }
        None => {
            let mailer = OutboxMailer::new(&mail.outbox, from, public_url)
                .with_context(|| format!("cannot create the mail outbox {}", mail.outbox.display()))?;
            tracing::info!(
                mail.outbox = %mail.outbox.display(),
                "no SMTP server configured: mail is written to the outbox folder"
            );
            Ok(Arc::new(mailer))
        }
    }
}

/// The delivery use case over the queue and the transport.
pub(super) fn mail_delivery(
    settings: &Settings,
    queue: Arc<dyn MailQueue>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
) -> MailDelivery {
    let mail = &settings.mail;
    MailDelivery::new(
        queue,
        mailer,
        clock,
        MailDeliveryPolicy {
            max_attempts: mail.max_attempts,
            first_retry: mail.retry,
            // A lease outlives a delivery: the connection and each SMTP command are bounded.
            lease: (mail.smtp_timeout * 6).max(Duration::from_secs(60)),
            ..MailDeliveryPolicy::default()
        },
    )
}

/// Delivers queued mail until told to stop: at once while full batches keep coming, else every
/// `interval`. Failures are logged and retried; the queue loses nothing, and a batch under way
/// when the stop comes finishes first.
pub(super) fn spawn_mail_delivery(delivery: MailDelivery, interval: Duration) -> BackgroundTask {
    BackgroundTask::spawn("mail delivery", move |stop| deliver(delivery, interval, stop))
}

async fn deliver(delivery: MailDelivery, interval: Duration, stop: CancellationToken) {
    // While the database is unreachable, wait longer between tries (up to 30 s), and say so
    // once per outage rather than at every poll.
    let mut failures: u32 = 0;
    while !stop.is_cancelled() {
        match delivery.deliver_due().await {
            Ok(report) => {
                for (outcome, count) in
                    [("delivered", report.delivered), ("retried", report.retried), ("failed", report.failed)]
                {
                    if count > 0 {
                        metrics::counter!("mail_deliveries_total", "outcome" => outcome).increment(u64::from(count));
                    }
                }
                if failures > 0 {
                    tracing::info!("the mail queue answers again");
                    failures = 0;
                }
                if report.claimed() >= delivery.policy().batch {
                    continue;
                }
            }
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(error = %error, "cannot reach the mail queue; mail waits until it answers");
                }
                failures = failures.saturating_add(1);
            }
        }
        let wait = interval.saturating_mul(1 << failures.min(10)).min(Duration::from_secs(30).max(interval));
        if !pause(&stop, wait).await {
            return;
        }
    }
}
