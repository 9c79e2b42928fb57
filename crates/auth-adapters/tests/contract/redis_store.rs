//! Redis-only tests: what the port contracts cannot see. Failures are `Unavailable` within the
//! timeout and never quote the URL's password; the store reconnects when Redis comes back and
//! gives up on a connection that went silent; the keys are the ones `docs/redis.md` documents,
//! and every one of them expires.
//!
//! The fault tests need no Redis server and always run; the others use the Redis fixture and are
//! skipped like the Redis contracts when AUTH_TEST_REDIS_URL is unset.

use std::error::Error;
use std::fmt::Debug;
use std::net::TcpListener as BlockingTcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use auth_adapters::redis_store::{RedisRateLimiter, RedisRevocationStore, RedisSetupError, RedisStore};
use auth_domain::ports::{RateLimiter, RevocationCheck, RevocationStore};
use auth_domain::{InfrastructureError, RateLimit, SessionId};
use redis::ConnectionAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use crate::backends::{self, RedisFixture};
use crate::support::{now, unique};

/// A password no error, log line or `Debug` output may contain.
const PASSWORD: &str = "correct-horse-battery-staple";
const FAULT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a failing call may take: its timeout and then some, on a slow shared machine.
const FAULT_DEADLINE: Duration = Duration::from_secs(2);
const LIMIT: RateLimit = RateLimit::new(3, Duration::from_secs(60));

/// The error with its whole cause chain, as the HTTP layer would log it.
fn rendered_chain(error: &InfrastructureError) -> String {
    let mut rendered = format!("{error} / {error:?}");
    let mut cause = error.source();
    while let Some(current) = cause {
        rendered.push_str(&format!(" / {current}"));
        cause = current.source();
    }
    rendered
}

/// Asserts that `operation` failed as `Unavailable` before the deadline, without the password.
fn assert_unavailable<T: Debug>(operation: &str, started: Instant, outcome: Result<T, InfrastructureError>) {
    let elapsed = started.elapsed();
    assert!(elapsed < FAULT_DEADLINE, "{operation} took {elapsed:?}, past its {FAULT_TIMEOUT:?} timeout");
    match outcome {
        Err(error @ InfrastructureError::Unavailable(_)) => {
            let chain = rendered_chain(&error);
            assert!(!chain.contains(PASSWORD), "{operation}'s error quotes the password: {chain}");
        }
        other => panic!("{operation} must be Unavailable: {other:?}"),
    }
}

/// Calls every kind of command once on a store whose server cannot answer.
async fn assert_every_command_is_unavailable(store: &RedisStore) {
    let revocations = RedisRevocationStore::new(store.clone());
    let limiter = RedisRateLimiter::new(store.clone());
    let session_id = SessionId::from_uuid(Uuid::new_v4());

    // Twice: the second round goes through the path that replaces a failed connection.
    for _ in 0..2 {
        let started = Instant::now();
        assert_unavailable("check_session", started, revocations.check_session(session_id, now()).await);
        let started = Instant::now();
        let outcome = revocations.revoke_session(session_id, now() + time::Duration::minutes(15)).await;
        assert_unavailable("revoke_session", started, outcome);
        let started = Instant::now();
        assert_unavailable("hit", started, limiter.hit("login:ada@example.com", LIMIT).await);
        let started = Instant::now();
        assert_unavailable("ping", started, store.ping().await);
    }
}

#[tokio::test]
async fn a_closed_port_makes_every_command_unavailable_within_the_timeout() {
    let store = RedisStore::new(&format!("redis://:{PASSWORD}@127.0.0.1:1"), "authd-test:".to_owned(), FAULT_TIMEOUT)
        .expect("the URL is valid; nothing connects yet");
    assert!(!format!("{store:?}").contains(PASSWORD), "Debug quotes the password: {store:?}");

    assert_every_command_is_unavailable(&store).await;
}

#[tokio::test]
async fn a_server_that_never_answers_makes_every_command_unavailable_within_the_timeout() {
    // The kernel accepts connections into the backlog of a listener nobody serves: commands are
    // sent and never answered, like a hung server or a half-open connection.
    let silent = BlockingTcpListener::bind("127.0.0.1:0").expect("a local port can be bound");
    let port = silent.local_addr().expect("a bound listener has an address").port();
    let store =
        RedisStore::new(&format!("redis://:{PASSWORD}@127.0.0.1:{port}"), "authd-test:".to_owned(), FAULT_TIMEOUT)
            .expect("the URL is valid; nothing connects yet");

    assert_every_command_is_unavailable(&store).await;
    drop(silent);
}

#[test]
fn an_invalid_url_or_timeout_is_refused_before_connecting_and_never_quoted() {
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:not-a-port"),
        format!("http://:{PASSWORD}@127.0.0.1:6379"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/not-a-database"),
    ] {
        match RedisStore::new(&url, "authd-test:".to_owned(), FAULT_TIMEOUT) {
            Err(error @ RedisSetupError::InvalidUrl { .. }) => {
                let rendered = format!("{error} / {error:?}");
                assert!(!rendered.contains(PASSWORD), "the error quotes the password: {rendered}");
            }
            other => panic!("an invalid URL must be refused: {other:?}"),
        }
    }
    assert!(matches!(
        RedisStore::new("redis://127.0.0.1:6379", "authd-test:".to_owned(), Duration::ZERO),
        Err(RedisSetupError::ZeroTimeout)
    ));
}

/// A raw connection to the test server, to look at the keys the stores wrote.
async fn inspector(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("AUTH_TEST_REDIS_URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("the test server answers")
}

async fn query<T: redis::FromRedisValue>(
    connection: &mut redis::aio::MultiplexedConnection,
    command: &redis::Cmd,
) -> T {
    command.query_async(connection).await.expect("the inspection command succeeds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_write_only_the_documented_keys_and_every_count_expires() {
    let Some(fixture) = backends::redis().await else { return };
    let mut inspector = inspector(&fixture.url).await;
    let revoked = SessionId::from_uuid(Uuid::new_v4());
    let lapsed = SessionId::from_uuid(Uuid::new_v4());
    let limited = unique("login");
    let peeked = unique("login");

    fixture.revocations.revoke_session(revoked, now() + time::Duration::minutes(15)).await.expect("stored");
    fixture.revocations.revoke_session(lapsed, now() - time::Duration::seconds(1)).await.expect("nothing to store");
    fixture.rate_limiter.hit(&limited, LIMIT).await.expect("counted");
    fixture.rate_limiter.peek(&peeked, LIMIT).await.expect("peeked");

    let revocation_key = format!("{}revoked", fixture.prefix);
    let rate_key = auth_adapters::redis_store::RedisRateLimiter::redis_key(&fixture.prefix, &limited);
    let mut keys: Vec<String> = query(&mut inspector, redis::cmd("KEYS").arg(format!("{}*", fixture.prefix))).await;
    keys.sort_unstable();
    let mut expected = vec![revocation_key.clone(), rate_key.clone()];
    expected.sort_unstable();
    assert_eq!(keys, expected, "a lapsed revocation and a peek write nothing");

    // One hash of marks, without an expiry of its own (its marks are forgotten one by one), so
    // that Redis can only lose all of them together with the `complete` flag.
    let revocation_type: String = query(&mut inspector, redis::cmd("TYPE").arg(&revocation_key)).await;
    assert_eq!(revocation_type, "hash");
    let mark: Option<i64> =
        query(&mut inspector, redis::cmd("HGET").arg(&revocation_key).arg(revoked.to_string())).await;
    let until = (now() + time::Duration::minutes(15)).unix_timestamp();
    assert!(mark.is_some_and(|mark| (until - 2..=until + 1).contains(&mark)), "the mark holds its instant: {mark:?}");
    let rate_type: String = query(&mut inspector, redis::cmd("TYPE").arg(&rate_key)).await;
    assert_eq!(rate_type, "hash");
    let rate_ttl: i64 = query(&mut inspector, redis::cmd("PTTL").arg(&rate_key)).await;
    let two_windows = i64::try_from(2 * LIMIT.window.as_millis()).expect("two minutes fit");
    assert!((1..=two_windows).contains(&rate_ttl), "the counts live two windows at most: {rate_ttl} ms");

    fixture.rate_limiter.reset(&limited).await.expect("reset");
    let remaining: i64 = query(&mut inspector, redis::cmd("EXISTS").arg(&rate_key)).await;
    assert_eq!(remaining, 0, "a reset deletes the key's counts");
}

#[tokio::test]
async fn a_wrong_password_is_unavailable_and_never_quoted() {
    let Some(fixture) = backends::redis().await else { return };
    let client = redis::Client::open(fixture.url.as_str()).expect("AUTH_TEST_REDIS_URL is valid");
    let ConnectionAddr::Tcp(host, port) = client.get_connection_info().addr().clone() else {
        panic!("this test needs a TCP server: AUTH_TEST_REDIS_URL must be redis://host:port");
    };
    let store = RedisStore::new(&format!("redis://:{PASSWORD}@{host}:{port}"), fixture.prefix.clone(), FAULT_TIMEOUT)
        .expect("the URL is valid");

    // The server has no such password (or none at all): it refuses the connection's AUTH.
    let started = Instant::now();
    assert_unavailable("ping", started, store.ping().await);
}

/// A TCP relay from a local port to the Redis server, which the test cuts and restores to play a
/// Redis restart, or freezes to play a connection that went silent (a network partition, a
/// failed-over node that no longer answers) without the client being told.
struct Relay {
    port: u16,
    target: (String, u16),
    task: Option<JoinHandle<()>>,
    /// Bumped by [`Relay::freeze_open_connections`]; a connection opened before the bump stops.
    freezes: Arc<watch::Sender<u64>>,
    /// The frozen connections, held open so that neither end sees them close.
    frozen: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
}

impl Relay {
    /// A relay to the test server on a free port, down until [`Relay::restore`].
    fn new(fixture: &RedisFixture) -> Self {
        let client = redis::Client::open(fixture.url.as_str()).expect("AUTH_TEST_REDIS_URL is valid");
        let ConnectionAddr::Tcp(host, port) = client.get_connection_info().addr().clone() else {
            panic!("the relay only speaks plain TCP: AUTH_TEST_REDIS_URL must be redis://host:port");
        };
        let reserved = BlockingTcpListener::bind("127.0.0.1:0").expect("a local port can be bound");
        let relay_port = reserved.local_addr().expect("a bound listener has an address").port();
        Self {
            port: relay_port,
            target: (host, port),
            task: None,
            freezes: Arc::new(watch::Sender::new(0)),
            frozen: Arc::default(),
        }
    }

    /// A store like the fixture's, reaching Redis through this relay.
    fn store(&self, fixture: &RedisFixture, timeout: Duration) -> RedisStore {
        let url = with_address(&fixture.url, &format!("127.0.0.1:{}", self.port));
        RedisStore::new(&url, fixture.prefix.clone(), timeout).expect("the relayed URL is valid")
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("the relay's port is free again");
        let target = self.target.clone();
        let freezes = Arc::clone(&self.freezes);
        let frozen = Arc::clone(&self.frozen);
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when the task is aborted) closes every relayed connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let mut freezes = freezes.subscribe();
                let opened_in = *freezes.borrow_and_update();
                let frozen = Arc::clone(&frozen);
                connections.spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect((target.0.as_str(), target.1)).await else { return };
                    let was_frozen = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = freezes.wait_for(|freezes| *freezes > opened_in) => true,
                    };
                    if was_frozen {
                        frozen.lock().unwrap_or_else(PoisonError::into_inner).push((inbound, outbound));
                    }
                });
            }
        }));
    }

    /// Closes the port and every connection through it, as a Redis that went away would.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops relaying on every open connection, keeping them open; new connections still work.
    fn freeze_open_connections(&self) {
        self.freezes.send_modify(|freezes| *freezes += 1);
    }
}

/// `url` with its host and port replaced by `address`, keeping its credentials, database and options.
fn with_address(url: &str, address: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a Redis URL has a scheme");
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let user_info = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!("{scheme}://{user_info}{address}{tail}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reconnects_on_the_next_call_once_redis_is_back() {
    let Some(fixture) = backends::redis().await else { return };
    let mut relay = Relay::new(&fixture);
    let store = relay.store(&fixture, Duration::from_secs(1));
    let revocations = RedisRevocationStore::new(store.clone());
    let session_id = SessionId::from_uuid(Uuid::new_v4());

    // Down from the start: the store was built anyway, and says Redis is unavailable.
    assert!(matches!(store.ping().await, Err(InfrastructureError::Unavailable(_))));

    relay.restore().await;
    store.ping().await.expect("the first call after Redis is up succeeds");
    revocations.revoke_session(session_id, now() + time::Duration::minutes(15)).await.expect("stored");

    relay.cut().await;
    let outcome = revocations.check_session(session_id, now()).await;
    assert!(matches!(outcome, Err(InfrastructureError::Unavailable(_))), "Redis is gone: {outcome:?}");

    relay.restore().await;
    assert_eq!(
        revocations.check_session(session_id, now()).await.expect("the first call after Redis is back succeeds"),
        auth_domain::ports::RevocationCheck::Revoked,
        "the revocation stored before the outage is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_went_silent_is_replaced_on_the_next_call() {
    let Some(fixture) = backends::redis().await else { return };
    let mut relay = Relay::new(&fixture);
    relay.restore().await;
    let store = relay.store(&fixture, Duration::from_millis(500));
    store.ping().await.expect("Redis answers through the relay");

    // No error, no close: only silence. Redis's client would wait on this connection until the
    // kernel gives up on it, many minutes later; the store must give up on it at its timeout.
    relay.freeze_open_connections();
    let started = Instant::now();
    let outcome = store.ping().await;
    assert!(matches!(outcome, Err(InfrastructureError::Unavailable(_))), "the connection is silent: {outcome:?}");
    assert!(started.elapsed() < FAULT_DEADLINE, "a silent connection is given up at the timeout");

    store.ping().await.expect("the next call opens a new connection");
}

/// A `redis-server` of the test's own on a free port, without persistence, killed when dropped:
/// for what cannot be done to the shared server (a restart, an eviction under `maxmemory`).
struct PrivateRedis {
    child: std::process::Child,
    port: u16,
}

impl PrivateRedis {
    /// `None` (the test says it skips) where no `redis-server` binary is installed.
    fn start(extra: &[&str]) -> Option<Self> {
        let port = BlockingTcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
        Self::start_on(port, extra)
    }

    fn start_on(port: u16, extra: &[&str]) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("SKIPPED: no redis-server binary for the private-server Redis tests");
            return None;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the private redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server and starts an empty one on the same port, as a restart without
    /// persistence does.
    fn restart(mut self, extra: &[&str]) -> Self {
        let port = self.port;
        let _ = self.child.kill();
        let _ = self.child.wait();
        Self::start_on(port, extra).expect("it started once")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn revocations_on(url: &str) -> RedisRevocationStore {
    let store = RedisStore::new(url, "authd-test:".to_owned(), Duration::from_secs(5)).expect("a valid URL");
    RedisRevocationStore::new(store)
}

/// Waits out a reconnection: the first command after a restart may find the old connection dead.
async fn check_after_reconnect(store: &RedisRevocationStore, session_id: SessionId) -> RevocationCheck {
    for _ in 0..50 {
        if let Ok(check) = store.check_session(session_id, now()).await {
            return check;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store never reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_revocation_hash_makes_the_store_incomplete_never_live() {
    let Some(fixture) = backends::redis().await else { return };
    let revoked = SessionId::from_uuid(Uuid::new_v4());
    fixture.revocations.restore(&[]).await.expect("restored");
    fixture.revocations.revoke_session(revoked, now() + time::Duration::minutes(15)).await.expect("stored");
    assert_eq!(fixture.revocations.check_session(revoked, now()).await.expect("checked"), RevocationCheck::Revoked);

    // What FLUSHALL, FLUSHDB or an operator's DEL does to this deployment's keys.
    let mut inspector = inspector(&fixture.url).await;
    let _: i64 = query(&mut inspector, redis::cmd("DEL").arg(fixture.revocations.key())).await;

    assert_eq!(
        fixture.revocations.check_session(revoked, now()).await.expect("checked"),
        RevocationCheck::Incomplete,
        "a lost mark must not read as a live session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarts_empty_leaves_the_store_incomplete_never_live() {
    let Some(server) = PrivateRedis::start(&[]) else { return };
    let revocations = revocations_on(&server.url());
    let revoked = SessionId::from_uuid(Uuid::new_v4());
    revocations.restore(&[(revoked, now() + time::Duration::minutes(15))]).await.expect("restored");
    assert_eq!(check_after_reconnect(&revocations, revoked).await, RevocationCheck::Revoked);

    let server = server.restart(&[]);

    assert_eq!(check_after_reconnect(&revocations, revoked).await, RevocationCheck::Incomplete);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_hash_evicted_under_maxmemory_leaves_the_store_incomplete_never_live() {
    // allkeys-random evicts any key, the hash included, once memory is full.
    let Some(server) = PrivateRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-random"]) else {
        return;
    };
    let revocations = revocations_on(&server.url());
    let revoked = SessionId::from_uuid(Uuid::new_v4());
    revocations.restore(&[(revoked, now() + time::Duration::minutes(15))]).await.expect("restored");
    let mut filler = inspector(&server.url()).await;
    let key = revocations.key();
    let payload = "x".repeat(16 * 1024);
    let mut evicted = false;
    for round in 0..4_000 {
        let _: () = query(&mut filler, redis::cmd("SET").arg(format!("filler:{round}")).arg(&payload)).await;
        let present: i64 = query(&mut filler, redis::cmd("EXISTS").arg(&key)).await;
        if present == 0 {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "64 MB through a 2 MB server evicts the hash");

    assert_eq!(
        revocations.check_session(revoked, now()).await.expect("checked"),
        RevocationCheck::Incomplete,
        "an evicted mark must not read as a live session"
    );
    drop(server);
}
