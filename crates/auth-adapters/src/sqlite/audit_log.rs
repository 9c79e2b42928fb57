//! [`AuditLog`] on SQLite: append-only rows, hash-chained.

use async_trait::async_trait;
use auth_domain::ports::AuditLog;
use auth_domain::{InfrastructureError, NewAuditEvent};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::audit_events;
use super::{SqliteDatabase, encode_instant};

/// The `prev_hash` of the first row.
const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::sqlite::Sqlite))]
struct AuditRow {
    id: String,
    user_id: Option<String>,
    session_id: Option<String>,
    event: &'static str,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
    created_at: String,
    prev_hash: String,
    hash: String,
}

/// The hash of a row: its predecessor's hash and its content, with personal fields (IP, user
/// agent) entering only through their own digests, so that erasing them later leaves the chain
/// verifiable.
fn chain_hash(prev_hash: &str, row: &AuditRow) -> String {
    let digest_of = |field: &Option<String>| field.as_deref().map(|value| hex(&Sha256::digest(value.as_bytes())));
    let content = serde_json::json!([
        row.id,
        row.user_id,
        row.session_id,
        row.event,
        digest_of(&row.ip),
        digest_of(&row.user_agent),
        row.detail,
        row.created_at,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(content.to_string().as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
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
}

impl std::fmt::Debug for SqliteAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteAuditLog").field("database", &self.database).finish_non_exhaustive()
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn append(&self, event: NewAuditEvent) -> Result<(), InfrastructureError> {
        let mut row = AuditRow {
            id: self.ids.new_id().to_string(),
            user_id: event.user_id.map(|id| id.to_string()),
            session_id: event.session_id.map(|id| id.to_string()),
            event: event.kind.as_str(),
            ip: event.ip,
            user_agent: event.user_agent,
            detail: event.detail.to_string(),
            created_at: encode_instant(event.created_at),
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
                row.hash = chain_hash(&row.prev_hash, &row);
                diesel::insert_into(audit_events::table).values(&row).execute(connection)?;
                Ok(())
            })
            .await
    }
}
