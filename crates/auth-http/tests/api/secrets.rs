//! Secrets stay secret: no password or token reaches a log line or a database column in the clear,
//! and the audit log records every step of an account's life with where it came from.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use diesel::sql_types::{Binary, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use reqwest::{Response, StatusCode};
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::helpers::{Tokens, assert_problem, spawn_app};

/// Everything the process logged since the capture was installed, as JSON lines.
static CAPTURED_LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// A `MakeWriter` target appending to the shared buffer.
#[derive(Clone)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, a global subscriber that records every event and every span
/// (with its fields, when it opens and closes) at TRACE level as JSON, `log` records included.
/// Other tests of the binary log into it too once it is installed; that is harmless, since the test
/// below searches for secrets only it knows.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    CAPTURED_LOGS
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = SharedBuffer(buffer.clone());
            tracing_subscriber::fmt()
                .json()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
                .with_writer(move || writer.clone())
                .try_init()
                .expect("no other global subscriber is installed in this test binary");
            buffer
        })
        .clone()
}

fn request_id(response: &Response) -> String {
    response.headers()["x-request-id"].to_str().expect("an ASCII request id").to_owned()
}

/// One value of one column of one row, as its bytes (text or blob alike).
#[derive(QueryableByName)]
struct StoredValue {
    #[diesel(sql_type = Nullable<Binary>)]
    value: Option<Vec<u8>>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName, Debug)]
struct AuditRow {
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Nullable<Text>)]
    ip: Option<String>,
}

fn open_database(path: &Path) -> SqliteConnection {
    let mut connection = SqliteConnection::establish(&path.display().to_string()).expect("the test database opens");
    diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut connection).expect("a busy timeout");
    connection
}

/// Every value stored in every column of every table, labelled `table.column`.
fn every_stored_value(connection: &mut SqliteConnection) -> Vec<(String, Vec<u8>)> {
    let tables: Vec<Name> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'").load(connection).expect("tables");
    let mut values = Vec::new();
    for table in tables {
        let columns: Vec<Name> = diesel::sql_query("SELECT name FROM pragma_table_info(?)")
            .bind::<Text, _>(&table.name)
            .load(connection)
            .expect("columns");
        for column in columns {
            // The names come from the database itself; quoting keeps odd ones working.
            let query = format!("SELECT CAST(\"{}\" AS BLOB) AS value FROM \"{}\"", column.name, table.name);
            let rows: Vec<StoredValue> = diesel::sql_query(query).load(connection).expect("a column's values");
            let label = format!("{}.{}", table.name, column.name);
            values.extend(rows.into_iter().filter_map(|row| row.value).map(|value| (label.clone(), value)));
        }
    }
    values
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// Guards: passwords (right and wrong), access tokens, refresh tokens (the first and its
/// successor) and the email-verification token appear in no log line, at any level, in no span
/// field, and in no database column (tokens are stored only as hashes, passwords only as Argon2
/// hashes, the audit detail carries no secret); and the audit log records each step with the
/// client's IP. Fails if a handler or an `#[instrument]` logs a request body or a secret, if a
/// token is stored in the clear, or if an audit event or its IP goes missing.
#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_database_and_every_step_is_audited() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let email = "keeper@example.com";
    // Unique to this test, so that no other test's logging can be mistaken for a leak here.
    let password = format!("quartz-lantern-{}", uuid::Uuid::new_v4().simple());
    let wrong_password = format!("quartz-lantern-{}", uuid::Uuid::new_v4().simple());
    let mut request_ids = Vec::new();

    let registered = app.register(email, &password).await;
    request_ids.push(request_id(&registered));
    assert_eq!(registered.status(), StatusCode::ACCEPTED);

    let verification_token = app.verification_token(email).await;
    let verified = app.post_json("/v1/auth/verify-email", &json!({ "token": verification_token })).await;
    request_ids.push(request_id(&verified));
    assert_eq!(verified.status(), StatusCode::OK);

    let login = app.login(email, &password).await;
    request_ids.push(request_id(&login));
    assert_eq!(login.status(), StatusCode::OK);
    let first = Tokens::from_body(login.json().await.expect("a token pair"));

    let refreshed = app.refresh(&first.refresh).await;
    request_ids.push(request_id(&refreshed));
    assert_eq!(refreshed.status(), StatusCode::OK);
    let second = Tokens::from_body(refreshed.json().await.expect("a token pair"));
    assert_ne!(second.refresh, first.refresh, "the refresh token rotates");

    let logout = app.post_authorized("/v1/auth/logout", &second.access).await;
    request_ids.push(request_id(&logout));
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    let failed = app.login(email, &wrong_password).await;
    request_ids.push(request_id(&failed));
    assert_problem(failed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let secrets = [
        ("the password", password.as_str()),
        ("the wrong password", wrong_password.as_str()),
        ("the email verification token", verification_token.as_str()),
        ("the first access token", first.access.as_str()),
        ("the first refresh token", first.refresh.as_str()),
        ("the second access token", second.access.as_str()),
        ("the second refresh token", second.refresh.as_str()),
    ];

    // The logs. The request ids show that this application's lines were captured, so the search
    // below looks at something.
    let logged = String::from_utf8_lossy(&logs.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    for request_id in &request_ids {
        assert!(logged.contains(request_id.as_str()), "the request {request_id} was logged");
    }
    for line in logged.lines() {
        for (name, secret) in secrets {
            assert!(!line.contains(secret), "{name} is in a log line: {line}");
        }
    }

    // The database, every column of every table. The email shows that the scan reads real rows.
    let mut connection = open_database(&app.data.path().join("auth.db"));
    let stored = every_stored_value(&mut connection);
    assert!(stored.iter().any(|(column, value)| column == "users.email" && contains(value, email)));
    for (column, value) in &stored {
        for (name, secret) in secrets {
            assert!(!contains(value, secret), "{name} is stored in the clear in {column}");
        }
    }

    // The audit trail: every step, in order, from the client's address.
    let rows: Vec<AuditRow> =
        diesel::sql_query("SELECT event, ip FROM audit_events ORDER BY seq").load(&mut connection).expect("audit rows");
    let expected =
        ["user_registered", "email_verified", "login_succeeded", "token_refreshed", "logout", "login_failed"];
    let steps: Vec<&AuditRow> = rows.iter().filter(|row| expected.contains(&row.event.as_str())).collect();
    assert_eq!(steps.iter().map(|row| row.event.as_str()).collect::<Vec<_>>(), expected, "audit rows: {rows:?}");
    for row in steps {
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"), "the client IP of {}", row.event);
    }
}
