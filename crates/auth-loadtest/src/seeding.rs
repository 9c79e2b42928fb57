//! Accounts and tokens for the scenarios, made through the API as any client would.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

use crate::client::{Account, Call, Connection, Step, Tokens, Window, closed_loop, open_many};
use crate::scenarios::keep_refresh_tokens;
use crate::{CONNECTIONS, PASSWORD};

/// Registers `count` accounts and logs each in, 8 at a time (every one costs two Argon2 hashes).
pub(crate) async fn seed(address: std::net::SocketAddr, count: usize) -> anyhow::Result<Vec<Account>> {
    let run = std::process::id();
    let emails: Vec<String> = (0..count).map(|index| format!("load-{run}-{index}@example.com")).collect();
    let mut pending = emails.iter();
    let mut workers = Vec::new();
    for _ in 0..8 {
        let batch: Vec<String> = pending.by_ref().take(count.div_ceil(8)).cloned().collect();
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await?;
            let mut accounts = Vec::with_capacity(batch.len());
            for email in batch {
                let register = Call::post("/v1/auth/register", &json!({ "email": email, "password": PASSWORD }));
                let (status, body) = connection.send(&register).await?;
                if status != 202 {
                    bail!("registering answered {status}: {}", String::from_utf8_lossy(&body));
                }
                let tokens = log_in(&mut connection, &email).await?;
                accounts.push(Account { email, tokens });
            }
            Ok::<_, anyhow::Error>(accounts)
        }));
    }
    let mut accounts = Vec::with_capacity(count);
    for worker in workers {
        accounts.extend(worker.await??);
    }
    Ok(accounts)
}

async fn log_in(connection: &mut Connection, email: &str) -> anyhow::Result<Tokens> {
    let (status, body) =
        connection.send(&Call::post("/v1/auth/login", &json!({ "email": email, "password": PASSWORD }))).await?;
    if status != 200 {
        bail!("logging in answered {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).context("a login answer without tokens")
}

/// A new session for each account: their tokens, in order.
pub(crate) async fn log_in_all(address: std::net::SocketAddr, accounts: &[Account]) -> anyhow::Result<Vec<Tokens>> {
    let mut workers = Vec::new();
    for batch in accounts.chunks(accounts.len().div_ceil(8).max(1)) {
        let emails: Vec<String> = batch.iter().map(|account| account.email.clone()).collect();
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(address).await?;
            let mut tokens = Vec::with_capacity(emails.len());
            for email in emails {
                tokens.push(log_in(&mut connection, &email).await?);
            }
            Ok::<_, anyhow::Error>(tokens)
        }));
    }
    let mut tokens = Vec::with_capacity(accounts.len());
    for worker in workers {
        tokens.extend(worker.await??);
    }
    Ok(tokens)
}

/// Up to `target` distinct live access tokens: every account's, then more from refreshing each
/// account's session (every refresh signs a new one) until `target` or `cap` is reached.
pub(crate) async fn mint_tokens(
    address: std::net::SocketAddr,
    accounts: &mut [Account],
    target: usize,
    cap: Duration,
) -> anyhow::Result<Vec<String>> {
    let mut tokens: Vec<String> = accounts.iter().map(|account| account.tokens.access_token.clone()).collect();
    let sessions = accounts.len().min(CONNECTIONS);
    let steps: Vec<Step> = accounts[..sessions]
        .iter()
        .map(|account| Step::Refresh { refresh_token: account.tokens.refresh_token.clone(), minted: Some(Vec::new()) })
        .collect();
    let connections = open_many(address, sessions).await?;
    // Refresh runs at a thousand or more a second here: a millisecond per missing token is
    // about enough, within the cap.
    let needed = u64::try_from(target.saturating_sub(tokens.len())).unwrap_or(u64::MAX);
    let window = Window::after(Duration::ZERO, Duration::from_millis(needed).min(cap));
    let (_, steps, _) = closed_loop(connections, steps, window).await;
    keep_refresh_tokens(accounts, &steps);
    for step in steps {
        if let Step::Refresh { minted: Some(minted), .. } = step {
            tokens.extend(minted);
        }
    }
    tokens.truncate(target);
    Ok(tokens)
}
