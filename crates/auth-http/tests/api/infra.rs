//! The PostgreSQL and Redis servers the production-mode tests run on, and a TCP proxy in front of
//! them that a test can slow down or cut, to play an outage.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The URL of a server for a production-mode suite, or `None` to skip it.
///
/// Outside CI a missing server skips the suite with a visible line; under CI (`CI` set) the suite
/// is required and a missing server fails the test.
pub fn server_url(suite: &str, variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{suite} are required in CI, but {variable} is unset")
        }
        _ => {
            // Straight to standard error: the harness would hide an `eprintln!` of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {suite} (set {variable} to run them)");
            None
        }
    }
}

/// A fresh, empty schema in the test database, and a URL whose connections use it.
pub async fn fresh_postgres_schema(base_url: &str) -> String {
    let (client, connection) =
        tokio_postgres::connect(base_url, tokio_postgres::NoTls).await.expect("the test PostgreSQL server answers");
    tokio::spawn(connection);
    let schema = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("a schema can be created");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    format!("{base_url}{separator}options=-c%20search_path%3D{schema}")
}

/// A fresh key prefix in the test Redis.
pub fn fresh_redis_prefix() -> String {
    let base = std::env::var("AUTH_TEST_REDIS_PREFIX").unwrap_or_else(|_| "authd-test:".to_owned());
    format!("{base}{}:", uuid::Uuid::new_v4().simple())
}

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow both ways.
    Up,
    /// Connections stay open but nothing flows: a server that hangs.
    Stalled,
    /// Every connection is closed at once, and new ones are closed on arrival: a server that died.
    Down,
}

/// A TCP proxy on a random local port, forwarding to `target`.
pub struct FaultyProxy {
    pub port: u16,
    link: Arc<watch::Sender<Link>>,
}

impl FaultyProxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let port = listener.local_addr().expect("an address").port();
        let (link, _) = watch::channel(Link::Up);
        let link = Arc::new(link);
        let accepting = link.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = accepting.subscribe();
                if *state.borrow() == Link::Down {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        relay(client, server, state).await;
                    }
                });
            }
        });
        Self { port, link }
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

/// Copies bytes both ways while the link is up, pauses while it is stalled, and hangs up when it
/// goes down.
async fn relay(client: TcpStream, server: TcpStream, mut state: watch::Receiver<Link>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut upstream = [0u8; 16 * 1024];
    let mut downstream = [0u8; 16 * 1024];
    loop {
        let link = *state.borrow_and_update();
        match link {
            Link::Down => return,
            Link::Stalled => {
                if state.changed().await.is_err() {
                    return;
                }
            }
            Link::Up => {
                tokio::select! {
                    read = client_read.read(&mut upstream) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(count) => if server_write.write_all(&upstream[..count]).await.is_err() { return },
                    },
                    read = server_read.read(&mut downstream) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(count) => if client_write.write_all(&downstream[..count]).await.is_err() { return },
                    },
                    changed = state.changed() => if changed.is_err() { return },
                }
            }
        }
    }
}

/// The host:port of a `scheme://[user@]host:port/...` URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_owned()
}

/// `url` with its host:port replaced by 127.0.0.1:`port`.
pub fn through_port(url: &str, port: u16) -> String {
    url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1)
}

pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within {within:?}");
}
