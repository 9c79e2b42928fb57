//! [`AuditLog`] on SQLite: append-only rows, hash-chained.

use async_trait::async_trait;
use auth_domain::ports::AuditLog;
use auth_domain::{InfrastructureError, NewAuditEvent};
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
}
