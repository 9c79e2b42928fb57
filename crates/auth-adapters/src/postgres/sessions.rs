//! [`SessionRepository`] on PostgreSQL: sessions and their refresh-token families.

use async_trait::async_trait;
use auth_domain::mail::QueuedMail;
use auth_domain::ports::{RevokedSession, Rotation, RotationOutcome, SessionCreation, SessionRepository};
use auth_domain::session::RevocationReason;
use auth_domain::{InfrastructureError, RefreshTokenRecord, Session, SessionId, TokenHash, UserId};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use super::schema::{refresh_tokens, session_revocations, sessions, users};
use super::{PostgresDatabase, corrupt, database_error};
use crate::sealed_mail::MailSealer;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    idle_expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    revoke_reason: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: Vec<String>,
    credentials_version: i64,
}

impl SessionRow {
    fn from_session(session: &Session) -> Self {
        Self {
            id: session.id.as_uuid(),
            user_id: session.user_id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            idle_expires_at: session.idle_expires_at,
            revoked_at: session.revoked_at,
            revoke_reason: None,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            amr: session.amr.clone(),
            credentials_version: session.credentials_version,
        }
    }
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Self {
            id: SessionId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            idle_expires_at: row.idle_expires_at,
            revoked_at: row.revoked_at,
            ip: row.ip,
            user_agent: row.user_agent,
            amr: row.amr,
            credentials_version: row.credentials_version,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
struct RefreshTokenRow {
    token_hash: Vec<u8>,
    session_id: Uuid,
    issued_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
}

impl RefreshTokenRow {
    fn from_record(record: &RefreshTokenRecord) -> Self {
        Self {
            token_hash: record.hash.as_bytes().to_vec(),
            session_id: record.session_id.as_uuid(),
            issued_at: record.issued_at,
            rotated_at: record.rotated_at,
        }
    }

    fn into_record(self) -> Result<RefreshTokenRecord, DieselError> {
        let hash: [u8; 32] =
            self.token_hash.try_into().map_err(|_| corrupt("a token hash is not 32 bytes".to_owned()))?;
        Ok(RefreshTokenRecord {
            hash: TokenHash::from_bytes(hash),
            session_id: SessionId::from_uuid(self.session_id),
            issued_at: self.issued_at,
            rotated_at: self.rotated_at,
        })
    }
}

/// Sessions stored in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresSessionRepository {
    database: PostgresDatabase,
    sealer: MailSealer,
}

impl PostgresSessionRepository {
    pub fn new(database: PostgresDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

impl PostgresSessionRepository {
    async fn revoke_for_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError> {
        // The nil id names no session, so "keep none" needs no second query shape.
        let keep = keep.map_or_else(Uuid::nil, |id| id.as_uuid());
        let rows: Vec<SessionRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(
                        sessions::table
                            .filter(sessions::user_id.eq(user_id.as_uuid()))
                            .filter(sessions::revoked_at.is_null())
                            .filter(sessions::id.ne(keep)),
                    )
                    .set((sessions::revoked_at.eq(at), sessions::revoke_reason.eq(reason.as_str())))
                    .returning(SessionRow::as_returning())
                    .get_results(connection)
                    .await
                })
            })
            .await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }
}

#[async_trait]
impl SessionRepository for PostgresSessionRepository {
    async fn create(
        &self,
        session: &Session,
        first_token: &RefreshTokenRecord,
        notice: Option<QueuedMail>,
    ) -> Result<SessionCreation, InfrastructureError> {
        let session_row = SessionRow::from_session(session);
        let token_row = RefreshTokenRow::from_record(first_token);
        let sealer = self.sealer.clone();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            // The row lock holds off a concurrent change of the version (a new
                            // password, disabling, a role change) until this session is
                            // committed, so the change's revocation that follows sees it.
                            let current: Option<(i64, bool)> = users::table
                                .find(session_row.user_id)
                                .select((users::credentials_version, users::disabled))
                                .for_share()
                                .first(connection)
                                .await
                                .optional()?;
                            if current != Some((session_row.credentials_version, false)) {
                                return Ok(SessionCreation::CredentialsChanged);
                            }
                            diesel::insert_into(sessions::table).values(&session_row).execute(connection).await?;
                            diesel::insert_into(refresh_tokens::table).values(&token_row).execute(connection).await?;
                            if let Some(notice) = &notice {
                                super::mail_queue::insert_job(connection, &sealer, notice).await?;
                            }
                            Ok::<_, DieselError>(SessionCreation::Created)
                        })
                        .await
                })
            })
            .await
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, InfrastructureError> {
        let row: Option<SessionRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    sessions::table
                        .find(id.as_uuid())
                        .select(SessionRow::as_select())
                        .first(connection)
                        .await
                        .optional()
                })
            })
            .await?;
        Ok(row.map(Session::from))
    }

    async fn find_by_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, RefreshTokenRecord)>, InfrastructureError> {
        let hash = hash.as_bytes().to_vec();
        let found: Option<(SessionRow, RefreshTokenRow)> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    refresh_tokens::table
                        .inner_join(sessions::table)
                        .filter(refresh_tokens::token_hash.eq(hash))
                        .select((SessionRow::as_select(), RefreshTokenRow::as_select()))
                        .first(connection)
                        .await
                        .optional()
                })
            })
            .await?;
        found
            .map(|(session, token)| Ok((Session::from(session), token.into_record()?)))
            .transpose()
            .map_err(database_error)
    }

    async fn rotate(&self, rotation: &Rotation) -> Result<RotationOutcome, InfrastructureError> {
        let parent = rotation.parent.as_bytes().to_vec();
        let successor = RefreshTokenRow {
            token_hash: rotation.successor.as_bytes().to_vec(),
            session_id: rotation.session_id.as_uuid(),
            issued_at: rotation.now,
            rotated_at: None,
        };
        let now = rotation.now;
        let idle_expires_at = rotation.idle_expires_at;
        let session_id = rotation.session_id.as_uuid();
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            // The conditional update is the arbiter: it takes the row lock, and of two
                            // rotations of one token on any number of replicas only the first still
                            // finds `rotated_at` empty.
                            let claimed = diesel::update(
                                refresh_tokens::table
                                    .filter(refresh_tokens::token_hash.eq(&parent))
                                    .filter(refresh_tokens::rotated_at.is_null()),
                            )
                            .set(refresh_tokens::rotated_at.eq(now))
                            .execute(connection)
                            .await?;
                            if claimed == 0 {
                                let rotated_at: Option<OffsetDateTime> = refresh_tokens::table
                                    .find(&parent)
                                    .select(refresh_tokens::rotated_at)
                                    .first(connection)
                                    .await?;
                                let rotated_at = rotated_at
                                    .ok_or_else(|| corrupt("an unrotated token refused rotation".to_owned()))?;
                                return Ok(RotationOutcome::AlreadyRotated { rotated_at });
                            }
                            diesel::insert_into(refresh_tokens::table).values(&successor).execute(connection).await?;
                            diesel::update(sessions::table.find(session_id))
                                .set((sessions::last_used_at.eq(now), sessions::idle_expires_at.eq(idle_expires_at)))
                                .execute(connection)
                                .await?;
                            Ok::<_, DieselError>(RotationOutcome::Rotated)
                        })
                        .await
                })
            })
            .await
    }

    async fn revoke(
        &self,
        id: SessionId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let revoked = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    diesel::update(
                        sessions::table.filter(sessions::id.eq(id.as_uuid())).filter(sessions::revoked_at.is_null()),
                    )
                    .set((sessions::revoked_at.eq(at), sessions::revoke_reason.eq(reason.as_str())))
                    .execute(connection)
                    .await
                })
            })
            .await?;
        Ok(revoked > 0)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError> {
        self.revoke_for_user(user_id, None, reason, at).await
    }

    async fn revoke_all_for_user_except(
        &self,
        user_id: UserId,
        keep: SessionId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError> {
        self.revoke_for_user(user_id, Some(keep), reason, at).await
    }

    async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError> {
        let rows: Vec<SessionRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    sessions::table
                        .filter(sessions::user_id.eq(user_id.as_uuid()))
                        .filter(sessions::revoked_at.is_null())
                        .filter(sessions::expires_at.gt(now))
                        .filter(sessions::idle_expires_at.gt(now))
                        .order(sessions::created_at.desc())
                        .select(SessionRow::as_select())
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<RevokedSession>, InfrastructureError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(Uuid, OffsetDateTime)> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    let mut query = session_revocations::table.into_boxed();
                    query = match after {
                        None => query.filter(session_revocations::revoked_at.ge(since)),
                        Some(after) => query.filter(
                            session_revocations::revoked_at.gt(since).or(session_revocations::revoked_at
                                .eq(since)
                                .and(session_revocations::session_id.gt(after.as_uuid()))),
                        ),
                    };
                    query
                        .order((session_revocations::revoked_at.asc(), session_revocations::session_id.asc()))
                        .limit(limit)
                        .select((session_revocations::session_id, session_revocations::revoked_at))
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(session_id, revoked_at)| RevokedSession { session_id: SessionId::from_uuid(session_id), revoked_at })
            .collect())
    }
}
