//! [`OneTimeTokenRepository`] on SQLite.

use async_trait::async_trait;
use auth_domain::ports::{MailedToken, OneTimeTokenRecord, OneTimeTokenRepository, TokenPurpose};
use auth_domain::{InfrastructureError, TokenHash, UserId};
use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::one_time_tokens;
use super::{SqliteDatabase, decode_uuid, encode_instant, mail_queue};
use crate::sealed_mail::MailSealer;

#[derive(Insertable)]
#[diesel(table_name = one_time_tokens, check_for_backend(diesel::sqlite::Sqlite))]
struct OneTimeTokenRow {
    token_hash: String,
    user_id: String,
    purpose: &'static str,
    created_at: String,
    expires_at: String,
}

/// Stores `record` on `connection`, inside the caller's transaction.
pub(super) fn insert_token(
    connection: &mut SqliteConnection,
    record: &OneTimeTokenRecord,
) -> Result<(), diesel::result::Error> {
    let row = OneTimeTokenRow {
        token_hash: record.hash.encode(),
        user_id: record.user_id.to_string(),
        purpose: record.purpose.as_str(),
        created_at: encode_instant(record.created_at),
        expires_at: encode_instant(record.expires_at),
    };
    diesel::insert_into(one_time_tokens::table).values(&row).execute(connection)?;
    Ok(())
}

/// One-time tokens stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteOneTimeTokenRepository {
    database: SqliteDatabase,
    sealer: MailSealer,
}

impl SqliteOneTimeTokenRepository {
    pub fn new(database: SqliteDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

#[async_trait]
impl OneTimeTokenRepository for SqliteOneTimeTokenRepository {
    async fn replace(&self, token: &MailedToken) -> Result<(), InfrastructureError> {
        let token = token.clone();
        let sealer = self.sealer.clone();
        self.database
            .write(move |connection| {
                diesel::delete(
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(token.record.user_id.to_string()))
                        .filter(one_time_tokens::purpose.eq(token.record.purpose.as_str())),
                )
                .execute(connection)?;
                insert_token(connection, &token.record)?;
                mail_queue::insert_job(connection, &sealer, &token.mail)
            })
            .await
    }

    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, InfrastructureError> {
        let hash = hash.encode();
        let now = encode_instant(now);
        self.database
            .write(move |connection| {
                // Deleting is using: the row that one DELETE removed, no other call can find.
                let user_id: Option<String> = diesel::delete(
                    one_time_tokens::table
                        .filter(one_time_tokens::token_hash.eq(hash))
                        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
                        .filter(one_time_tokens::expires_at.gt(now)),
                )
                .returning(one_time_tokens::user_id)
                .get_result(connection)
                .optional()?;
                user_id.map(|id| decode_uuid(&id).map(UserId::from_uuid)).transpose()
            })
            .await
    }
}
