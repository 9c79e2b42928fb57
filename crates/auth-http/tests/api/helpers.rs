//! `spawn_app()` and a `TestApp` with typed request helpers.

use std::path::PathBuf;
use std::time::Duration;

use auth_http::config::{Settings, SettingsSource};
use auth_http::startup::{Application, MigrationPolicy};
use base64::Engine;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const PASSWORD: &str = "violet-otter-sings-at-dawn";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub outbox: PathBuf,
    pub data: TempDir,
    /// What the application was started with, to reach its database from the test.
    pub settings: Settings,
    /// `http://127.0.0.1:PORT` of AUTH_METRICS_LISTEN's server, when it has one.
    pub metrics_address: Option<String>,
}

/// Starts the application with test settings; `overrides` are extra AUTH_* variables.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    try_spawn_app(overrides, MigrationPolicy::Apply).await.expect("the application builds")
}

/// Starts the application with test settings and a migration policy, or says why it would not.
pub async fn try_spawn_app(overrides: &[(&str, &str)], migrations: MigrationPolicy) -> anyhow::Result<TestApp> {
    let data = tempfile::tempdir().expect("a temporary folder");
    // A shared deployment's replicas share one outbox, as they would share one mail server.
    let outbox = overrides
        .iter()
        .find(|(key, _)| *key == "AUTH_MAIL_OUTBOX")
        .map_or_else(|| data.path().join("outbox"), |(_, folder)| PathBuf::from(folder));
    let master_key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let mut variables: Vec<(String, String)> = vec![
        ("AUTH_LISTEN".into(), "127.0.0.1:0".into()),
        ("AUTH_DATABASE_URL".into(), format!("sqlite://{}", data.path().join("auth.db").display())),
        ("AUTH_MAIL_OUTBOX".into(), outbox.display().to_string()),
        ("AUTH_MASTER_KEY".into(), master_key),
        ("AUTH_PUBLIC_URL".into(), "http://auth.test".into()),
        ("AUTH_HASH_CONCURRENCY".into(), "4".into()),
        // Mail is delivered by a background worker; a short poll keeps the tests quick.
        ("AUTH_MAIL_POLL_INTERVAL".into(), "20ms".into()),
    ];
    variables.extend(overrides.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));
    let source = SettingsSource::from_variables(variables).expect("test settings source");
    let settings = Settings::load(&source).expect("valid test settings");
    let application = Application::build(settings.clone(), migrations).await?;
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics_address = application.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(application.run_until_stopped());
    let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
    Ok(TestApp { address, client, outbox, data, settings, metrics_address })
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A logged-in user: the token pair of its session.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    pub body: Value,
}

impl Tokens {
    pub fn from_body(body: Value) -> Self {
        Self {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
            session_id: body["session_id"].as_str().expect("session_id").to_owned(),
            body,
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("the request is sent")
    }

    pub async fn get_authorized(&self, path: &str, access_token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(access_token).send().await.expect("the request is sent")
    }

    pub async fn post_authorized(&self, path: &str, access_token: &str) -> Response {
        self.client.post(self.url(path)).bearer_auth(access_token).send().await.expect("the request is sent")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/auth/register", &json!({ "email": email, "password": password })).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/auth/login", &json!({ "email": email, "password": password })).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/v1/auth/refresh", &json!({ "refresh_token": refresh_token })).await
    }

    /// The mails in the outbox, oldest first.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|path| std::fs::read_to_string(path).expect("a readable mail")).collect()
    }

    /// The application's mail queue, read straight from its database.
    pub fn mail_queue(&self) -> std::sync::Arc<dyn auth_domain::ports::MailQueue> {
        let database = auth_http::startup::Database::open(&self.settings).expect("the database opens");
        database.mail_queue(&self.settings).expect("the mail queue")
    }

    /// The newest mail in the outbox that satisfies `predicate`, waiting up to 10 s for the
    /// delivery worker to write it.
    pub async fn wait_for_mail(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self.mails().into_iter().rev().find(|mail| predicate(mail)) {
                return mail;
            }
            assert!(std::time::Instant::now() < deadline, "no {what} arrived in the outbox within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The token of the newest verification link mailed to `email`, once it arrives.
    pub async fn verification_token(&self, email: &str) -> String {
        let to = format!("To: {email}");
        let mail = self
            .wait_for_mail("verification mail", |mail| mail.contains(&to) && mail.contains("/verify-email?token="))
            .await;
        link_token(&mail, "/verify-email?token=")
    }

    /// Registers, verifies and logs in a user.
    pub async fn signed_in_user(&self, email: &str) -> Tokens {
        assert_eq!(self.register(email, PASSWORD).await.status(), StatusCode::ACCEPTED);
        let token = self.verification_token(email).await;
        let verified = self.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
        assert_eq!(verified.status(), StatusCode::OK);
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        // The first sign-in is mailed to the owner; waiting for it keeps later mail counts exact.
        let to = format!("To: {email}");
        self.wait_for_mail("sign-in notice", |mail| mail.contains(&to) && mail.contains("Subject: New sign-in")).await;
        Tokens::from_body(login.json().await.expect("a token pair"))
    }
}

impl TestApp {
    /// Gives `email`'s account a role with the shipped binary's `users grant-role`, as an
    /// operator would; the role reaches the tokens of the account's next login.
    pub async fn grant_role(&self, email: &str, role: &str) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_auth-http"));
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTH_")) {
            command.env_remove(key);
        }
        command
            .args(["users", "grant-role", email, role])
            .env("AUTH_DATABASE_URL", format!("sqlite://{}", self.data.path().join("auth.db").display()))
            .env("AUTH_MASTER_KEY", base64::engine::general_purpose::STANDARD.encode([42u8; 32]))
            .env("AUTH_MAIL_OUTBOX", self.outbox.display().to_string())
            .env("AUTH_LOG_FORMAT", "json");
        let output = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
            .await
            .expect("the command finishes");
        assert!(output.status.success(), "grant-role failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Registers, verifies and logs in a user with the `admin` role.
    pub async fn signed_in_admin(&self, email: &str) -> Tokens {
        self.signed_in_user(email).await;
        self.grant_role(email, "admin").await;
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        Tokens::from_body(login.json().await.expect("a token pair"))
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        access_token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(access_token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the request is sent")
    }
}

/// The claims of a JWT, decoded without checking anything.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWS compact token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Asserts a problem document with `status` and `code`, and returns it.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status for an expected {code}");
    let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("");
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers().get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await.expect("a JSON problem document");
    assert_eq!(body["code"], code, "problem document: {body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["request_id"].as_str(), request_id.as_deref(), "the body carries the X-Request-Id");
    body
}

/// The token of the first link in `mail` that starts with `path_and_query` (e.g. `/verify-email?token=`).
pub fn link_token(mail: &str, path_and_query: &str) -> String {
    let start = mail.find(path_and_query).expect("a link") + path_and_query.len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}
