//! [`SecondFactorRepository`] on PostgreSQL.

use async_trait::async_trait;
use auth_domain::ports::{MfaChallenge, SecondFactorRepository, TotpCredential};
use auth_domain::totp::TotpSecret;
use auth_domain::{InfrastructureError, TokenHash, UserId};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use super::schema::{mfa_challenges, recovery_codes, totp_credentials, users};
use super::{PostgresDatabase, corrupt};
use crate::sealed_totp::TotpSealer;

#[derive(Queryable, Selectable)]
#[diesel(table_name = totp_credentials, check_for_backend(diesel::pg::Pg))]
struct TotpRow {
    sealed_secret: String,
    confirmed_at: Option<OffsetDateTime>,
    last_used_step: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges, check_for_backend(diesel::pg::Pg))]
struct ChallengeRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    password_fingerprint: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// Second factors stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresSecondFactorRepository {
    database: PostgresDatabase,
    sealer: TotpSealer,
}

impl PostgresSecondFactorRepository {
    pub fn new(database: PostgresDatabase, sealer: TotpSealer) -> Self {
        Self { database, sealer }
    }
}

/// Sets the user's `mfa_enabled` flag, inside the caller's transaction.
async fn set_mfa_enabled(
    connection: &mut AsyncPgConnection,
    user_id: Uuid,
    enabled: bool,
    at: OffsetDateTime,
) -> Result<(), DieselError> {
    diesel::update(users::table.find(user_id))
        .set((users::mfa_enabled.eq(enabled), users::updated_at.eq(at)))
        .execute(connection)
        .await
        .map(|_| ())
}

#[async_trait]
impl SecondFactorRepository for PostgresSecondFactorRepository {
    async fn begin_totp(
        &self,
        user_id: UserId,
        secret: &TotpSecret,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let sealed = self.sealer.seal(user_id, secret);
        let id = user_id.as_uuid();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            // Locks an existing row, so that a confirmation cannot slip in between.
                            let confirmed: Option<Option<OffsetDateTime>> = totp_credentials::table
                                .find(id)
                                .select(totp_credentials::confirmed_at)
                                .for_update()
                                .first(connection)
                                .await
                                .optional()?;
                            if matches!(confirmed, Some(Some(_))) {
                                return Ok(false);
                            }
                            diesel::insert_into(totp_credentials::table)
                                .values((
                                    totp_credentials::user_id.eq(id),
                                    totp_credentials::sealed_secret.eq(sealed),
                                    totp_credentials::confirmed_at.eq(None::<OffsetDateTime>),
                                    totp_credentials::last_used_step.eq(None::<i64>),
                                    totp_credentials::created_at.eq(at),
                                ))
                                .on_conflict(totp_credentials::user_id)
                                .do_update()
                                .set((
                                    totp_credentials::sealed_secret.eq(excluded(totp_credentials::sealed_secret)),
                                    totp_credentials::confirmed_at.eq(None::<OffsetDateTime>),
                                    totp_credentials::last_used_step.eq(None::<i64>),
                                    totp_credentials::created_at.eq(excluded(totp_credentials::created_at)),
                                ))
                                .execute(connection)
                                .await?;
                            Ok(true)
                        })
                        .await
                })
            })
            .await
    }

    async fn find_totp(&self, user_id: UserId) -> Result<Option<TotpCredential>, InfrastructureError> {
        let sealer = self.sealer.clone();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    let row: Option<TotpRow> = totp_credentials::table
                        .find(user_id.as_uuid())
                        .select(TotpRow::as_select())
                        .first(connection)
                        .await
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
        let hashes: Vec<Vec<u8>> = recovery_codes.iter().map(|hash| hash.as_bytes().to_vec()).collect();
        let id = user_id.as_uuid();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            let confirmed = diesel::update(
                                totp_credentials::table
                                    .filter(totp_credentials::user_id.eq(id))
                                    .filter(totp_credentials::confirmed_at.is_null()),
                            )
                            .set((totp_credentials::confirmed_at.eq(at), totp_credentials::last_used_step.eq(step)))
                            .execute(connection)
                            .await?;
                            if confirmed == 0 {
                                return Ok(false);
                            }
                            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(id)))
                                .execute(connection)
                                .await?;
                            let rows: Vec<_> = hashes
                                .iter()
                                .map(|hash| (recovery_codes::user_id.eq(id), recovery_codes::code_hash.eq(hash)))
                                .collect();
                            diesel::insert_into(recovery_codes::table).values(&rows).execute(connection).await?;
                            set_mfa_enabled(connection, id, true, at).await?;
                            Ok(true)
                        })
                        .await
                })
            })
            .await
    }

    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, InfrastructureError> {
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    // One conditional UPDATE: of two concurrent ones with the same step, the second
                    // re-checks the row after the first commits and no longer matches.
                    let updated = diesel::update(
                        totp_credentials::table
                            .filter(totp_credentials::user_id.eq(user_id.as_uuid()))
                            .filter(totp_credentials::confirmed_at.is_not_null())
                            .filter(
                                totp_credentials::last_used_step
                                    .is_null()
                                    .or(totp_credentials::last_used_step.lt(step)),
                            ),
                    )
                    .set(totp_credentials::last_used_step.eq(step))
                    .execute(connection)
                    .await?;
                    Ok(updated == 1)
                })
            })
            .await
    }

    async fn use_recovery_code(
        &self,
        user_id: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let hash = hash.as_bytes().to_vec();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    let updated = diesel::update(
                        recovery_codes::table
                            .filter(recovery_codes::user_id.eq(user_id.as_uuid()))
                            .filter(recovery_codes::code_hash.eq(hash))
                            .filter(recovery_codes::used_at.is_null()),
                    )
                    .set(recovery_codes::used_at.eq(at))
                    .execute(connection)
                    .await?;
                    Ok(updated == 1)
                })
            })
            .await
    }

    async fn remaining_recovery_codes(&self, user_id: UserId) -> Result<u32, InfrastructureError> {
        let count: i64 = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    recovery_codes::table
                        .filter(recovery_codes::user_id.eq(user_id.as_uuid()))
                        .filter(recovery_codes::used_at.is_null())
                        .count()
                        .get_result(connection)
                        .await
                })
            })
            .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn remove_totp(&self, user_id: UserId, at: OffsetDateTime) -> Result<bool, InfrastructureError> {
        let id = user_id.as_uuid();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            let removed = diesel::delete(totp_credentials::table.find(id)).execute(connection).await?;
                            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(id)))
                                .execute(connection)
                                .await?;
                            set_mfa_enabled(connection, id, false, at).await?;
                            Ok(removed == 1)
                        })
                        .await
                })
            })
            .await
    }

    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), InfrastructureError> {
        let row = ChallengeRow {
            token_hash: challenge.hash.as_bytes().to_vec(),
            user_id: challenge.user_id.as_uuid(),
            password_fingerprint: challenge.password_fingerprint.clone(),
            created_at: challenge.created_at,
            expires_at: challenge.expires_at,
        };
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(row.created_at)))
                        .execute(connection)
                        .await?;
                    diesel::insert_into(mfa_challenges::table).values(&row).execute(connection).await.map(|_| ())
                })
            })
            .await
    }

    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<MfaChallenge>, InfrastructureError> {
        let hash = hash.as_bytes().to_vec();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    let row: Option<ChallengeRow> = mfa_challenges::table
                        .find(hash)
                        .filter(mfa_challenges::expires_at.gt(now))
                        .select(ChallengeRow::as_select())
                        .first(connection)
                        .await
                        .optional()?;
                    row.map(|row| {
                        let hash: [u8; 32] =
                            row.token_hash.try_into().map_err(|_| corrupt("bad token hash".to_owned()))?;
                        Ok(MfaChallenge {
                            hash: TokenHash::from_bytes(hash),
                            user_id: UserId::from_uuid(row.user_id),
                            password_fingerprint: row.password_fingerprint,
                            created_at: row.created_at,
                            expires_at: row.expires_at,
                        })
                    })
                    .transpose()
                })
            })
            .await
    }

    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, InfrastructureError> {
        let hash = hash.as_bytes().to_vec();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    let deleted = diesel::delete(mfa_challenges::table.find(hash)).execute(connection).await?;
                    Ok(deleted == 1)
                })
            })
            .await
    }
}
