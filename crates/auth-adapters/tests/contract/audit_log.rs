//! The contract of `AuditLog` (appends succeed, alone or concurrently; queries filter and page in
//! append order), and each log's hash chain.
//!
//! What the
//! SQLite and PostgreSQL logs promise beyond the port (rows that chain by hash, never rewritten;
//! the IP and user agent of a deleted user's rows erased while the chain still verifies; a
//! personal field altered behind the log's back detected) is checked through their
//! `verify_chain` and by reading and writing their table directly, in [`sqlite_only`] and
//! [`postgres_only`].

use auth_domain::ports::{AuditLog, AuditQuery, UserRepository};
use auth_domain::{AuditEventKind, NewAuditEvent, SessionId, UserId};
use serde_json::json;
use uuid::Uuid;

use crate::support::{RACE_ROUNDS, an_existing_user, now};

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

/// The IP of the events about the user that a test keeps; the deleted user's events have
/// [`a_full_event`]'s.
const KEPT_USERS_IP: &str = "198.51.100.23";
const KEPT_USERS_USER_AGENT: &str = "kept-client/2.0";

/// The audit log after [`two_users_audited_then_the_first_deleted`].
#[derive(Debug)]
struct Erasure {
    deleted_user: UserId,
    kept_user: UserId,
    /// Rows about the deleted user; every one had an IP and a user agent.
    deleted_users_rows: usize,
    /// Every row of the log.
    rows: usize,
}

/// Appends events with an IP and a user agent about two stored users, interleaved, and one about
/// nobody; then deletes the first user through `users`.
async fn two_users_audited_then_the_first_deleted(users: &dyn UserRepository, log: &dyn AuditLog) -> Erasure {
    let (deleted_user, kept_user) = (an_existing_user(users).await.id, an_existing_user(users).await.id);
    let about_deleted = |kind| NewAuditEvent { user_id: Some(deleted_user), ..a_full_event(kind) };
    let about_kept = |kind| NewAuditEvent {
        user_id: Some(kept_user),
        ip: Some(KEPT_USERS_IP.to_owned()),
        user_agent: Some(KEPT_USERS_USER_AGENT.to_owned()),
        ..a_full_event(kind)
    };
    let events = [
        about_deleted(AuditEventKind::UserRegistered),
        about_kept(AuditEventKind::UserRegistered),
        about_deleted(AuditEventKind::LoginSucceeded),
        a_bare_event(AuditEventKind::SigningKeyRotated),
        about_kept(AuditEventKind::LoginFailed),
        about_deleted(AuditEventKind::Logout),
    ];
    for event in &events {
        log.append(event.clone()).await.expect("the event is appended");
    }

    users.delete(deleted_user).await.expect("the user is deleted");

    let deleted_users_rows = events.iter().filter(|event| event.user_id == Some(deleted_user)).count();
    Erasure { deleted_user, kept_user, deleted_users_rows, rows: events.len() }
}

/// What a test reads of one audit row, to see its personal fields erased or kept.
#[derive(Debug, Clone, PartialEq)]
struct PersonalFields {
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// Checks that the deleted user's rows lost their IP and user agent, and that the kept user's
/// rows still carry theirs.
fn assert_only_the_deleted_users_rows_were_erased(erasure: &Erasure, rows: &[PersonalFields]) {
    let (deleted, kept) = (Some(erasure.deleted_user.to_string()), Some(erasure.kept_user.to_string()));
    let deleted_rows: Vec<&PersonalFields> = rows.iter().filter(|row| row.user_id == deleted).collect();
    assert_eq!(deleted_rows.len(), erasure.deleted_users_rows, "the deleted user's rows stay: {rows:?}");
    for row in deleted_rows {
        assert_eq!((&row.ip, &row.user_agent), (&None, &None), "a deleted user's row kept a personal field");
    }
    let kept_rows: Vec<&PersonalFields> = rows.iter().filter(|row| row.user_id == kept).collect();
    assert_eq!(kept_rows.len(), 2, "{rows:?}");
    for row in kept_rows {
        let expected = (Some(KEPT_USERS_IP.to_owned()), Some(KEPT_USERS_USER_AGENT.to_owned()));
        assert_eq!((row.ip.clone(), row.user_agent.clone()), expected, "another user's row was erased");
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

fn query(limit: u32) -> AuditQuery {
    AuditQuery { user_id: None, event: None, since: None, after: None, limit }
}

pub async fn a_query_returns_events_as_appended_oldest_first(audit_log: &dyn AuditLog) {
    let first = a_full_event(AuditEventKind::LoginFailed);
    let second = a_bare_event(AuditEventKind::LoginSucceeded);
    audit_log.append(first.clone()).await.expect("appended");
    audit_log.append(second.clone()).await.expect("appended");

    let records = audit_log.query(&query(10)).await.expect("the query succeeds");

    assert_eq!(records.len(), 2);
    assert!(records[0].seq < records[1].seq);
    let record = &records[0];
    assert_eq!(record.event, "login_failed");
    assert_eq!((record.user_id, record.session_id), (first.user_id, first.session_id));
    assert_eq!(
        (record.ip.as_deref(), record.user_agent.as_deref()),
        (first.ip.as_deref(), first.user_agent.as_deref())
    );
    assert_eq!(record.detail, first.detail);
    assert_eq!(record.created_at, first.created_at);
    assert_eq!(records[1].event, "login_succeeded");
    assert_eq!(records[1].user_id, None);
}

pub async fn a_query_filters_by_user_event_and_instant(audit_log: &dyn AuditLog) {
    let user_id = UserId::from_uuid(Uuid::new_v4());
    let earlier = now() - time::Duration::hours(1);
    let mut old = a_bare_event(AuditEventKind::LoginFailed);
    old.user_id = Some(user_id);
    old.created_at = earlier;
    let mut recent = a_bare_event(AuditEventKind::LoginFailed);
    recent.user_id = Some(user_id);
    let mut other_event = a_bare_event(AuditEventKind::Logout);
    other_event.user_id = Some(user_id);
    let stranger = a_full_event(AuditEventKind::LoginFailed);
    for event in [old, recent.clone(), other_event, stranger] {
        audit_log.append(event).await.expect("appended");
    }

    let by_user = AuditQuery { user_id: Some(user_id), ..query(10) };
    assert_eq!(audit_log.query(&by_user).await.expect("queried").len(), 3);
    let by_user_and_event = AuditQuery { event: Some("login_failed".to_owned()), ..by_user.clone() };
    assert_eq!(audit_log.query(&by_user_and_event).await.expect("queried").len(), 2);
    let since = AuditQuery { since: Some(recent.created_at), ..by_user_and_event };
    let found = audit_log.query(&since).await.expect("queried");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].created_at, recent.created_at);
    let unknown = AuditQuery { event: Some("no_such_event".to_owned()), ..query(10) };
    assert!(audit_log.query(&unknown).await.expect("queried").is_empty());
}

pub async fn paging_after_the_last_seen_position_skips_and_repeats_nothing(audit_log: &dyn AuditLog) {
    for _ in 0..5 {
        audit_log.append(a_bare_event(AuditEventKind::LoginFailed)).await.expect("appended");
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = audit_log.query(&AuditQuery { after, ..query(2) }).await.expect("queried");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|record| record.seq);
        seen.extend(page.iter().map(|record| record.id));
        // Appended while paging: it comes after every row seen so far, so the paging finds it.
        if seen.len() == 2 {
            audit_log.append(a_bare_event(AuditEventKind::Logout)).await.expect("appended");
        }
    }
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((seen.len(), distinct.len()), (6, 6));
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
        a_query_returns_events_as_appended_oldest_first,
        a_query_filters_by_user_event_and_instant,
        paging_after_the_last_seen_position_skips_and_repeats_nothing,
    ],
}

/// What SQLite's audit log adds to the contract: its rows form a hash chain that no append forks
/// or rewrites, and that still verifies once a deleted user's personal fields are erased.
mod sqlite_only {
    use std::path::Path;

    use auth_adapters::audit_chain::{ChainBreak, ChainSummary};
    use auth_domain::ports::AuditLog;
    use auth_domain::{AuditEventKind, NewAuditEvent};
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Nullable, Text};

    use super::{
        PersonalFields, a_bare_event, a_full_event, assert_only_the_deleted_users_rows_were_erased,
        two_users_audited_then_the_first_deleted,
    };
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
        #[diesel(sql_type = Nullable<Text>)]
        user_agent: Option<String>,
        #[diesel(sql_type = Text)]
        detail: String,
        #[diesel(sql_type = Text)]
        prev_hash: String,
        #[diesel(sql_type = Text)]
        hash: String,
    }

    fn connect(database_path: &Path) -> SqliteConnection {
        SqliteConnection::establish(&database_path.to_string_lossy()).expect("the test database opens")
    }

    fn rows_in_chain_order(database_path: &Path) -> Vec<AuditEventRow> {
        diesel::sql_query(
            "SELECT seq, event, user_id, session_id, ip, user_agent, detail, prev_hash, hash \
             FROM audit_events ORDER BY seq",
        )
        .load(&mut connect(database_path))
        .expect("the audit table is readable")
    }

    fn assert_stored_as_appended(row: &AuditEventRow, event: &NewAuditEvent) {
        assert_eq!(row.event, event.kind.as_str());
        assert_eq!(row.user_id, event.user_id.map(|id| id.to_string()));
        assert_eq!(row.session_id, event.session_id.map(|id| id.to_string()));
        assert_eq!(row.ip, event.ip);
        assert_eq!(row.user_agent, event.user_agent);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn deleting_a_user_erases_its_rows_ip_and_user_agent_and_the_chain_still_verifies() {
        let fixture = backends::sqlite().await;

        let erasure = two_users_audited_then_the_first_deleted(&fixture.users, &fixture.audit_log).await;

        let verified = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(verified, Ok(ChainSummary { rows: erasure.rows, erased: erasure.deleted_users_rows }));
        let rows: Vec<PersonalFields> = rows_in_chain_order(&fixture.database_path)
            .into_iter()
            .map(|row| PersonalFields { user_id: row.user_id, ip: row.ip, user_agent: row.user_agent })
            .collect();
        assert_only_the_deleted_users_rows_were_erased(&erasure, &rows);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_ip_altered_behind_the_logs_back_breaks_the_chain_at_that_row() {
        let fixture = backends::sqlite().await;
        let log: &dyn AuditLog = &fixture.audit_log;
        for kind in [AuditEventKind::LoginSucceeded, AuditEventKind::TokenRefreshed, AuditEventKind::Logout] {
            log.append(a_full_event(kind)).await.expect("the event is appended");
        }
        let second = rows_in_chain_order(&fixture.database_path)[1].seq;
        let intact = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(intact, Ok(ChainSummary { rows: 3, erased: 0 }));

        diesel::sql_query("UPDATE audit_events SET ip = '192.0.2.66' WHERE seq = ?")
            .bind::<BigInt, _>(second)
            .execute(&mut connect(&fixture.database_path))
            .expect("the row is altered");

        let verified = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(verified, Err(ChainBreak::PersonalFieldAltered { seq: second, field: "ip" }));
    }
}

/// What PostgreSQL's audit log adds to the contract: concurrent appends from many connections
/// queue on the chain lock instead of forking the chain, and the chain still verifies once a
/// deleted user's personal fields are erased.
mod postgres_only {
    use auth_adapters::audit_chain::{ChainBreak, ChainSummary};
    use auth_domain::AuditEventKind;
    use auth_domain::ports::AuditLog;

    use super::{
        PersonalFields, a_full_event, assert_only_the_deleted_users_rows_were_erased,
        two_users_audited_then_the_first_deleted,
    };
    use crate::backends;
    use crate::support::RACE_ROUNDS;

    /// A plain client on the fixture's schema, so that the test shares no code with the adapter.
    async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("the test database answers");
        tokio::spawn(connection);
        client
    }

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
        let rows = connect(&fixture.url)
            .await
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn deleting_a_user_erases_its_rows_ip_and_user_agent_and_the_chain_still_verifies() {
        let Some(fixture) = backends::postgres().await else { return };

        let erasure = two_users_audited_then_the_first_deleted(&fixture.users, &fixture.audit_log).await;

        let verified = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(verified, Ok(ChainSummary { rows: erasure.rows, erased: erasure.deleted_users_rows }));
        let rows: Vec<PersonalFields> = connect(&fixture.url)
            .await
            .query("SELECT user_id::text, ip, user_agent FROM audit_events ORDER BY seq", &[])
            .await
            .expect("the audit table is readable")
            .iter()
            .map(|row| PersonalFields { user_id: row.get(0), ip: row.get(1), user_agent: row.get(2) })
            .collect();
        assert_only_the_deleted_users_rows_were_erased(&erasure, &rows);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_ip_altered_behind_the_logs_back_breaks_the_chain_at_that_row() {
        let Some(fixture) = backends::postgres().await else { return };
        let log: &dyn AuditLog = &fixture.audit_log;
        for kind in [AuditEventKind::LoginSucceeded, AuditEventKind::TokenRefreshed, AuditEventKind::Logout] {
            log.append(a_full_event(kind)).await.expect("the event is appended");
        }
        let intact = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(intact, Ok(ChainSummary { rows: 3, erased: 0 }));
        let client = connect(&fixture.url).await;
        let second: i64 = client
            .query_one("SELECT seq FROM audit_events ORDER BY seq OFFSET 1 LIMIT 1", &[])
            .await
            .expect("the audit table is readable")
            .get(0);

        client
            .execute("UPDATE audit_events SET ip = '192.0.2.66' WHERE seq = $1", &[&second])
            .await
            .expect("the row is altered");

        let verified = fixture.audit_log.verify_chain().await.expect("the audit table is readable");
        assert_eq!(verified, Err(ChainBreak::PersonalFieldAltered { seq: second, field: "ip" }));
    }
}
