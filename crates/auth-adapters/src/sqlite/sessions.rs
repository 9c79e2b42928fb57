//! [`SessionRepository`] on SQLite: sessions and their refresh-token families.

use async_trait::async_trait;
use auth_domain::mail::QueuedMail;
use auth_domain::ports::{RevokedSession, Rotation, RotationOutcome, SessionCreation, SessionRepository};
use auth_domain::session::RevocationReason;
use auth_domain::{InfrastructureError, RefreshTokenRecord, Session, SessionId, TokenHash, UserId};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use time::OffsetDateTime;

use super::schema::{refresh_tokens, session_revocations, sessions, users};
use super::{SqliteDatabase, corrupt, decode_instant, decode_uuid, encode_instant};
use crate::sealed_mail::MailSealer;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::sqlite::Sqlite))]
struct SessionRow {
    id: String,
    user_id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    idle_expires_at: String,
    revoked_at: Option<String>,
    revoke_reason: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// A JSON array of strings.
    amr: String,
    credentials_version: i64,
}

impl SessionRow {
    fn from_session(session: &Session) -> Self {
        Self {
            id: session.id.to_string(),
            user_id: session.user_id.to_string(),
            created_at: encode_instant(session.created_at),
            last_used_at: encode_instant(session.last_used_at),
            expires_at: encode_instant(session.expires_at),
            idle_expires_at: encode_instant(session.idle_expires_at),
            revoked_at: session.revoked_at.map(encode_instant),
            revoke_reason: None,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            amr: serde_json::to_string(&session.amr).expect("strings serialise"),
            credentials_version: session.credentials_version,
        }
    }

    fn into_session(self) -> Result<Session, DieselError> {
        Ok(Session {
            id: SessionId::from_uuid(decode_uuid(&self.id)?),
            user_id: UserId::from_uuid(decode_uuid(&self.user_id)?),
            created_at: decode_instant(&self.created_at)?,
            last_used_at: decode_instant(&self.last_used_at)?,
            expires_at: decode_instant(&self.expires_at)?,
            idle_expires_at: decode_instant(&self.idle_expires_at)?,
            revoked_at: self.revoked_at.as_deref().map(decode_instant).transpose()?,
            ip: self.ip,
            user_agent: self.user_agent,
            amr: serde_json::from_str(&self.amr).map_err(|error| corrupt(format!("bad amr: {error}")))?,
            credentials_version: self.credentials_version,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::sqlite::Sqlite))]
struct RefreshTokenRow {
    token_hash: String,
    session_id: String,
    issued_at: String,
    rotated_at: Option<String>,
}

impl RefreshTokenRow {
    fn from_record(record: &RefreshTokenRecord) -> Self {
        Self {
            token_hash: record.hash.encode(),
            session_id: record.session_id.to_string(),
            issued_at: encode_instant(record.issued_at),
            rotated_at: record.rotated_at.map(encode_instant),
        }
    }

    fn into_record(self) -> Result<RefreshTokenRecord, DieselError> {
        Ok(RefreshTokenRecord {
            hash: TokenHash::decode(&self.token_hash).ok_or_else(|| corrupt("bad token hash".to_owned()))?,
            session_id: SessionId::from_uuid(decode_uuid(&self.session_id)?),
            issued_at: decode_instant(&self.issued_at)?,
            rotated_at: self.rotated_at.as_deref().map(decode_instant).transpose()?,
        })
    }
}

/// Sessions stored in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteSessionRepository {
    database: SqliteDatabase,
    sealer: MailSealer,
}

impl SqliteSessionRepository {
    pub fn new(database: SqliteDatabase, sealer: MailSealer) -> Self {
        Self { database, sealer }
    }
}

impl SqliteSessionRepository {
    async fn revoke_for_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError> {
        // The nil id names no session, so "keep none" needs no second query shape.
        let keep = keep.map_or_else(|| uuid::Uuid::nil().to_string(), |id| id.to_string());
        self.database
            .write(move |connection| {
                let revoked = diesel::update(
                    sessions::table
                        .filter(sessions::user_id.eq(user_id.to_string()))
                        .filter(sessions::revoked_at.is_null())
                        .filter(sessions::id.ne(keep)),
                )
                .set((sessions::revoked_at.eq(encode_instant(at)), sessions::revoke_reason.eq(reason.as_str())))
                .returning(SessionRow::as_returning())
                .get_results(connection)?;
                revoked.into_iter().map(SessionRow::into_session).collect()
            })
            .await
    }
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
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
            .write(move |connection| {
                // The write transaction is IMMEDIATE: no other writer can move the version on
                // between this check and the insert.
                let current = users::table
                    .find(&session_row.user_id)
                    .filter(users::credentials_version.eq(session_row.credentials_version))
                    .filter(users::disabled.eq(false))
                    .count()
                    .get_result::<i64>(connection)?;
                if current == 0 {
                    return Ok(SessionCreation::CredentialsChanged);
                }
                diesel::insert_into(sessions::table).values(&session_row).execute(connection)?;
                diesel::insert_into(refresh_tokens::table).values(&token_row).execute(connection)?;
                if let Some(notice) = &notice {
                    super::mail_queue::insert_job(connection, &sealer, notice)?;
                }
                Ok(SessionCreation::Created)
            })
            .await
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, InfrastructureError> {
        self.database
            .read(move |connection| {
                sessions::table
                    .find(id.to_string())
                    .select(SessionRow::as_select())
                    .first(connection)
                    .optional()?
                    .map(SessionRow::into_session)
                    .transpose()
            })
            .await
    }

    async fn find_by_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, RefreshTokenRecord)>, InfrastructureError> {
        let hash = hash.encode();
        self.database
            .read(move |connection| {
                let found = refresh_tokens::table
                    .inner_join(sessions::table)
                    .filter(refresh_tokens::token_hash.eq(hash))
                    .select((SessionRow::as_select(), RefreshTokenRow::as_select()))
                    .first::<(SessionRow, RefreshTokenRow)>(connection)
                    .optional()?;
                found.map(|(session, token)| Ok((session.into_session()?, token.into_record()?))).transpose()
            })
            .await
    }

    async fn rotate(&self, rotation: &Rotation) -> Result<RotationOutcome, InfrastructureError> {
        let parent = rotation.parent.encode();
        let successor = RefreshTokenRow {
            token_hash: rotation.successor.encode(),
            session_id: rotation.session_id.to_string(),
            issued_at: encode_instant(rotation.now),
            rotated_at: None,
        };
        let now = encode_instant(rotation.now);
        let idle_expires_at = encode_instant(rotation.idle_expires_at);
        let session_id = rotation.session_id.to_string();
        self.database
            .write(move |connection| {
                // The conditional update is the arbiter: of two rotations of one token, only the
                // first finds `rotated_at` still empty.
                let claimed = diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::token_hash.eq(&parent))
                        .filter(refresh_tokens::rotated_at.is_null()),
                )
                .set(refresh_tokens::rotated_at.eq(&now))
                .execute(connection)?;
                if claimed == 0 {
                    let rotated_at: Option<String> =
                        refresh_tokens::table.find(&parent).select(refresh_tokens::rotated_at).first(connection)?;
                    let rotated_at =
                        rotated_at.ok_or_else(|| corrupt("an unrotated token refused rotation".to_owned()))?;
                    return Ok(RotationOutcome::AlreadyRotated { rotated_at: decode_instant(&rotated_at)? });
                }
                diesel::insert_into(refresh_tokens::table).values(&successor).execute(connection)?;
                diesel::update(sessions::table.find(&session_id))
                    .set((sessions::last_used_at.eq(&now), sessions::idle_expires_at.eq(&idle_expires_at)))
                    .execute(connection)?;
                Ok(RotationOutcome::Rotated)
            })
            .await
    }

    async fn revoke(
        &self,
        id: SessionId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        self.database
            .write(move |connection| {
                let revoked = diesel::update(
                    sessions::table.filter(sessions::id.eq(id.to_string())).filter(sessions::revoked_at.is_null()),
                )
                .set((sessions::revoked_at.eq(encode_instant(at)), sessions::revoke_reason.eq(reason.as_str())))
                .execute(connection)?;
                Ok(revoked > 0)
            })
            .await
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
        let now = encode_instant(now);
        self.database
            .read(move |connection| {
                sessions::table
                    .filter(sessions::user_id.eq(user_id.to_string()))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(&now))
                    .filter(sessions::idle_expires_at.gt(&now))
                    .order(sessions::created_at.desc())
                    .select(SessionRow::as_select())
                    .load(connection)?
                    .into_iter()
                    .map(SessionRow::into_session)
                    .collect()
            })
            .await
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<RevokedSession>, InfrastructureError> {
        let since = encode_instant(since);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.database
            .read(move |connection| {
                let mut query = session_revocations::table.into_boxed();
                query = match after {
                    None => query.filter(session_revocations::revoked_at.ge(since)),
                    Some(after) => query.filter(
                        session_revocations::revoked_at.gt(since.clone()).or(session_revocations::revoked_at
                            .eq(since)
                            .and(session_revocations::session_id.gt(after.to_string()))),
                    ),
                };
                let rows: Vec<(String, String)> = query
                    .order((session_revocations::revoked_at.asc(), session_revocations::session_id.asc()))
                    .limit(limit)
                    .select((session_revocations::session_id, session_revocations::revoked_at))
                    .load(connection)?;
                rows.into_iter()
                    .map(|(session_id, revoked_at)| {
                        Ok(RevokedSession {
                            session_id: SessionId::from_uuid(decode_uuid(&session_id)?),
                            revoked_at: decode_instant(&revoked_at)?,
                        })
                    })
                    .collect()
            })
            .await
    }
}
