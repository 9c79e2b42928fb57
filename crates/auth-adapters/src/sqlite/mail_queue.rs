//! [`MailQueue`] on SQLite: the transactional outbox of the embedded mode.
//!
//! A claim runs in an IMMEDIATE transaction, which excludes every other writer of the file, so
//! two workers (even in two processes) never claim one job.

use std::time::Duration;

use async_trait::async_trait;
use auth_domain::InfrastructureError;
use auth_domain::ids::MailJobId;
use auth_domain::mail::{MailJob, QueuedMail};
use auth_domain::ports::{FailedMail, MailQueue, MailQueueStats};
use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::mail_queue;
use super::{SqliteDatabase, decode_instant, decode_uuid, encode_instant};
use crate::mail_queue_rows::{FAILED, PENDING, stats_from_counts, truncate_error};
use crate::sealed_mail::MailSealer;

/// Writes `mail` into the queue on `connection`, inside the caller's transaction.
pub(super) fn insert_job(
    connection: &mut SqliteConnection,
    sealer: &MailSealer,
    mail: &QueuedMail,
) -> Result<(), diesel::result::Error> {
    let queued_at = encode_instant(mail.queued_at);
    diesel::insert_into(mail_queue::table)
        .values((
            mail_queue::id.eq(mail.id.to_string()),
            mail_queue::template.eq(mail.mail.template_name()),
            mail_queue::payload.eq(sealer.seal(mail.id, &mail.mail)),
            mail_queue::status.eq(PENDING),
            mail_queue::attempts.eq(0),
            mail_queue::queued_at.eq(&queued_at),
            mail_queue::next_attempt_at.eq(&queued_at),
        ))
        .execute(connection)?;
    Ok(())
}

/// The mail queue stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteMailQueue {
    database: SqliteDatabase,
    sealer: MailSealer,
}

impl SqliteMailQueue {
    pub fn new(database: SqliteDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

#[derive(Queryable)]
struct ClaimedRow {
    id: String,
    payload: String,
    attempts: i32,
    queued_at: String,
}

#[async_trait]
impl MailQueue for SqliteMailQueue {
    async fn enqueue(&self, mail: QueuedMail) -> Result<(), InfrastructureError> {
        let sealer = self.sealer.clone();
        self.database.write(move |connection| insert_job(connection, &sealer, &mail)).await
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<MailJob>, InfrastructureError> {
        // Every replica polls; most polls find nothing. A read first keeps those polls from taking
        // the file's one write lock, which logins and refreshes wait on.
        let due_at = encode_instant(now);
        let any_due = self
            .database
            .read(move |connection| {
                diesel::select(diesel::dsl::exists(
                    mail_queue::table
                        .filter(mail_queue::status.eq(PENDING))
                        .filter(mail_queue::next_attempt_at.le(due_at)),
                ))
                .get_result::<bool>(connection)
            })
            .await?;
        if !any_due {
            return Ok(Vec::new());
        }
        let sealer = self.sealer.clone();
        let leased_until = encode_instant(now + lease);
        let failed_at = encode_instant(now);
        let now = encode_instant(now);
        self.database
            .write(move |connection| {
                let rows: Vec<ClaimedRow> = mail_queue::table
                    .filter(mail_queue::status.eq(PENDING))
                    .filter(mail_queue::next_attempt_at.le(&now))
                    .order(mail_queue::next_attempt_at.asc())
                    .limit(i64::from(limit))
                    .select((mail_queue::id, mail_queue::payload, mail_queue::attempts, mail_queue::queued_at))
                    .load(connection)?;
                let mut jobs = Vec::with_capacity(rows.len());
                for row in rows {
                    let id = MailJobId::from_uuid(decode_uuid(&row.id)?);
                    let target = mail_queue::table.find(&row.id);
                    match sealer.open(id, &row.payload) {
                        Ok(mail) => {
                            diesel::update(target)
                                .set((
                                    mail_queue::attempts.eq(row.attempts + 1),
                                    mail_queue::next_attempt_at.eq(&leased_until),
                                ))
                                .execute(connection)?;
                            jobs.push(MailJob {
                                id,
                                mail,
                                attempts: u32::try_from(row.attempts + 1).unwrap_or(u32::MAX),
                                queued_at: decode_instant(&row.queued_at)?,
                            });
                        }
                        Err(unreadable) => {
                            tracing::error!(mail.job = %id, error = %unreadable, "a queued mail cannot be read; marked failed");
                            diesel::update(target)
                                .set((
                                    mail_queue::status.eq(FAILED),
                                    mail_queue::last_error.eq(unreadable.to_string()),
                                    mail_queue::failed_at.eq(&failed_at),
                                ))
                                .execute(connection)?;
                        }
                    }
                }
                Ok(jobs)
            })
            .await
    }

    async fn complete(&self, id: MailJobId) -> Result<(), InfrastructureError> {
        self.database
            .write(move |connection| {
                diesel::delete(mail_queue::table.find(id.to_string())).execute(connection)?;
                Ok(())
            })
            .await
    }

    async fn retry_at(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError> {
        let error = truncate_error(error);
        self.database
            .write(move |connection| {
                diesel::update(mail_queue::table.find(id.to_string()).filter(mail_queue::status.eq(PENDING)))
                    .set((mail_queue::next_attempt_at.eq(encode_instant(at)), mail_queue::last_error.eq(error)))
                    .execute(connection)?;
                Ok(())
            })
            .await
    }

    async fn fail(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError> {
        let error = truncate_error(error);
        self.database
            .write(move |connection| {
                diesel::update(mail_queue::table.find(id.to_string()))
                    .set((
                        mail_queue::status.eq(FAILED),
                        mail_queue::last_error.eq(error),
                        mail_queue::failed_at.eq(encode_instant(at)),
                    ))
                    .execute(connection)?;
                Ok(())
            })
            .await
    }

    async fn stats(&self) -> Result<MailQueueStats, InfrastructureError> {
        self.database
            .read(|connection| {
                let counts: Vec<(String, i64)> = mail_queue::table
                    .group_by(mail_queue::status)
                    .select((mail_queue::status, diesel::dsl::count_star()))
                    .load(connection)?;
                Ok(stats_from_counts(&counts))
            })
            .await
    }

    async fn list_failed(&self, limit: u32) -> Result<Vec<FailedMail>, InfrastructureError> {
        self.database
            .read(move |connection| {
                let rows: Vec<(String, String, i32, Option<String>, String, Option<String>)> = mail_queue::table
                    .filter(mail_queue::status.eq(FAILED))
                    .order(mail_queue::failed_at.desc())
                    .limit(i64::from(limit))
                    .select((
                        mail_queue::id,
                        mail_queue::template,
                        mail_queue::attempts,
                        mail_queue::last_error,
                        mail_queue::queued_at,
                        mail_queue::failed_at,
                    ))
                    .load(connection)?;
                rows.into_iter()
                    .map(|(id, template, attempts, last_error, queued_at, failed_at)| {
                        let queued_at = decode_instant(&queued_at)?;
                        Ok(FailedMail {
                            id: MailJobId::from_uuid(decode_uuid(&id)?),
                            template,
                            attempts: u32::try_from(attempts).unwrap_or_default(),
                            last_error: last_error.unwrap_or_default(),
                            queued_at,
                            failed_at: failed_at.as_deref().map(decode_instant).transpose()?.unwrap_or(queued_at),
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn requeue_failed(&self, id: MailJobId, now: OffsetDateTime) -> Result<bool, InfrastructureError> {
        self.database
            .write(move |connection| {
                let updated =
                    diesel::update(mail_queue::table.find(id.to_string()).filter(mail_queue::status.eq(FAILED)))
                        .set((
                            mail_queue::status.eq(PENDING),
                            mail_queue::attempts.eq(0),
                            mail_queue::next_attempt_at.eq(encode_instant(now)),
                            mail_queue::failed_at.eq(None::<String>),
                        ))
                        .execute(connection)?;
                Ok(updated == 1)
            })
            .await
    }
}
