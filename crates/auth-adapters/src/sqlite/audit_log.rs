//! [`AuditLog`] on SQLite: append-only rows, hash-chained.

use async_trait::async_trait;
use auth_domain::ports::{AuditLog, AuditQuery, AuditRecord};
use auth_domain::{InfrastructureError, NewAuditEvent, SessionId, UserId};
use diesel::prelude::*;

use super::schema::audit_events;
use super::{SqliteDatabase, encode_instant};
use crate::audit_chain::{
    ChainBreak, ChainSummary, ChainedFields, GENESIS_HASH, StoredRow, chain_hash, personal_digest, to_microseconds,
    verify,
};

#[derive(Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::sqlite::Sqlite))]
struct AuditRow {
    id: String,
    user_id: Option<String>,
    session_id: Option<String>,
    event: &'static str,
    ip: Option<String>,
    user_agent: Option<String>,
    ip_digest: Option<String>,
    user_agent_digest: Option<String>,
    detail: String,
    created_at: String,
    prev_hash: String,
    hash: String,
}

/// The audit log stored in SQLite.
#[derive(Clone)]
pub struct SqliteAuditLog {
    database: SqliteDatabase,
    ids: std::sync::Arc<dyn auth_domain::ports::IdGenerator>,
}

impl SqliteAuditLog {
    pub fn new(database: SqliteDatabase, ids: std::sync::Arc<dyn auth_domain::ports::IdGenerator>) -> Self {
        Self { database, ids }
    }

    /// Checks the whole hash chain, oldest row first.
    ///
    /// # Errors
    /// When the table cannot be read; a broken chain is the inner `Err`.
    pub async fn verify_chain(&self) -> Result<Result<ChainSummary, ChainBreak>, InfrastructureError> {
        let rows: Vec<StoredAuditRow> = self
            .database
            .read(|connection| {
                audit_events::table.order(audit_events::seq.asc()).select(StoredAuditRow::as_select()).load(connection)
            })
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                Ok(StoredRow {
                    seq: i64::from(row.seq.unwrap_or_default()),
                    id: row.id,
                    user_id: row.user_id,
                    session_id: row.session_id,
                    event: row.event,
                    ip: row.ip,
                    user_agent: row.user_agent,
                    ip_digest: row.ip_digest,
                    user_agent_digest: row.user_agent_digest,
                    detail: row.detail,
                    created_at: super::decode_instant(&row.created_at)?,
                    prev_hash: row.prev_hash,
                    hash: row.hash,
                })
            })
            .collect::<Result<Vec<_>, diesel::result::Error>>()
            .map_err(InfrastructureError::unexpected)?;
        Ok(verify(rows))
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::sqlite::Sqlite))]
struct StoredAuditRow {
    seq: Option<i32>,
    id: String,
    user_id: Option<String>,
    session_id: Option<String>,
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    ip_digest: Option<String>,
    user_agent_digest: Option<String>,
    detail: String,
    created_at: String,
    prev_hash: String,
    hash: String,
}

impl std::fmt::Debug for SqliteAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteAuditLog").field("database", &self.database).finish_non_exhaustive()
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn append(&self, event: NewAuditEvent) -> Result<(), InfrastructureError> {
        let created_at = to_microseconds(event.created_at);
        let mut row = AuditRow {
            id: self.ids.new_id().to_string(),
            user_id: event.user_id.map(|id| id.to_string()),
            session_id: event.session_id.map(|id| id.to_string()),
            event: event.kind.as_str(),
            ip_digest: event.ip.as_deref().map(personal_digest),
            user_agent_digest: event.user_agent.as_deref().map(personal_digest),
            ip: event.ip,
            user_agent: event.user_agent,
            detail: event.detail.to_string(),
            created_at: encode_instant(created_at),
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.database
            .write(move |connection| {
                // Inside the IMMEDIATE transaction no other writer can append between the read of
                // the last hash and the insert, so the chain cannot fork.
                let prev_hash: Option<String> = audit_events::table
                    .order(audit_events::seq.desc())
                    .select(audit_events::hash)
                    .first(connection)
                    .optional()?;
                row.prev_hash = prev_hash.unwrap_or_else(|| GENESIS_HASH.to_owned());
                let fields = ChainedFields {
                    id: &row.id,
                    user_id: row.user_id.as_deref(),
                    session_id: row.session_id.as_deref(),
                    event: row.event,
                    ip_digest: row.ip_digest.as_deref(),
                    user_agent_digest: row.user_agent_digest.as_deref(),
                    detail: &row.detail,
                    created_at,
                };
                row.hash = chain_hash(&row.prev_hash, &fields);
                diesel::insert_into(audit_events::table).values(&row).execute(connection)?;
                Ok(())
            })
            .await
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, InfrastructureError> {
        let query = query.clone();
        self.database
            .read(move |connection| {
                let mut statement = audit_events::table
                    .select(StoredAuditRow::as_select())
                    .order(audit_events::seq.asc())
                    .limit(i64::from(query.limit))
                    .into_boxed();
                if let Some(user_id) = query.user_id {
                    statement = statement.filter(audit_events::user_id.eq(user_id.to_string()));
                }
                if let Some(event) = query.event {
                    statement = statement.filter(audit_events::event.eq(event));
                }
                if let Some(since) = query.since {
                    statement = statement.filter(audit_events::created_at.ge(encode_instant(since)));
                }
                if let Some(after) = query.after {
                    // A position past any SQLite integer leaves nothing after it.
                    let after = i32::try_from(after).unwrap_or(i32::MAX);
                    statement = statement.filter(audit_events::seq.gt(after));
                }
                let rows: Vec<StoredAuditRow> = statement.load(connection)?;
                rows.into_iter().map(StoredAuditRow::into_record).collect()
            })
            .await
    }
}

impl StoredAuditRow {
    fn into_record(self) -> Result<AuditRecord, diesel::result::Error> {
        let optional_uuid = |text: Option<String>| text.as_deref().map(super::decode_uuid).transpose();
        Ok(AuditRecord {
            seq: i64::from(self.seq.unwrap_or_default()),
            id: super::decode_uuid(&self.id)?,
            user_id: optional_uuid(self.user_id)?.map(UserId::from_uuid),
            session_id: optional_uuid(self.session_id)?.map(SessionId::from_uuid),
            event: self.event,
            ip: self.ip,
            user_agent: self.user_agent,
            detail: serde_json::from_str(&self.detail)
                .map_err(|error| super::corrupt(format!("bad audit detail: {error}")))?,
            created_at: super::decode_instant(&self.created_at)?,
        })
    }
}
