//! The systems under test, as child processes: the release `auth-http` binary in either mode, and
//! the reference server; their resident memory, read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client::{Call, Connection};

/// The issuer and audience the service is started with; the reference server checks the same.
pub const ISSUER: &str = "https://loadtest.authd.invalid";
pub const AUDIENCE: &str = "authd";

/// Where the service keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SQLite in a temporary folder, revocations and rate limits in the process.
    Embedded,
    /// A fresh PostgreSQL database, and Redis under a fresh key prefix.
    Postgres,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL server (a maintenance database on it) and the Redis server of the postgres mode.
#[derive(Debug, Clone)]
pub struct Servers {
    pub postgres_admin_url: String,
    pub redis_url: String,
}

impl Servers {
    /// AUTH_LOADTEST_DATABASE_URL and AUTH_LOADTEST_REDIS_URL, or this machine's local servers.
    pub fn from_env() -> Self {
        Self {
            postgres_admin_url: std::env::var("AUTH_LOADTEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
            redis_url: std::env::var("AUTH_LOADTEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        }
    }
}

/// A running `auth-http serve`, stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Service {
    child: Child,
    pub address: SocketAddr,
    pub mode: Mode,
    /// The SQLite file in the embedded mode; the database URL in the postgres mode.
    pub database: String,
    /// The fresh database to drop afterwards, with the admin URL to drop it from.
    fresh_database: Option<(String, String)>,
    pub log_file: PathBuf,
    /// The temporary folder of the data, the outbox and the log; removed last.
    _folder: tempfile::TempDir,
}

/// A fresh name for this run: the process id and the time, never reused.
fn run_id() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{}_{seconds}", std::process::id())
}

impl Service {
    /// Starts `binary` in `mode` with settings that make seeding fast (no rate limits, no email
    /// verification, no sign-in mails) and everything else at its default, logs included (JSON at
    /// `info`, to a file, as a container's collector would take them).
    pub async fn start(binary: &Path, mode: Mode, servers: &Servers) -> anyhow::Result<Self> {
        let folder = tempfile::tempdir().context("cannot make a temporary folder")?;
        let log_file = folder.path().join("auth-http.log");
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AUTH_LISTEN", "127.0.0.1:0")
            .env("AUTH_PUBLIC_URL", "http://127.0.0.1")
            .env("AUTH_ISSUER", ISSUER)
            .env("AUTH_AUDIENCE", AUDIENCE)
            .env("AUTH_REQUIRE_EMAIL_VERIFICATION", "false")
            .env("AUTH_MAIL_NEW_SIGN_IN", "false")
            .env("AUTH_MAIL_OUTBOX", folder.path().join("outbox"))
            .env("AUTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        for limit in [
            "AUTH_RATE_LOGIN_EMAIL",
            "AUTH_RATE_LOGIN_IP",
            "AUTH_RATE_REGISTER_IP",
            "AUTH_RATE_EMAIL_SEND",
            "AUTH_RATE_REFRESH_SESSION",
        ] {
            command.env(limit, "off");
        }
        let (database, fresh_database) = match mode {
            Mode::Embedded => {
                let path = folder.path().join("auth.db");
                command.env("AUTH_DATABASE_URL", format!("sqlite://{}", path.display())).arg("serve");
                (path.display().to_string(), None)
            }
            Mode::Postgres => {
                let name = format!("authd_loadtest_{}", run_id());
                create_database(&servers.postgres_admin_url, &name).await?;
                let url = database_url(&servers.postgres_admin_url, &name);
                let master_key: [u8; 32] = rand::random();
                command
                    .env("AUTH_DATABASE_URL", &url)
                    .env("AUTH_MASTER_KEY", STANDARD.encode(master_key))
                    .env("AUTH_REDIS_URL", &servers.redis_url)
                    .env("AUTH_REDIS_PREFIX", format!("authd-loadtest:{}:", run_id()))
                    .args(["serve", "--migrate"]);
                (url, Some((servers.postgres_admin_url.clone(), name)))
            }
        };
        let log = std::fs::File::create(&log_file).context("cannot create the service's log file")?;
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let child = command.spawn().with_context(|| format!("cannot start {}", binary.display()))?;
        let mut service = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode,
            database,
            fresh_database,
            log_file,
            _folder: folder,
        };
        service.address = SocketAddr::from(([127, 0, 0, 1], service.wait_for_port()?));
        wait_until_healthy(service.address).await?;
        Ok(service)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port from the `auth-http is listening` log line.
    fn wait_for_port(&mut self) -> anyhow::Result<u16> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("auth-http exited at start ({status}); its log:\n{}", self.log_tail());
            }
            let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
            for line in log.lines() {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                if entry["message"] == "auth-http is listening"
                    && let Some(port) = entry["port"].as_u64().and_then(|port| u16::try_from(port).ok())
                {
                    return Ok(port);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("auth-http did not say where it listens within 60 s; its log:\n{}", self.log_tail())
    }

    /// The end of the service's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The size of the log written so far, in bytes.
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log_file).map_or(0, |metadata| metadata.len())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        stop(&mut self.child);
        if let Some((admin_url, name)) = self.fresh_database.take() {
            // Dropping needs a runtime of its own: drop may run outside any.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(drop_database(&admin_url, &name)).ok()
            })
            .join();
            if !matches!(dropped, Ok(Some(()))) {
                eprintln!("auth-loadtest: could not drop the load-test database; drop it by hand");
            }
        }
    }
}

/// SIGTERM (a graceful stop), then SIGKILL after five seconds.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls GET /healthz until it answers 200, for at most 30 s.
pub async fn wait_until_healthy(address: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut connection) = Connection::open(address).await
            && let Ok((200, _)) = connection.send(&Call::get_anonymous("/healthz")).await
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{address} did not answer GET /healthz with 200 within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `admin_url` with its database replaced by `name` (and no query string).
fn database_url(admin_url: &str, name: &str) -> String {
    let without_query = admin_url.split('?').next().unwrap_or(admin_url);
    let base = without_query.rsplit_once('/').map_or(without_query, |(base, _)| base);
    format!("{base}/{name}")
}

async fn admin(admin_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .context("cannot reach PostgreSQL (set AUTH_LOADTEST_DATABASE_URL to a database you may create others from)")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    admin(admin_url).await?.batch_execute(&format!("CREATE DATABASE {name}")).await.context("CREATE DATABASE")?;
    Ok(())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    admin(admin_url).await?.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    Ok(())
}

/// Resident memory of a process, from `/proc/PID/status`, in MiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_mib: f64,
    /// The most it was ever resident (`VmHWM`).
    pub peak_mib: f64,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    Memory { rss_mib: field("VmRSS:"), peak_mib: field("VmHWM:") }
}

/// The reference server: this same binary's `reference-server` command, a child process.
#[derive(Debug)]
pub struct Reference {
    child: Child,
    pub address: SocketAddr,
}

impl Reference {
    /// Starts the reference server with the keys of the service's JWKS at `jwks` (a JSON text).
    pub fn start(jwks: &str) -> anyhow::Result<Self> {
        let executable = std::env::current_exe().context("cannot find this program's own path")?;
        let mut child = Command::new(executable)
            .arg("reference-server")
            .env("LOADTEST_JWKS", jwks)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the reference server")?;
        let stdout = child.stdout.take().context("the reference server has no standard output")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .strip_prefix("listening on port ")
            .and_then(|port| port.parse().ok())
            .with_context(|| format!("the reference server said {line:?} instead of its port"))?;
        Ok(Self { child, address: SocketAddr::from(([127, 0, 0, 1], port)) })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
