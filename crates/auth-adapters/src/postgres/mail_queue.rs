//! [`MailQueue`] on PostgreSQL: the transactional outbox shared by every replica.
//!
//! A claim locks the due rows with `FOR UPDATE SKIP LOCKED` and pushes their due time past the
//! lease in the same statement: concurrent workers skip each other's rows instead of waiting for
//! them, and no row is handed out twice while its lease runs.

use std::time::Duration;

use async_trait::async_trait;
use auth_domain::InfrastructureError;
use auth_domain::ids::MailJobId;
use auth_domain::mail::{MailJob, QueuedMail};
use auth_domain::ports::{FailedMail, MailQueue, MailQueueStats};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Int4, Int8, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresDatabase;
use super::schema::mail_queue;
use crate::mail_queue_rows::{FAILED, PENDING, stats_from_counts, truncate_error};
use crate::sealed_mail::MailSealer;

/// Writes `mail` into the queue on `connection`, inside the caller's transaction.
pub(super) async fn insert_job(
    connection: &mut AsyncPgConnection,
    sealer: &MailSealer,
    mail: &QueuedMail,
) -> Result<(), DieselError> {
    diesel::insert_into(mail_queue::table)
        .values((
            mail_queue::id.eq(mail.id.as_uuid()),
            mail_queue::template.eq(mail.mail.template_name()),
            mail_queue::payload.eq(sealer.seal(mail.id, &mail.mail)),
            mail_queue::status.eq(PENDING),
            mail_queue::attempts.eq(0),
            mail_queue::queued_at.eq(mail.queued_at),
            mail_queue::next_attempt_at.eq(mail.queued_at),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// The mail queue stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresMailQueue {
    database: PostgresDatabase,
    sealer: MailSealer,
}

impl PostgresMailQueue {
    pub fn new(database: PostgresDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    queued_at: OffsetDateTime,
}

/// Claims in one statement: the due rows no other transaction holds, leased to this caller,
/// returned oldest due first (an `UPDATE ... RETURNING` alone promises no order).
const CLAIM: &str = "\
    WITH due AS ( \
        SELECT id, next_attempt_at AS due_at FROM mail_queue \
        WHERE status = 'pending' AND next_attempt_at <= $1 \
        ORDER BY next_attempt_at \
        LIMIT $3 \
        FOR UPDATE SKIP LOCKED \
    ), claimed AS ( \
        UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = $2 \
        FROM due WHERE mail_queue.id = due.id \
        RETURNING mail_queue.id, mail_queue.payload, mail_queue.attempts, mail_queue.queued_at, due.due_at \
    ) \
    SELECT id, payload, attempts, queued_at FROM claimed ORDER BY due_at, id";

#[async_trait]
impl MailQueue for PostgresMailQueue {
    async fn enqueue(&self, mail: QueuedMail) -> Result<(), InfrastructureError> {
        let sealer = self.sealer.clone();
        self.database.run(move |connection| Box::pin(async move { insert_job(connection, &sealer, &mail).await })).await
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<MailJob>, InfrastructureError> {
        let leased_until = now + lease;
        let rows: Vec<ClaimedRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::sql_query(CLAIM)
                        .bind::<Timestamptz, _>(now)
                        .bind::<Timestamptz, _>(leased_until)
                        .bind::<Int8, _>(i64::from(limit))
                        .load(connection)
                        .await
                })
            })
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let id = MailJobId::from_uuid(row.id);
            match self.sealer.open(id, &row.payload) {
                Ok(mail) => jobs.push(MailJob {
                    id,
                    mail,
                    attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                    queued_at: row.queued_at,
                }),
                Err(unreadable) => {
                    // The readable jobs of the batch are this caller's now: hand them out even if
                    // this mark fails (the unreadable job is then claimed, and marked, again).
                    match self.fail(id, now, &unreadable.to_string()).await {
                        Ok(()) => {
                            tracing::error!(mail.job = %id, error = %unreadable, "a queued mail cannot be read; marked failed")
                        }
                        Err(error) => {
                            tracing::error!(mail.job = %id, error = %error, "a queued mail cannot be read, nor marked failed")
                        }
                    }
                }
            }
        }
        Ok(jobs)
    }

    async fn complete(&self, id: MailJobId) -> Result<(), InfrastructureError> {
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::delete(mail_queue::table.find(id.as_uuid())).execute(connection).await.map(|_| ())
                })
            })
            .await
    }

    async fn retry_at(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError> {
        let error = truncate_error(error);
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(mail_queue::table.find(id.as_uuid()).filter(mail_queue::status.eq(PENDING)))
                        .set((mail_queue::next_attempt_at.eq(at), mail_queue::last_error.eq(error)))
                        .execute(connection)
                        .await
                        .map(|_| ())
                })
            })
            .await
    }

    async fn fail(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError> {
        let error = truncate_error(error);
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(mail_queue::table.find(id.as_uuid()))
                        .set((
                            mail_queue::status.eq(FAILED),
                            mail_queue::last_error.eq(error),
                            mail_queue::failed_at.eq(at),
                        ))
                        .execute(connection)
                        .await
                        .map(|_| ())
                })
            })
            .await
    }

    async fn stats(&self) -> Result<MailQueueStats, InfrastructureError> {
        let counts: Vec<(String, i64)> = self
            .database
            .run(|connection| {
                Box::pin(async move {
                    mail_queue::table
                        .group_by(mail_queue::status)
                        .select((mail_queue::status, diesel::dsl::count_star()))
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(stats_from_counts(&counts))
    }

    async fn list_failed(&self, limit: u32) -> Result<Vec<FailedMail>, InfrastructureError> {
        type Row = (Uuid, String, i32, Option<String>, OffsetDateTime, Option<OffsetDateTime>);
        let rows: Vec<Row> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    mail_queue::table
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
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, template, attempts, last_error, queued_at, failed_at)| FailedMail {
                id: MailJobId::from_uuid(id),
                template,
                attempts: u32::try_from(attempts).unwrap_or_default(),
                last_error: last_error.unwrap_or_default(),
                queued_at,
                failed_at: failed_at.unwrap_or(queued_at),
            })
            .collect())
    }

    async fn requeue_failed(&self, id: MailJobId, now: OffsetDateTime) -> Result<bool, InfrastructureError> {
        let updated = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(mail_queue::table.find(id.as_uuid()).filter(mail_queue::status.eq(FAILED)))
                        .set((
                            mail_queue::status.eq(PENDING),
                            mail_queue::attempts.eq(0),
                            mail_queue::next_attempt_at.eq(now),
                            mail_queue::failed_at.eq(None::<OffsetDateTime>),
                        ))
                        .execute(connection)
                        .await
                })
            })
            .await?;
        Ok(updated == 1)
    }
}
