//! [`OneTimeTokenRepository`] on PostgreSQL.

use async_trait::async_trait;
use auth_domain::ports::{MailedToken, OneTimeTokenRecord, OneTimeTokenRepository, TokenPurpose};
use auth_domain::{InfrastructureError, TokenHash, UserId};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use super::schema::one_time_tokens;
use super::{PostgresDatabase, mail_queue};
use crate::sealed_mail::MailSealer;

#[derive(Insertable)]
#[diesel(table_name = one_time_tokens, check_for_backend(diesel::pg::Pg))]
struct OneTimeTokenRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    purpose: &'static str,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// Stores `record` on `connection`, inside the caller's transaction.
pub(super) async fn insert_token(
    connection: &mut AsyncPgConnection,
    record: &OneTimeTokenRecord,
) -> Result<(), DieselError> {
    let row = OneTimeTokenRow {
        token_hash: record.hash.as_bytes().to_vec(),
        user_id: record.user_id.as_uuid(),
        purpose: record.purpose.as_str(),
        created_at: record.created_at,
        expires_at: record.expires_at,
    };
    diesel::insert_into(one_time_tokens::table).values(&row).execute(connection).await.map(|_| ())
}

/// One-time tokens stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresOneTimeTokenRepository {
    database: PostgresDatabase,
    sealer: MailSealer,
}

impl PostgresOneTimeTokenRepository {
    pub fn new(database: PostgresDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

#[async_trait]
impl OneTimeTokenRepository for PostgresOneTimeTokenRepository {
    async fn replace(&self, token: &MailedToken) -> Result<(), InfrastructureError> {
        let token = token.clone();
        let sealer = self.sealer.clone();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            diesel::delete(
                                one_time_tokens::table
                                    .filter(one_time_tokens::user_id.eq(token.record.user_id.as_uuid()))
                                    .filter(one_time_tokens::purpose.eq(token.record.purpose.as_str())),
                            )
                            .execute(connection)
                            .await?;
                            insert_token(connection, &token.record).await?;
                            mail_queue::insert_job(connection, &sealer, &token.mail).await
                        })
                        .await
                })
            })
            .await
    }

    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, InfrastructureError> {
        let hash = hash.as_bytes().to_vec();
        let user_id: Option<Uuid> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    // Deleting is using: of two concurrent DELETEs of one row, only one returns it.
                    diesel::delete(
                        one_time_tokens::table
                            .filter(one_time_tokens::token_hash.eq(hash))
                            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
                            .filter(one_time_tokens::expires_at.gt(now)),
                    )
                    .returning(one_time_tokens::user_id)
                    .get_result(connection)
                    .await
                    .optional()
                })
            })
            .await?;
        Ok(user_id.map(UserId::from_uuid))
    }
}
