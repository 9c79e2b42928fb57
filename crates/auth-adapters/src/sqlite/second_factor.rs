//! [`SecondFactorRepository`] on SQLite.

use async_trait::async_trait;
use auth_domain::ports::{MfaChallenge, SecondFactorRepository, TotpCredential};
use auth_domain::totp::TotpSecret;
use auth_domain::{InfrastructureError, TokenHash, UserId};
use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::{mfa_challenges, recovery_codes, totp_credentials, users};
use super::{SqliteDatabase, corrupt, decode_instant, decode_uuid, encode_instant};
use crate::sealed_totp::TotpSealer;

#[derive(Queryable, Selectable)]
#[diesel(table_name = totp_credentials, check_for_backend(diesel::sqlite::Sqlite))]
struct TotpRow {
    sealed_secret: String,
    confirmed_at: Option<String>,
    last_used_step: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges, check_for_backend(diesel::sqlite::Sqlite))]
struct ChallengeRow {
    token_hash: String,
    user_id: String,
    password_fingerprint: String,
    created_at: String,
    expires_at: String,
}

/// Second factors stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteSecondFactorRepository {
    database: SqliteDatabase,
    sealer: TotpSealer,
}

impl SqliteSecondFactorRepository {
    pub fn new(database: SqliteDatabase, sealer: TotpSealer) -> Self {
        Self { database, sealer }
    }
}

/// Sets the user's `mfa_enabled` flag, inside the caller's transaction.
fn set_mfa_enabled(
    connection: &mut SqliteConnection,
    user_id: &str,
    enabled: bool,
    at: OffsetDateTime,
) -> Result<(), diesel::result::Error> {
    diesel::update(users::table.find(user_id))
        .set((users::mfa_enabled.eq(enabled), users::updated_at.eq(encode_instant(at))))
        .execute(connection)
        .map(|_| ())
}

#[async_trait]
impl SecondFactorRepository for SqliteSecondFactorRepository {
    async fn begin_totp(
        &self,
        user_id: UserId,
        secret: &TotpSecret,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let sealed = self.sealer.seal(user_id, secret);
        self.database
            .write(move |connection| {
                let id = user_id.to_string();
                let confirmed: Option<Option<String>> = totp_credentials::table
                    .find(&id)
                    .select(totp_credentials::confirmed_at)
                    .first(connection)
                    .optional()?;
                if matches!(confirmed, Some(Some(_))) {
                    return Ok(false);
                }
                diesel::replace_into(totp_credentials::table)
                    .values((
                        totp_credentials::user_id.eq(&id),
                        totp_credentials::sealed_secret.eq(sealed),
                        totp_credentials::confirmed_at.eq(None::<String>),
                        totp_credentials::last_used_step.eq(None::<i64>),
                        totp_credentials::created_at.eq(encode_instant(at)),
                    ))
                    .execute(connection)?;
                Ok(true)
            })
            .await
    }

    async fn find_totp(&self, user_id: UserId) -> Result<Option<TotpCredential>, InfrastructureError> {
        let sealer = self.sealer.clone();
        self.database
            .read(move |connection| {
                let row: Option<TotpRow> = totp_credentials::table
                    .find(user_id.to_string())
                    .select(TotpRow::as_select())
                    .first(connection)
                    .optional()?;
                row.map(|row| {
                    let secret =
                        sealer.open(user_id, &row.sealed_secret).map_err(|error| corrupt(error.to_string()))?;
                    Ok(TotpCredential {
                        secret,
                        confirmed: row.confirmed_at.is_some(),
                        last_used_step: row.last_used_step,
                    })
                })
                .transpose()
            })
            .await
    }

    async fn confirm_totp(
        &self,
        user_id: UserId,
        step: i64,
        recovery_codes: &[TokenHash],
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let hashes: Vec<String> = recovery_codes.iter().map(TokenHash::encode).collect();
        self.database
            .write(move |connection| {
                let id = user_id.to_string();
                let confirmed = diesel::update(
                    totp_credentials::table
                        .filter(totp_credentials::user_id.eq(&id))
                        .filter(totp_credentials::confirmed_at.is_null()),
                )
                .set((totp_credentials::confirmed_at.eq(encode_instant(at)), totp_credentials::last_used_step.eq(step)))
                .execute(connection)?;
                if confirmed == 0 {
                    return Ok(false);
                }
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id))).execute(connection)?;
                let rows: Vec<_> = hashes
                    .iter()
                    .map(|hash| (recovery_codes::user_id.eq(&id), recovery_codes::code_hash.eq(hash)))
                    .collect();
                diesel::insert_into(recovery_codes::table).values(&rows).execute(connection)?;
                set_mfa_enabled(connection, &id, true, at)?;
                Ok(true)
            })
            .await
    }

    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, InfrastructureError> {
        self.database
            .write(move |connection| {
                let updated = diesel::update(
                    totp_credentials::table
                        .filter(totp_credentials::user_id.eq(user_id.to_string()))
                        .filter(totp_credentials::confirmed_at.is_not_null())
                        .filter(
                            totp_credentials::last_used_step.is_null().or(totp_credentials::last_used_step.lt(step)),
                        ),
                )
                .set(totp_credentials::last_used_step.eq(step))
                .execute(connection)?;
                Ok(updated == 1)
            })
            .await
    }

    async fn use_recovery_code(
        &self,
        user_id: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let hash = hash.encode();
        self.database
            .write(move |connection| {
                let updated = diesel::update(
                    recovery_codes::table
                        .filter(recovery_codes::user_id.eq(user_id.to_string()))
                        .filter(recovery_codes::code_hash.eq(hash))
                        .filter(recovery_codes::used_at.is_null()),
                )
                .set(recovery_codes::used_at.eq(encode_instant(at)))
                .execute(connection)?;
                Ok(updated == 1)
            })
            .await
    }

    async fn remaining_recovery_codes(&self, user_id: UserId) -> Result<u32, InfrastructureError> {
        let count: i64 = self
            .database
            .read(move |connection| {
                recovery_codes::table
                    .filter(recovery_codes::user_id.eq(user_id.to_string()))
                    .filter(recovery_codes::used_at.is_null())
                    .count()
                    .get_result(connection)
            })
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn remove_totp(&self, user_id: UserId, at: OffsetDateTime) -> Result<bool, InfrastructureError> {
        self.database
            .write(move |connection| {
                let id = user_id.to_string();
                let removed = diesel::delete(totp_credentials::table.find(&id)).execute(connection)?;
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id))).execute(connection)?;
                set_mfa_enabled(connection, &id, false, at)?;
                Ok(removed == 1)
            })
            .await
    }

    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), InfrastructureError> {
        let row = ChallengeRow {
            token_hash: challenge.hash.encode(),
            user_id: challenge.user_id.to_string(),
            password_fingerprint: challenge.password_fingerprint.clone(),
            created_at: encode_instant(challenge.created_at),
            expires_at: encode_instant(challenge.expires_at),
        };
        self.database
            .write(move |connection| {
                diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(&row.created_at)))
                    .execute(connection)?;
                diesel::insert_into(mfa_challenges::table).values(&row).execute(connection).map(|_| ())
            })
            .await
    }

    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<MfaChallenge>, InfrastructureError> {
        let hash = hash.encode();
        self.database
            .read(move |connection| {
                let row: Option<ChallengeRow> = mfa_challenges::table
                    .find(hash)
                    .filter(mfa_challenges::expires_at.gt(encode_instant(now)))
                    .select(ChallengeRow::as_select())
                    .first(connection)
                    .optional()?;
                row.map(|row| {
                    Ok(MfaChallenge {
                        hash: TokenHash::decode(&row.token_hash).ok_or_else(|| corrupt("bad token hash".to_owned()))?,
                        user_id: UserId::from_uuid(decode_uuid(&row.user_id)?),
                        password_fingerprint: row.password_fingerprint,
                        created_at: decode_instant(&row.created_at)?,
                        expires_at: decode_instant(&row.expires_at)?,
                    })
                })
                .transpose()
            })
            .await
    }

    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, InfrastructureError> {
        let hash = hash.encode();
        self.database
            .write(move |connection| {
                let deleted = diesel::delete(mfa_challenges::table.find(hash)).execute(connection)?;
                Ok(deleted == 1)
            })
            .await
    }
}
