//! Mail through a real SMTP server (mailin-embedded, in this process): every flow's link works
//! from the delivered mail, and the mail queue survives an SMTP outage and shared replicas.

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, link_token, spawn_app_with};
use crate::infra::{fresh_postgres_schema, server_url};

/// A mail as the server received it.
#[derive(Debug, Clone)]
struct Received {
    recipients: Vec<String>,
    message: String,
}

/// Collects every accepted mail; refuses, for good, any recipient whose address has "bounce".
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
    recipients: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("bounce") { NO_MAILBOX } else { OK }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.recipients = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = String::from_utf8_lossy(&self.data).into_owned();
        let recipients = std::mem::take(&mut self.recipients);
        self.received.lock().expect("not poisoned").push(Received { recipients, message });
        OK
    }
}

/// An SMTP server on a local port; it runs until the test process ends.
struct SmtpServer {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    /// Starts a server on a free port.
    fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("a free port"))
    }

    /// Starts a server that accepts on `listener`.
    fn start_on(listener: TcpListener) -> Self {
        let port = listener.local_addr().expect("bound").port();
        let collector = Collector::default();
        let received = collector.received.clone();
        let mut server = Server::new(collector);
        server.with_name("smtp.test").with_ssl(SslConfig::None).expect("no TLS").with_tcp_listener(listener);
        std::thread::spawn(move || {
            // The server serves until the test process ends; an error here shows as mail not arriving.
            let _ = server.serve();
        });
        Self { port, received }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// The newest mail to `recipient` whose message contains `marker`, waiting up to `within`.
    async fn wait_for(&self, recipient: &str, marker: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .received()
                .into_iter()
                .rev()
                .find(|mail| mail.recipients.iter().any(|to| to == recipient) && mail.message.contains(marker));
            if let Some(mail) = found {
                return mail.message;
            }
            assert!(Instant::now() < deadline, "no mail to {recipient} containing {marker:?} within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Waits up to `within` for `condition`, polling.
async fn wait_until(what: &str, within: Duration, condition: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn smtp_settings<'a>(url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![("AUTH_SMTP_URL", url), ("AUTH_MAIL_FROM", "no-reply@auth.test")];
    settings.extend_from_slice(extra);
    settings
}

const WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_flow_completes_through_the_links_of_mails_delivered_over_smtp() {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    // Four mails to one address within the hour: more than the per-address limit allows.
    let app = spawn_app_with(&smtp_settings(&url, &[("AUTH_RATE_EMAIL_SEND", "off")])).await;

    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
    let first = smtp.wait_for("ada@example.com", "/verify-email?token=", WITHIN).await;
    let first_token = link_token(&first, "/verify-email?token=");
    let resent = app.post_json("/v1/auth/verify-email/resend", &json!({ "email": "ada@example.com" })).await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    wait_until("the resent link's arrival", WITHIN, async || smtp.received().len() >= 2).await;
    let mail = smtp.wait_for("ada@example.com", "/verify-email?token=", WITHIN).await;
    assert_ne!(link_token(&mail, "/verify-email?token="), first_token, "the resend carries a new link");
    let voided = app.post_json("/v1/auth/verify-email", &json!({ "token": first_token })).await;
    assert_problem(voided, StatusCode::BAD_REQUEST, "invalid_token").await;
    assert!(mail.contains("From: no-reply@auth.test"));
    assert!(mail.contains("multipart/alternative") && mail.contains("text/plain") && mail.contains("text/html"));
    assert!(mail.contains("Message-ID: <") && mail.contains("@auth.test>"));
    assert!(mail.contains("http://auth.test/verify-email?token="), "the link uses AUTH_PUBLIC_URL");
    let token = link_token(&mail, "/verify-email?token=");
    let verified = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let again = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_token").await;

    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
    smtp.wait_for("ada@example.com", "Subject: New sign-in to your account", WITHIN).await;

    let forgot = app.post_json("/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for("ada@example.com", "/reset-password?token=", WITHIN).await;
    let token = link_token(&mail, "/reset-password?token=");
    let new_password = "amber-heron-glides-past-noon";
    let reset =
        app.post_json("/v1/auth/password/reset", &json!({ "token": token, "new_password": new_password })).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let again =
        app.post_json("/v1/auth/password/reset", &json!({ "token": token, "new_password": new_password })).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_token").await;
    smtp.wait_for("ada@example.com", "Subject: Your password was changed", WITHIN).await;
    let login = app.login("ada@example.com", new_password).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens = crate::helpers::Tokens::from_body(login.json().await.expect("JSON"));

    let notices = || smtp.received().iter().filter(|mail| mail.message.contains("Your password was changed")).count();
    let notices_before = notices();
    let changed = app
        .client
        .post(app.url("/v1/users/me/password"))
        .bearer_auth(&tokens.access)
        .json(&json!({ "current_password": new_password, "new_password": "quiet-lantern-over-the-bay" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    wait_until("the change's notice", WITHIN, async || notices() > notices_before).await;

    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
    smtp.wait_for("ada@example.com", "Subject: You already have an account", WITHIN).await;
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = spawn_app_with(&smtp_settings(&url, &[("AUTH_VERIFY_EMAIL_TTL", "1s")])).await;
    app.register("grace@example.com", PASSWORD).await;
    let mail = smtp.wait_for("grace@example.com", "/verify-email?token=", WITHIN).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let token = link_token(&mail, "/verify-email?token=");
    let late = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn a_registration_succeeds_while_smtp_is_down_and_its_mail_arrives_once_the_server_is_back() {
    // A port with nothing behind it: connections are refused, as when the server is stopped.
    let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&smtp_settings(&url, &[("AUTH_MAIL_RETRY", "100ms")])).await;

    let registered = app.register("ada@example.com", PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::ACCEPTED, "the outage is not the caller's problem");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = app.mail_queue().stats().await.expect("the queue answers");
    assert_eq!((stats.pending, stats.failed), (1, 0), "the mail waits in the queue");

    let smtp = SmtpServer::start_on(TcpListener::bind(("127.0.0.1", port)).expect("the port is free again"));
    let mail = smtp.wait_for("ada@example.com", "/verify-email?token=", Duration::from_secs(20)).await;
    let verified =
        app.post_json("/v1/auth/verify-email", &json!({ "token": link_token(&mail, "/verify-email?token=") })).await;
    assert_eq!(verified.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1, "delivered once");
    assert_eq!(app.mail_queue().stats().await.expect("the queue answers").pending, 0);
}

#[tokio::test]
async fn a_mailbox_refused_for_good_is_marked_failed_and_not_retried() {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = spawn_app_with(&smtp_settings(&url, &[("AUTH_MAIL_RETRY", "100ms")])).await;
    assert_eq!(app.register("bounce@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
    let queue = app.mail_queue();
    wait_until("marking the refused mail failed", WITHIN, async || {
        queue.stats().await.expect("the queue answers").failed > 0
    })
    .await;
    let failed = queue.list_failed(10).await.expect("the queue answers");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].template, "verify_email");
    assert_eq!(failed[0].attempts, 1, "a permanent refusal is not retried");
    assert!(failed[0].last_error.contains("550"), "{}", failed[0].last_error);
    assert!(smtp.received().is_empty());
}

/// Two replicas on one PostgreSQL database, each with its delivery worker polling fast: every
/// queued mail reaches the SMTP server exactly once.
#[tokio::test]
async fn two_workers_on_one_postgres_database_deliver_each_mail_exactly_once() {
    let Some(postgres) = server_url("PostgreSQL mail-queue tests", "AUTH_TEST_DATABASE_URL") else { return };
    let database_url = fresh_postgres_schema(&postgres).await;
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let settings = smtp_settings(
        &url,
        &[("AUTH_DATABASE_URL", &database_url), ("AUTH_MAIL_POLL_INTERVAL", "5ms"), ("AUTH_RATE_REGISTER_IP", "off")],
    );
    let first = spawn_app_with(&settings).await;
    let second = spawn_app_with(&settings).await;

    let count = 24;
    let registrations = (0..count).map(|n| {
        let app: &TestApp = if n % 2 == 0 { &first } else { &second };
        async move { app.register(&format!("user{n}@example.com"), PASSWORD).await.status() }
    });
    for status in futures_util::future::join_all(registrations).await {
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    wait_until("the arrival of every mail", Duration::from_secs(20), async || smtp.received().len() >= count).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    let mut message_ids: Vec<&str> = received
        .iter()
        .map(|mail| mail.message.lines().find(|line| line.starts_with("Message-ID:")).expect("a Message-ID"))
        .collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    assert_eq!(received.len(), count, "no mail was sent twice");
    assert_eq!(message_ids.len(), count);
}
