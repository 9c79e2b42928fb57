//! The shipped binary: configuration errors stop it before it listens; `users grant-role` works.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, spawn_app};

fn auth_http() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-http"));
    // Only what each test sets: a stray AUTH_* variable of the developer's must not leak in.
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTH_")) {
        command.env_remove(key);
    }
    command
}

#[test]
fn a_bad_setting_stops_the_binary_naming_the_variable() {
    let output =
        auth_http().env("AUTH_ACCESS_TTL", "fifteen minutes").env("AUTH_LISTEN", "127.0.0.1:0").output().expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTH_ACCESS_TTL"), "{stderr}");
}

#[tokio::test]
async fn grant_role_reaches_the_next_token_and_an_unknown_email_fails() {
    let app = spawn_app().await;
    app.signed_in_user("ada@example.com").await;
    let database = format!("sqlite://{}", app.data.path().join("auth.db").display());
    let master_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    };
    let run = |email: &str| {
        auth_http()
            .args(["users", "grant-role", email, "admin"])
            .env("AUTH_DATABASE_URL", &database)
            .env("AUTH_MASTER_KEY", &master_key)
            .env("AUTH_MAIL_OUTBOX", app.outbox.display().to_string())
            .env("AUTH_LOG_FORMAT", "json")
            .output()
            .expect("runs")
    };

    let granted = run("ada@example.com");
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    assert!(String::from_utf8_lossy(&granted.stdout).contains("admin"));
    let unknown = run("nobody@example.com");
    assert!(!unknown.status.success());

    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens = Tokens::from_body(login.json().await.expect("JSON"));
    assert_eq!(tokens.body["user"]["roles"], serde_json::json!(["admin"]));
    let gateway = app.get_authorized("/v1/auth/verify", &tokens.access).await;
    assert_eq!(gateway.headers()["x-auth-roles"], "admin");
    let me: Value = app.get_authorized("/v1/users/me", &tokens.access).await.json().await.expect("JSON");
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
}

#[test]
fn the_binary_serves_with_defaults_and_stops_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let folder = tempfile::tempdir().expect("a temporary folder");
    // No AUTH_* settings but the port: the embedded defaults, relative to the working directory.
    let mut child = auth_http()
        .current_dir(folder.path())
        .env("AUTH_LISTEN", "127.0.0.1:0")
        .env("AUTH_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let entry: Value = serde_json::from_str(&line).ok()?;
            (entry["message"] == "auth-http is listening").then(|| entry["port"].as_u64()).flatten()
        })
        .expect("the binary says where it listens");

    // A whole HTTP exchange, not just a connection (which the kernel accepts before the server
    // runs): after it, the server and its signal handling are up.
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).expect("a port"))).expect("connects");
    std::io::Write::write_all(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("writes");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(folder.path().join("data/auth.db").exists(), "the embedded database is under data/");
    assert!(folder.path().join("data/master.key").exists(), "the embedded master key is under data/");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the binary did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a graceful stop exits 0, got {status}");
}

/// Runs `auth-http audit verify` against the test app's SQLite database.
fn audit_verify(app: &crate::helpers::TestApp) -> std::process::Output {
    auth_http()
        .args(["audit", "verify"])
        .env("AUTH_DATABASE_URL", format!("sqlite://{}", app.data.path().join("auth.db").display()))
        .env("AUTH_LOG_FORMAT", "json")
        .output()
        .expect("runs")
}

fn tamper(app: &crate::helpers::TestApp, statement: &str) {
    use diesel::{Connection, RunQueryDsl};
    let mut connection = diesel::SqliteConnection::establish(&app.data.path().join("auth.db").to_string_lossy())
        .expect("the test database opens");
    let changed = diesel::sql_query(statement).execute(&mut connection).expect("the statement runs");
    assert_eq!(changed, 1, "{statement} changed {changed} rows");
}

#[tokio::test]
async fn audit_verify_proves_an_intact_log_and_names_an_altered_row() {
    let app = spawn_app().await;
    app.signed_in_user("ada@example.com").await;
    let intact = audit_verify(&app);
    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stderr));
    assert!(
        String::from_utf8_lossy(&intact.stdout).contains("intact: 4 rows"),
        "{}",
        String::from_utf8_lossy(&intact.stdout)
    );

    // Someone covering their tracks rewrites what happened.
    tamper(&app, "UPDATE audit_events SET event = 'logout' WHERE seq = 2");
    let altered = audit_verify(&app);
    assert!(!altered.status.success());
    assert!(
        String::from_utf8_lossy(&altered.stderr).contains("row 2 was altered"),
        "{}",
        String::from_utf8_lossy(&altered.stderr)
    );
}

#[tokio::test]
async fn audit_verify_names_the_row_after_a_removed_one() {
    let app = spawn_app().await;
    app.signed_in_user("ada@example.com").await;
    tamper(&app, "DELETE FROM audit_events WHERE seq = 2");
    let removed = audit_verify(&app);
    assert!(!removed.status.success());
    let stderr = String::from_utf8_lossy(&removed.stderr);
    assert!(stderr.contains("row 3 does not follow"), "{stderr}");
}
