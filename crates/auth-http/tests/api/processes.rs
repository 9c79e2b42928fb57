//! Three `auth-http` processes on three ports, one PostgreSQL database and one Redis: the
//! deployment the production mode promises, end to end through the shipped binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem};
use crate::infra::{fresh_postgres_schema, fresh_redis_prefix, server_url};

/// A running `auth-http serve`, killed when dropped.
pub struct Replica {
    child: Child,
    pub address: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn auth_http(environment: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-http"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTH_")) {
        command.env_remove(key);
    }
    command.envs(environment.iter().map(|(key, value)| (key, value)));
    command
}

/// Starts `auth-http serve` and waits for the line that says which port it listens on.
pub fn start_replica(environment: &[(String, String)]) -> Replica {
    let mut child = auth_http(environment).stderr(Stdio::piped()).spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading for the life of the process, so that its log never fills the pipe.
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sent {
                continue;
            }
            let entry = serde_json::from_str::<Value>(&line).unwrap_or_default();
            if entry["message"] == "auth-http is listening" {
                let _ = sender.send(entry["port"].as_u64());
                sent = true;
            }
        }
    });
    let port =
        receiver.recv_timeout(Duration::from_secs(60)).ok().flatten().expect("the replica says where it listens");
    Replica { child, address: format!("http://127.0.0.1:{port}") }
}

async fn post(client: &Client, url: String, body: &Value) -> reqwest::Response {
    client.post(url).json(body).send().await.expect("sent")
}

/// The token of the verification mail, once a replica's delivery worker has written it.
async fn verification_token(outbox: &Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mail = std::fs::read_dir(outbox)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "eml"))
            .map(|entry| std::fs::read_to_string(entry.path()).expect("a readable mail"))
            .find(|mail| mail.contains("/verify-email?token="));
        if let Some(mail) = mail {
            return crate::helpers::link_token(&mail, "/verify-email?token=");
        }
        assert!(std::time::Instant::now() < deadline, "no verification mail within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replicas of `auth-http serve` on one fresh PostgreSQL schema and Redis prefix, migrated by
/// `auth-http migrate`, with `ada@example.com` registered on the last and verified on the first.
struct Deployment {
    environment: Vec<(String, String)>,
    replicas: Vec<Replica>,
    client: Client,
    _folder: tempfile::TempDir,
}

/// `None` (with a `SKIPPED:` line) when PostgreSQL or Redis is not configured for the tests.
async fn deployment(count: usize, settings: &[(&str, &str)]) -> Option<Deployment> {
    let postgres = server_url("PostgreSQL multi-process tests", "AUTH_TEST_DATABASE_URL")?;
    let redis = server_url("Redis multi-process tests", "AUTH_TEST_REDIS_URL")?;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let outbox = folder.path().join("outbox");
    let master_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    let mut environment: Vec<(String, String)> = vec![
        ("AUTH_LISTEN".into(), "127.0.0.1:0".into()),
        ("AUTH_DATABASE_URL".into(), fresh_postgres_schema(&postgres).await),
        ("AUTH_REDIS_URL".into(), redis),
        ("AUTH_REDIS_PREFIX".into(), fresh_redis_prefix()),
        ("AUTH_MASTER_KEY".into(), master_key),
        ("AUTH_MAIL_OUTBOX".into(), outbox.display().to_string()),
        ("AUTH_LOG_FORMAT".into(), "json".into()),
    ];
    environment.extend(settings.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));

    let migrated = auth_http(&environment).arg("migrate").output().expect("auth-http migrate runs");
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("up to date"));

    let replicas: Vec<Replica> = (0..count).map(|_| start_replica(&environment)).collect();
    let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
    let (first, last) = (&replicas[0].address, &replicas[count - 1].address);
    let registered =
        post(&client, format!("{last}/v1/auth/register"), &json!({ "email": "ada@example.com", "password": PASSWORD }))
            .await;
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    let verified =
        post(&client, format!("{first}/v1/auth/verify-email"), &json!({ "token": verification_token(&outbox).await }))
            .await;
    assert_eq!(verified.status(), StatusCode::OK);
    Some(Deployment { environment, replicas, client, _folder: folder })
}

#[tokio::test]
async fn three_processes_share_sessions_revocations_and_rate_limits() {
    let Some(deployment) = deployment(3, &[("AUTH_RATE_LOGIN_EMAIL", "4/15m")]).await else { return };
    let (client, replicas) = (deployment.client.clone(), &deployment.replicas);
    let [a, b, c] = [&replicas[0].address, &replicas[1].address, &replicas[2].address];

    // Log in on A, refresh on B, log out on C: the token is refused on A and B at once.
    let login =
        post(&client, format!("{a}/v1/auth/login"), &json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let first = Tokens::from_body(login.json().await.expect("JSON"));
    let refreshed = post(&client, format!("{b}/v1/auth/refresh"), &json!({ "refresh_token": first.refresh })).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let second = Tokens::from_body(refreshed.json().await.expect("JSON"));
    let logout = client.post(format!("{c}/v1/auth/logout")).bearer_auth(&second.access).send().await.expect("sent");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for replica in [a, b] {
        let me = client.get(format!("{replica}/v1/users/me")).bearer_auth(&second.access).send().await.expect("sent");
        assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    // One refresh token presented to all three at the same moment: one successor, session intact.
    let login =
        post(&client, format!("{b}/v1/auth/login"), &json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    let fresh = Tokens::from_body(login.json().await.expect("JSON"));
    let body = json!({ "refresh_token": fresh.refresh });
    let (from_a, from_b, from_c) = tokio::join!(
        post(&client, format!("{a}/v1/auth/refresh"), &body),
        post(&client, format!("{b}/v1/auth/refresh"), &body),
        post(&client, format!("{c}/v1/auth/refresh"), &body),
    );
    let mut successors = Vec::new();
    for response in [from_a, from_b, from_c] {
        assert_eq!(response.status(), StatusCode::OK);
        successors.push(Tokens::from_body(response.json().await.expect("JSON")));
    }
    assert!(successors.iter().all(|tokens| tokens.refresh == successors[0].refresh), "exactly one successor");
    let onward =
        post(&client, format!("{c}/v1/auth/refresh"), &json!({ "refresh_token": successors[0].refresh })).await;
    assert_eq!(onward.status(), StatusCode::OK, "the session was not revoked");

    // Failed logins count across replicas: the fifth is throttled wherever it lands.
    for replica in [a, b, c, a] {
        let failed = post(
            &client,
            format!("{replica}/v1/auth/login"),
            &json!({ "email": "ada@example.com", "password": "wrong-password-guess" }),
        )
        .await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled =
        post(&client, format!("{b}/v1/auth/login"), &json!({ "email": "ada@example.com", "password": PASSWORD })).await;
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// The `kid`s a replica publishes.
async fn published_kids(client: &Client, replica: &str) -> Vec<String> {
    let jwks: Value =
        client.get(format!("{replica}/.well-known/jwks.json")).send().await.expect("sent").json().await.expect("JSON");
    jwks["keys"].as_array().expect("keys").iter().map(|key| key["kid"].as_str().expect("kid").to_owned()).collect()
}

async fn signed_in(client: &Client, replica: &str) -> Tokens {
    let login =
        post(client, format!("{replica}/v1/auth/login"), &json!({ "email": "ada@example.com", "password": PASSWORD }))
            .await;
    assert_eq!(login.status(), StatusCode::OK);
    Tokens::from_body(login.json().await.expect("JSON"))
}

/// The JOSE header of a token, decoded without checking anything.
fn header_of(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().expect("a header");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).expect("base64url"))
        .expect("JSON")
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("kid").to_owned()
}

/// Polls until `condition` holds on every replica, for at most 10 s.
async fn on_every_replica<F, Fut>(replicas: &[&String], what: &str, condition: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for replica in replicas {
        while !condition((*replica).clone()).await {
            assert!(std::time::Instant::now() < deadline, "{replica}: not within 10 s: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn running_replicas_pick_up_a_rotation_to_another_algorithm_and_a_retirement_without_restart() {
    let Some(deployment) = deployment(2, &[]).await else { return };
    let (environment, replicas) = (&deployment.environment, &deployment.replicas);
    let [a, b] = [&replicas[0].address, &replicas[1].address];
    let client = deployment.client.clone();
    let before = signed_in(&client, a).await;
    let first_kid = kid_of(&before.access);
    assert_eq!(
        published_kids(&client, b).await,
        std::slice::from_ref(&first_kid),
        "both replicas sign with one first key"
    );

    // An operator switches to ES256 by rotating, from a process of its own.
    let rotated = auth_http(environment)
        .env("AUTH_SIGNING_ALG", "ES256")
        .args(["keys", "rotate", "--activate-after", "3s"])
        .output()
        .expect("auth-http keys rotate runs");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let next_kid = String::from_utf8_lossy(&rotated.stdout).split_whitespace().next().expect("a kid").to_owned();
    on_every_replica(&[a, b], "the next key is published", |replica| {
        let (client, next_kid) = (client.clone(), next_kid.clone());
        async move { published_kids(&client, &replica).await.contains(&next_kid) }
    })
    .await;
    // While both keys are published, discovery names both algorithms, for verifiers that pin
    // algorithms from it.
    for replica in [a, b] {
        let discovery: Value = client
            .get(format!("{replica}/.well-known/openid-configuration"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(discovery["access_token_signing_alg_values_supported"], json!(["EdDSA", "ES256"]));
    }
    on_every_replica(&[a, b], "the next key signs", |replica| {
        let (client, next_kid) = (client.clone(), next_kid.clone());
        async move { kid_of(&signed_in(&client, &replica).await.access) == next_kid }
    })
    .await;
    let after = signed_in(&client, b).await;
    assert_eq!(header_of(&after.access)["alg"], "ES256");
    for replica in [a, b] {
        for tokens in [&before, &after] {
            let me = client.get(format!("{replica}/v1/users/me")).bearer_auth(&tokens.access).send().await;
            assert_eq!(me.expect("sent").status(), StatusCode::OK, "{replica}: both keys verify");
        }
    }

    // Retiring the old key reaches both replicas without a restart.
    let retired = auth_http(environment).args(["keys", "retire", &first_kid]).output().expect("runs");
    assert!(retired.status.success(), "{}", String::from_utf8_lossy(&retired.stderr));
    on_every_replica(&[a, b], "the retired key is refused", |replica| {
        let (client, token) = (client.clone(), before.access.clone());
        async move {
            let me = client.get(format!("{replica}/v1/users/me")).bearer_auth(token).send().await.expect("sent");
            me.status() == StatusCode::UNAUTHORIZED
        }
    })
    .await;
    for replica in [a, b] {
        assert_eq!(published_kids(&client, replica).await, std::slice::from_ref(&next_kid));
        let me = client.get(format!("{replica}/v1/users/me")).bearer_auth(&after.access).send().await.expect("sent");
        assert_eq!(me.status(), StatusCode::OK);
    }
}
