//! The load generator: one hyper HTTP/1.1 connection per virtual user, driven closed-loop (each
//! sends its next request as soon as the previous answer arrives) or open-loop (each sends at fixed
//! instants whatever happened before, latency counted from the instant it *should* have sent, so
//! that a stalled server cannot hide its queue: no coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One keep-alive connection to a server.
pub struct Connection {
    address: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects and completes the HTTP/1.1 handshake (nothing is sent yet).
    pub async fn open(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server closes it; either is
            // seen by the next request on it.
            let _ = connection.await;
        });
        Ok(Self { address, sender })
    }

    /// Sends one request and reads the whole answer: its status and body.
    pub async fn send(&mut self, request: &Call) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request.build()).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// A new connection in place of a broken one.
    async fn reopen(&mut self) -> anyhow::Result<()> {
        *self = Self::open(self.address).await?;
        Ok(())
    }
}

/// One HTTP request, ready to be sent again and again.
#[derive(Debug, Clone)]
pub struct Call {
    method: Method,
    path: &'static str,
    bearer: Option<String>,
    json: Option<Bytes>,
}

impl Call {
    pub fn get(path: &'static str, bearer: &str) -> Self {
        Self { method: Method::GET, path, bearer: Some(format!("Bearer {bearer}")), json: None }
    }

    pub fn get_anonymous(path: &'static str) -> Self {
        Self { method: Method::GET, path, bearer: None, json: None }
    }

    pub fn post(path: &'static str, json: &serde_json::Value) -> Self {
        Self { method: Method::POST, path, bearer: None, json: Some(Bytes::from(json.to_string())) }
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::builder().method(self.method.clone()).uri(self.path).header(HOST, "127.0.0.1");
        if let Some(bearer) = &self.bearer {
            builder = builder.header(AUTHORIZATION, bearer.as_str());
        }
        let body = match &self.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                json.clone()
            }
            None => Bytes::new(),
        };
        builder.body(Full::new(body)).unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
    }
}

/// The parts of a token pair the load generator keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// A seeded account and its current tokens.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub tokens: Tokens,
}

/// What one virtual user does at each step.
#[derive(Debug, Clone)]
pub enum Step {
    /// The same request every time (an authenticated GET, a login).
    Fixed { operation: &'static str, call: Call },
    /// POST /v1/auth/refresh with the current refresh token, keeping the successor; with
    /// `minted`, every new access token is kept too.
    Refresh { refresh_token: String, minted: Option<Vec<String>> },
}

impl Step {
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Fixed { operation, .. } => operation,
            Self::Refresh { .. } => "refresh",
        }
    }

    /// Runs the step once on `connection`; `Ok(status)` whatever the status, `Err` when the
    /// connection failed (it is reopened for the next step).
    async fn run(&mut self, connection: &mut Connection) -> anyhow::Result<u16> {
        match self {
            Self::Fixed { call, .. } => Ok(connection.send(call).await?.0),
            Self::Refresh { refresh_token, minted } => {
                let call =
                    Call::post("/v1/auth/refresh", &serde_json::json!({ "refresh_token": refresh_token.as_str() }));
                let (status, body) = connection.send(&call).await?;
                if status == 200 {
                    let tokens: Tokens = serde_json::from_slice(&body).context("a refresh answer without tokens")?;
                    *refresh_token = tokens.refresh_token;
                    if let Some(minted) = minted {
                        minted.push(tokens.access_token);
                    }
                }
                Ok(status)
            }
        }
    }
}

/// What a run of one operation measured.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Latency of every request sent within the measured window, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Answers by status; transport failures under 0.
    pub statuses: BTreeMap<u16, u64>,
}

impl Outcome {
    fn record(&mut self, latency: Duration, status: u16) {
        self.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn merge(&mut self, other: Self) {
        self.latencies_us.extend(other.latencies_us);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Requests answered with anything but 2xx, and transport failures.
    pub fn errors(&self) -> u64 {
        self.statuses.iter().filter(|(status, _)| !(200..300).contains(*status)).map(|(_, count)| count).sum()
    }

    /// The latency at quantile `q` (0 to 1), in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let last = self.latencies_us.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[index.min(last)]) / 1000.0
    }
}

/// Opens `count` connections to `address`, at most 256 handshakes at a time (the listen backlog
/// is finite), retrying each a few times.
pub async fn open_many(address: SocketAddr, count: usize) -> anyhow::Result<Vec<Connection>> {
    let gate = Arc::new(Semaphore::new(256));
    let mut handles = Vec::with_capacity(count);
    for _ in 0..count {
        let gate = gate.clone();
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut attempt = 0;
            loop {
                match Connection::open(address).await {
                    Ok(connection) => return Ok(connection),
                    Err(error) if attempt >= 5 => return Err(error),
                    Err(_) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                }
            }
        }));
    }
    let mut connections = Vec::with_capacity(count);
    for handle in handles {
        connections.push(handle.await??);
    }
    Ok(connections)
}

/// The measured window of a run: requests sent before `start` warm up, none is sent at or after
/// `end`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn after(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self { start, end: start + duration }
    }

    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// Each connection runs its step back to back until the window ends. Returns the outcome of each
/// operation, and the steps (refresh tokens moved on) for later runs.
pub async fn closed_loop(
    connections: Vec<Connection>,
    steps: Vec<Step>,
    window: Window,
) -> (BTreeMap<&'static str, Outcome>, Vec<Step>, Vec<Connection>) {
    let handles: Vec<_> = connections
        .into_iter()
        .zip(steps)
        .map(|(mut connection, mut step)| {
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                loop {
                    let sent = Instant::now();
                    if sent >= window.end {
                        break;
                    }
                    let status = match step.run(&mut connection).await {
                        Ok(status) => status,
                        Err(_) => {
                            // A refused or reset connection: pause, so that a server that is down
                            // is not hammered in a tight loop, then connect again.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            let _ = connection.reopen().await;
                            0
                        }
                    };
                    if sent >= window.start {
                        outcome.record(sent.elapsed(), status);
                    }
                }
                (step.operation(), outcome, step, connection)
            })
        })
        .collect();
    gather(handles).await
}

/// Each connection sends its step every `period`, at its own phase within the period (so that
/// the rate is even), from the window's start to its end. Returns, besides, the seconds from the
/// window's start until the last answer: over those the requests were actually served, which is
/// longer than the window when the server fell behind the offered rate.
pub async fn open_loop(
    connections: Vec<Connection>,
    steps: Vec<Step>,
    window: Window,
    period: Duration,
) -> (BTreeMap<&'static str, Outcome>, Vec<Step>, Vec<Connection>, f64) {
    let count = u32::try_from(connections.len()).unwrap_or(u32::MAX).max(1);
    let handles: Vec<_> = connections
        .into_iter()
        .zip(steps)
        .zip(0u32..)
        .map(|((mut connection, mut step), index)| {
            let phase = period / count * index;
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                let mut intended = window.start + phase;
                while intended < window.end {
                    tokio::time::sleep_until(intended).await;
                    let status = match step.run(&mut connection).await {
                        Ok(status) => status,
                        Err(_) => {
                            // A refused or reset connection: pause, so that a server that is down
                            // is not hammered in a tight loop, then connect again.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            let _ = connection.reopen().await;
                            0
                        }
                    };
                    outcome.record(intended.elapsed(), status);
                    intended += period;
                }
                (step.operation(), outcome, step, connection)
            })
        })
        .collect();
    let (outcomes, steps, connections) = gather(handles).await;
    (outcomes, steps, connections, window.start.elapsed().as_secs_f64().max(window.seconds()))
}

type Finished = (&'static str, Outcome, Step, Connection);

async fn gather(
    handles: Vec<tokio::task::JoinHandle<Finished>>,
) -> (BTreeMap<&'static str, Outcome>, Vec<Step>, Vec<Connection>) {
    let mut outcomes: BTreeMap<&'static str, Outcome> = BTreeMap::new();
    let mut steps = Vec::with_capacity(handles.len());
    let mut connections = Vec::with_capacity(handles.len());
    for handle in handles {
        // A task only ends by returning: a panic in one is a bug worth stopping for.
        let (operation, outcome, step, connection) = handle.await.expect("a load task panicked");
        outcomes.entry(operation).or_default().merge(outcome);
        steps.push(step);
        connections.push(connection);
    }
    (outcomes, steps, connections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_sorted_latencies() {
        let mut outcome = Outcome::default();
        for micros in (1..=100).rev() {
            outcome.record(Duration::from_micros(micros * 1000), 200);
        }
        assert!((outcome.quantile_ms(0.5) - 51.0).abs() < 1.0);
        assert!((outcome.quantile_ms(0.99) - 99.0).abs() < 1.01);
        assert!((outcome.quantile_ms(1.0) - 100.0).abs() < f64::EPSILON);
    }

    #[test]
    fn anything_but_2xx_and_transport_failures_are_errors() {
        let mut outcome = Outcome::default();
        outcome.record(Duration::ZERO, 200);
        outcome.record(Duration::ZERO, 204);
        outcome.record(Duration::ZERO, 401);
        outcome.record(Duration::ZERO, 503);
        outcome.record(Duration::ZERO, 0);
        assert_eq!(outcome.requests(), 5);
        assert_eq!(outcome.errors(), 3);
    }
}
