//! [`AuditLog`] on PostgreSQL: append-only rows, hash-chained.

use std::sync::Arc;

use async_trait::async_trait;
use auth_domain::ports::{AuditLog, AuditQuery, AuditRecord, IdGenerator};
use auth_domain::{InfrastructureError, NewAuditEvent};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresDatabase;
use super::schema::audit_events;
use crate::audit_chain::{
    ChainBreak, ChainSummary, ChainedFields, GENESIS_HASH, StoredRow, chain_hash, personal_digest, to_microseconds,
    verify,
};

/// The advisory lock that serialises appends, so that the chain cannot fork under concurrency.
const AUDIT_CHAIN_LOCK: i64 = 0x6175_6469_7463_6861; // "auditcha"

#[derive(Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    event: &'static str,
    ip: Option<String>,
    user_agent: Option<String>,
    ip_digest: Option<String>,
    user_agent_digest: Option<String>,
    detail: serde_json::Value,
    created_at: OffsetDateTime,
    prev_hash: String,
    hash: String,
}

/// The audit log stored in PostgreSQL.
#[derive(Clone)]
pub struct PostgresAuditLog {
    database: PostgresDatabase,
    ids: Arc<dyn IdGenerator>,
}

impl std::fmt::Debug for PostgresAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAuditLog").field("database", &self.database).finish_non_exhaustive()
    }
}

impl PostgresAuditLog {
    pub fn new(database: PostgresDatabase, ids: Arc<dyn IdGenerator>) -> Self {
        Self { database, ids }
    }

    /// Checks the whole hash chain, oldest row first.
    ///
    /// # Errors
    /// When the table cannot be read; a broken chain is the inner `Err`.
    pub async fn verify_chain(&self) -> Result<Result<ChainSummary, ChainBreak>, InfrastructureError> {
        let rows: Vec<StoredAuditRow> = self
            .database
            .run(|connection| {
                Box::pin(async move {
                    audit_events::table
                        .order(audit_events::seq.asc())
                        .select(StoredAuditRow::as_select())
                        .load(connection)
                        .await
                })
            })
            .await?;
        Ok(verify(rows.into_iter().map(|row| StoredRow {
            seq: row.seq,
            id: row.id.to_string(),
            user_id: row.user_id.map(|id| id.to_string()),
            session_id: row.session_id.map(|id| id.to_string()),
            event: row.event,
            ip: row.ip,
            user_agent: row.user_agent,
            ip_digest: row.ip_digest,
            user_agent_digest: row.user_agent_digest,
            detail: row.detail.to_string(),
            created_at: row.created_at,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })))
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
struct StoredAuditRow {
    seq: i64,
    id: Uuid,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    ip_digest: Option<String>,
    user_agent_digest: Option<String>,
    detail: serde_json::Value,
    created_at: OffsetDateTime,
    prev_hash: String,
    hash: String,
}

#[async_trait]
impl AuditLog for PostgresAuditLog {
    async fn append(&self, event: NewAuditEvent) -> Result<(), InfrastructureError> {
        let mut row = AuditRow {
            id: self.ids.new_id(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            session_id: event.session_id.map(|id| id.as_uuid()),
            event: event.kind.as_str(),
            ip_digest: event.ip.as_deref().map(personal_digest),
            user_agent_digest: event.user_agent.as_deref().map(personal_digest),
            ip: event.ip,
            user_agent: event.user_agent,
            detail: event.detail,
            created_at: to_microseconds(event.created_at),
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.database
            .run(move |connection| {
                Box::pin(async move {
                    connection
                        .transaction(async |connection| {
                            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                                .bind::<diesel::sql_types::BigInt, _>(AUDIT_CHAIN_LOCK)
                                .execute(connection)
                                .await?;
                            let prev_hash: Option<String> = audit_events::table
                                .order(audit_events::seq.desc())
                                .select(audit_events::hash)
                                .first(connection)
                                .await
                                .optional()?;
                            row.prev_hash = prev_hash.unwrap_or_else(|| GENESIS_HASH.to_owned());
                            let (id, user_id, session_id) = (
                                row.id.to_string(),
                                row.user_id.map(|id| id.to_string()),
                                row.session_id.map(|id| id.to_string()),
                            );
                            let detail = row.detail.to_string();
                            let fields = ChainedFields {
                                id: &id,
                                user_id: user_id.as_deref(),
                                session_id: session_id.as_deref(),
                                event: row.event,
                                ip_digest: row.ip_digest.as_deref(),
                                user_agent_digest: row.user_agent_digest.as_deref(),
                                detail: &detail,
                                created_at: row.created_at,
                            };
                            row.hash = chain_hash(&row.prev_hash, &fields);
                            diesel::insert_into(audit_events::table).values(&row).execute(connection).await?;
                            Ok::<_, DieselError>(())
                        })
                        .await
                })
            })
            .await
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, InfrastructureError> {
        let query = query.clone();
        let rows: Vec<StoredAuditRow> = self
            .database
            .run(move |connection| {
                Box::pin(async move {
                    let mut statement = audit_events::table
                        .select(StoredAuditRow::as_select())
                        .order(audit_events::seq.asc())
                        .limit(i64::from(query.limit))
                        .into_boxed();
                    if let Some(user_id) = query.user_id {
                        statement = statement.filter(audit_events::user_id.eq(user_id.as_uuid()));
                    }
                    if let Some(event) = query.event {
                        statement = statement.filter(audit_events::event.eq(event));
                    }
                    if let Some(since) = query.since {
                        statement = statement.filter(audit_events::created_at.ge(since));
                    }
                    if let Some(after) = query.after {
                        statement = statement.filter(audit_events::seq.gt(after));
                    }
                    statement.load(connection).await
                })
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                seq: row.seq,
                id: row.id,
                user_id: row.user_id.map(auth_domain::UserId::from_uuid),
                session_id: row.session_id.map(auth_domain::SessionId::from_uuid),
                event: row.event,
                ip: row.ip,
                user_agent: row.user_agent,
                detail: row.detail,
                created_at: row.created_at,
            })
            .collect())
    }
}
