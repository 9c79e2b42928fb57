//! [`OneTimeTokenRepository`] on PostgreSQL.

use async_trait::async_trait;
use auth_domain::ports::{OneTimeTokenRecord, OneTimeTokenRepository, TokenPurpose};
use auth_domain::{InfrastructureError, TokenHash, UserId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresDatabase;
use super::schema::one_time_tokens;

#[derive(Insertable)]
#[diesel(table_name = one_time_tokens, check_for_backend(diesel::pg::Pg))]
struct OneTimeTokenRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    purpose: &'static str,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// One-time tokens stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresOneTimeTokenRepository {
    database: PostgresDatabase,
}

impl PostgresOneTimeTokenRepository {
    pub fn new(database: PostgresDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl OneTimeTokenRepository for PostgresOneTimeTokenRepository {
    async fn insert(&self, record: OneTimeTokenRecord) -> Result<(), InfrastructureError> {
        let row = OneTimeTokenRow {
            token_hash: record.hash.as_bytes().to_vec(),
            user_id: record.user_id.as_uuid(),
            purpose: record.purpose.as_str(),
            created_at: record.created_at,
            expires_at: record.expires_at,
        };
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::insert_into(one_time_tokens::table).values(&row).execute(connection).await.map(|_| ())
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

    async fn delete_for_user(&self, user_id: UserId, purpose: TokenPurpose) -> Result<(), InfrastructureError> {
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::delete(
                        one_time_tokens::table
                            .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
                            .filter(one_time_tokens::purpose.eq(purpose.as_str())),
                    )
                    .execute(connection)
                    .await
                    .map(|_| ())
                })
            })
            .await
    }
}
