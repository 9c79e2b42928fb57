//! The contract of `AuditLog` (appends succeed, alone or concurrently), and SQLite's hash chain.
//!
//! The port has no read side, so the contract can only hold the log to accepting events. What the
//! SQLite log promises beyond the port (rows that chain by hash, never rewritten) is checked by
//! reading its table directly, in [`sqlite_only`].

use auth_domain::ports::AuditLog;
use auth_domain::{AuditEventKind, NewAuditEvent, SessionId, UserId};
use serde_json::json;
use uuid::Uuid;

use crate::support::{RACE_ROUNDS, now};

/// An event of `kind` with every optional field set.
fn a_full_event(kind: AuditEventKind) -> NewAuditEvent {
    NewAuditEvent {
        kind,
        user_id: Some(UserId::from_uuid(Uuid::new_v4())),
        session_id: Some(SessionId::from_uuid(Uuid::new_v4())),
        ip: Some("2001:db8::7".to_owned()),
        user_agent: Some("contract-tests/1.0".to_owned()),
        detail: json!({ "attempt": 3, "reason": "bad password", "nested": { "list": [1, 2] } }),
        created_at: now(),
    }
}

/// An event of `kind` about nobody in particular, with no optional field set.
fn a_bare_event(kind: AuditEventKind) -> NewAuditEvent {
    NewAuditEvent {
        kind,
        user_id: None,
        session_id: None,
        ip: None,
        user_agent: None,
        detail: json!({}),
        created_at: now(),
    }
}

pub async fn appending_events_succeeds(audit_log: &dyn AuditLog) {
    audit_log.append(a_full_event(AuditEventKind::LoginFailed)).await.expect("an event with every field is appended");
    audit_log.append(a_bare_event(AuditEventKind::SigningKeyRotated)).await.expect("a bare event is appended");
    // Two equal events are two events, not one.
    let event = a_full_event(AuditEventKind::LoginSucceeded);
    audit_log.append(event.clone()).await.expect("the first of two equal events is appended");
    audit_log.append(event).await.expect("the second of two equal events is appended");
}

pub async fn concurrent_appends_all_succeed(audit_log: &dyn AuditLog) {
    for round in 0..RACE_ROUNDS {
        let (a, b, c, d) = tokio::join!(
            audit_log.append(a_full_event(AuditEventKind::TokenRefreshed)),
            audit_log.append(a_full_event(AuditEventKind::TokenRefreshed)),
            audit_log.append(a_bare_event(AuditEventKind::LoginThrottled)),
            audit_log.append(a_full_event(AuditEventKind::Logout)),
        );

        for outcome in [a, b, c, d] {
            outcome.unwrap_or_else(|error| panic!("round {round}: a concurrent append failed: {error:?}"));
        }
    }
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.audit_log),
    tests: [
        appending_events_succeeds,
        concurrent_appends_all_succeed,
    ],
}

/// What SQLite's audit log adds to the contract: its rows form a hash chain that no append forks
/// or rewrites.
mod sqlite_only {
    use std::path::Path;

    use auth_domain::ports::AuditLog;
    use auth_domain::{AuditEventKind, NewAuditEvent};
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Nullable, Text};

    use super::{a_bare_event, a_full_event};
    use crate::backends;
    use crate::support::RACE_ROUNDS;

    /// The `prev_hash` of the first row, as the migration documents it.
    const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// One row of `audit_events`, read with plain SQL so the test shares no code with the adapter.
    #[derive(Debug, Clone, PartialEq, QueryableByName)]
    struct AuditEventRow {
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = Text)]
        event: String,
        #[diesel(sql_type = Nullable<Text>)]
        user_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        session_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        ip: Option<String>,
        #[diesel(sql_type = Text)]
        detail: String,
        #[diesel(sql_type = Text)]
        prev_hash: String,
        #[diesel(sql_type = Text)]
        hash: String,
    }

    fn rows_in_chain_order(database_path: &Path) -> Vec<AuditEventRow> {
        let mut connection =
            SqliteConnection::establish(&database_path.to_string_lossy()).expect("the test database opens");
        diesel::sql_query(
            "SELECT seq, event, user_id, session_id, ip, detail, prev_hash, hash FROM audit_events ORDER BY seq",
        )
        .load(&mut connection)
        .expect("the audit table is readable")
    }

    fn assert_stored_as_appended(row: &AuditEventRow, event: &NewAuditEvent) {
        assert_eq!(row.event, event.kind.as_str());
        assert_eq!(row.user_id, event.user_id.map(|id| id.to_string()));
        assert_eq!(row.session_id, event.session_id.map(|id| id.to_string()));
        assert_eq!(row.ip, event.ip);
        let detail: serde_json::Value = serde_json::from_str(&row.detail).expect("the detail is JSON");
        assert_eq!(detail, event.detail);
    }

    fn is_sha256_hex(text: &str) -> bool {
        text.len() == 64 && text.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn each_row_chains_to_the_hash_of_the_row_before_and_is_never_rewritten() {
        let fixture = backends::sqlite().await;
        let log: &dyn AuditLog = &fixture.audit_log;
        let sequential = [
            a_full_event(AuditEventKind::UserRegistered),
            a_bare_event(AuditEventKind::SigningKeyRotated),
            a_full_event(AuditEventKind::LoginSucceeded),
        ];
        for event in &sequential {
            log.append(event.clone()).await.expect("the event is appended");
        }
        let first_rows = rows_in_chain_order(&fixture.database_path);

        // Concurrent appends must queue, not fork the chain by reading the same last hash.
        for _ in 0..RACE_ROUNDS {
            let (a, b, c, d) = tokio::join!(
                log.append(a_full_event(AuditEventKind::TokenRefreshed)),
                log.append(a_full_event(AuditEventKind::TokenRefreshed)),
                log.append(a_bare_event(AuditEventKind::LoginThrottled)),
                log.append(a_full_event(AuditEventKind::Logout)),
            );
            for outcome in [a, b, c, d] {
                outcome.expect("every concurrent append succeeds");
            }
        }
        let rows = rows_in_chain_order(&fixture.database_path);

        assert_eq!(rows.len(), sequential.len() + 4 * RACE_ROUNDS, "one row per append");
        for (row, event) in rows.iter().zip(&sequential) {
            assert_stored_as_appended(row, event);
        }
        assert_eq!(rows[..first_rows.len()], first_rows[..], "appending rewrote earlier rows");
        assert_eq!(rows[0].prev_hash, GENESIS_HASH, "the chain starts at the genesis hash");
        for row in &rows {
            assert!(is_sha256_hex(&row.hash), "row {} has no SHA-256 hex hash: {:?}", row.seq, row.hash);
        }
        for pair in rows.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash, "row {} does not chain to row {}", pair[1].seq, pair[0].seq);
        }
        let mut hashes: Vec<&str> = rows.iter().map(|row| row.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), rows.len(), "two rows share a hash");
    }
}

/// What PostgreSQL's audit log adds to the contract: concurrent appends from many connections
/// queue on the chain lock instead of forking the chain.
mod postgres_only {
    use auth_domain::AuditEventKind;
    use auth_domain::ports::AuditLog;

    use super::a_full_event;
    use crate::backends;
    use crate::support::RACE_ROUNDS;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_never_fork_the_chain() {
        let Some(fixture) = backends::postgres().await else { return };
        let log: &dyn AuditLog = &fixture.audit_log;
        for _ in 0..RACE_ROUNDS {
            let (a, b, c, d) = tokio::join!(
                log.append(a_full_event(AuditEventKind::TokenRefreshed)),
                log.append(a_full_event(AuditEventKind::LoginSucceeded)),
                log.append(a_full_event(AuditEventKind::Logout)),
                log.append(a_full_event(AuditEventKind::TokenRefreshed)),
            );
            for outcome in [a, b, c, d] {
                outcome.expect("every concurrent append succeeds");
            }
        }
        let (client, connection) =
            tokio_postgres::connect(&fixture.url, tokio_postgres::NoTls).await.expect("the test database answers");
        tokio::spawn(connection);
        let rows = client
            .query("SELECT prev_hash, hash FROM audit_events ORDER BY seq", &[])
            .await
            .expect("the audit table is readable");
        assert_eq!(rows.len(), 4 * RACE_ROUNDS);
        let links: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        assert_eq!(links[0].0, "0".repeat(64), "the chain starts at the genesis hash");
        for pair in links.windows(2) {
            assert_eq!(pair[1].0, pair[0].1, "the chain forked");
        }
    }
}
