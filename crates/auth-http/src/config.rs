//! Configuration: read once from the environment (and an optional TOML file) into typed settings,
//! every value validated before the server listens.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use auth_adapters::keys::SigningAlgorithm;
use auth_domain::RateLimit;
use secrecy::{ExposeSecret, SecretString};

/// How the database is reached.
#[derive(Debug, Clone)]
pub enum DatabaseSettings {
    /// The embedded mode: a SQLite file, created on first start.
    Sqlite { path: PathBuf },
    /// The production mode: a PostgreSQL server shared by every replica.
    Postgres { url: SecretString },
}

impl PartialEq for DatabaseSettings {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        match (self, other) {
            (Self::Sqlite { path: left }, Self::Sqlite { path: right }) => left == right,
            (Self::Postgres { url: left }, Self::Postgres { url: right }) => {
                left.expose_secret() == right.expose_secret()
            }
            _ => false,
        }
    }
}

/// Where revocations and rate limits are kept.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In this process: one node only.
    InProcess,
    /// In Redis, shared by every replica; keys begin with `prefix`.
    Redis { url: SecretString, prefix: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A CIDR block, for AUTH_TRUSTED_PROXIES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { address, prefix })
    }

    pub fn contains(&self, candidate: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 { 0 } else { bits >> (width - prefix) }
        }
        match (self.address, candidate.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(candidate)) => {
                masked(u32::from(network).into(), self.prefix, 32)
                    == masked(u32::from(candidate).into(), self.prefix, 32)
            }
            (IpAddr::V6(network), IpAddr::V6(candidate)) => {
                masked(u128::from(network), self.prefix, 128) == masked(u128::from(candidate), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Every setting of the service, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// When set, `/metrics` is served here; unset, nowhere. Never beside the API.
    pub metrics_listen: Option<SocketAddr>,
    pub database: DatabaseSettings,
    pub database_pool_size: u32,
    /// The longest a request waits for the database before it gets a 503.
    pub database_timeout: Duration,
    pub store: StoreSettings,
    /// The longest a request waits for Redis before it gets a 503.
    pub redis_timeout: Duration,
    pub mail_outbox: PathBuf,
    /// `None`: mail is written to `mail_outbox`.
    pub smtp_url: Option<SecretString>,
    /// The resource servers allowed to call /oauth/introspect: `(client id, secret)`.
    pub introspection_clients: Vec<(String, SecretString)>,
    /// The longest an SMTP connection or command may take.
    pub smtp_timeout: Duration,
    pub mail_from: String,
    /// Delivery attempts of a mail before it is marked failed.
    pub mail_max_attempts: u32,
    /// The wait after the first failed attempt; doubled after each further one, up to an hour.
    pub mail_retry: Duration,
    /// How often each replica looks for due mail.
    pub mail_poll_interval: Duration,
    /// Mail the owner of an account when it is signed in to from a new device or address.
    pub mail_new_sign_in: bool,
    pub public_url: String,
    pub issuer: String,
    /// The name authenticator apps show beside a TOTP account.
    pub totp_issuer: String,
    /// How long a login may wait for its second factor.
    pub mfa_token_ttl: Duration,
    pub audience: String,
    pub master_key: Option<SecretString>,
    /// The algorithm of the signing keys made from now on (existing keys keep theirs).
    pub signing_algorithm: SigningAlgorithm,
    /// Automatic signing-key rotation: a new key when the newest is this old.
    pub key_rotation_period: Option<Duration>,
    /// How often each process re-reads the signing keys, so that a rotation or a retirement made
    /// elsewhere reaches it.
    pub key_reload_interval: Duration,
    pub access_ttl: Duration,
    pub session_ttl: Duration,
    pub session_idle_ttl: Duration,
    pub refresh_grace: Duration,
    /// How long a mailed verification link works.
    pub verify_email_ttl: Duration,
    /// How long a mailed password-reset link works.
    pub reset_password_ttl: Duration,
    pub hsts: Option<String>,
    pub require_email_verification: bool,
    pub password_min_length: usize,
    pub password_min_score: u8,
    pub password_pepper: Option<SecretString>,
    pub rate_login_email: Option<RateLimit>,
    pub rate_login_ip: Option<RateLimit>,
    pub rate_register_ip: Option<RateLimit>,
    pub rate_email_send: Option<RateLimit>,
    pub rate_refresh_session: Option<RateLimit>,
    /// Wrong second-factor codes per account.
    pub rate_mfa_user: Option<RateLimit>,
    /// Failed resource-server client authentications per client id and IP.
    pub rate_client_auth: Option<RateLimit>,
    pub trusted_proxies: Vec<IpNetwork>,
    /// Browser origins allowed to call the API (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// A sorted file of SHA-1 hashes of breached passwords (Have I Been Pwned's format).
    pub breached_passwords: Option<PathBuf>,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    pub log_format: Option<LogFormat>,
}

/// A setting that could not be accepted; names the variable, never echoes a secret.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self { variable: variable.to_owned(), message: message.into() }
    }
}

/// Where settings are read from: the environment first, then the AUTH_CONFIG file.
pub struct SettingsSource {
    environment: HashMap<String, String>,
    file: HashMap<String, String>,
    /// Every name asked for, so that the names set but never asked for can be reported.
    asked: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for SettingsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSource").finish_non_exhaustive()
    }
}

impl SettingsSource {
    /// The process environment, and the TOML file AUTH_CONFIG names if it is set.
    ///
    /// # Errors
    /// When AUTH_CONFIG names a file that cannot be read or parsed.
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_os_variables(std::env::vars_os())
    }

    /// `std::env::vars` panics on the first variable that is not UTF-8, whoever set it: only our
    /// own variables must be text, and one that is not is a configuration error naming it.
    fn from_os_variables(
        variables: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self, ConfigError> {
        let mut ours = Vec::new();
        for (name, value) in variables {
            let Some(name) = name.to_str().filter(|name| name.starts_with("AUTH_")) else { continue };
            let value = value.into_string().map_err(|_| ConfigError::new(name, "is not valid UTF-8"))?;
            ours.push((name.to_owned(), value));
        }
        Self::from_variables(ours)
    }

    /// The given variables, and the TOML file their AUTH_CONFIG names if any.
    ///
    /// # Errors
    /// When AUTH_CONFIG names a file that cannot be read or parsed.
    pub fn from_variables(variables: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let environment: HashMap<String, String> =
            variables.into_iter().filter(|(key, _)| key.starts_with("AUTH_")).collect();
        let file = match environment.get("AUTH_CONFIG") {
            Some(path) => read_config_file(Path::new(path))?,
            None => HashMap::new(),
        };
        Ok(Self { environment, file, asked: std::cell::RefCell::default() })
    }

    /// The AUTH_* names set (in the environment or the file) that no setting reads: most likely
    /// misspelt, and then silently at their defaults. Meaningful after [`Settings::load`].
    pub fn unread_variables(&self) -> Vec<String> {
        let asked = self.asked.borrow();
        let mut unread: Vec<String> = self
            .environment
            .keys()
            .chain(self.file.keys())
            .filter(|name| name.as_str() != "AUTH_CONFIG" && !asked.contains(name.as_str()))
            // The test suites' own variables share the prefix.
            .filter(|name| !name.strip_prefix("AUTH_").is_some_and(|rest| rest.starts_with("TEST_")))
            .cloned()
            .collect();
        unread.sort();
        unread.dedup();
        unread
    }

    fn get(&self, variable: &str) -> Option<&str> {
        self.asked.borrow_mut().insert(variable.to_owned());
        self.environment.get(variable).or_else(|| self.file.get(variable)).map(String::as_str)
    }

    /// A secret: from the variable, or from the file that `{variable}_FILE` names (the way Docker
    /// and Kubernetes mount secrets).
    fn secret(&self, variable: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(value) = self.get(variable) {
            return Ok(Some(SecretString::from(value.to_owned())));
        }
        let file_variable = format!("{variable}_FILE");
        match self.get(&file_variable) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(path)
                .map(|contents| Some(SecretString::from(contents.trim_end().to_owned())))
                .map_err(|error| ConfigError::new(&file_variable, format!("cannot read {path}: {error}"))),
        }
    }
}

/// Reads a TOML file of `KEY = value` pairs; keys may be given as `AUTH_LISTEN` or `listen`.
fn read_config_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::new("AUTH_CONFIG", format!("cannot read {}: {error}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|error| ConfigError::new("AUTH_CONFIG", format!("{} is not valid TOML: {error}", path.display())))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let variable = key.to_uppercase();
            let variable = if variable.starts_with("AUTH_") { variable } else { format!("AUTH_{variable}") };
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(ConfigError::new(
                        "AUTH_CONFIG",
                        format!("{key} must be a string, an integer or a boolean, not {}", other.type_str()),
                    ));
                }
            };
            Ok((variable, value))
        })
        .collect()
}

/// The longest duration any setting takes: 100 years. Lifetimes are added to the present (a
/// session's expiry, a link's) and timeouts multiplied; past this, the sum would leave the dates a
/// timestamp can hold and the service would panic at the first login instead of refusing to start.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// Parses `15m`, `30d`, `10s`, `1h`: a positive integer and a unit; also `250ms`. At most
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_any_duration(text).filter(|duration| *duration <= MAX_DURATION)
}

fn parse_any_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(digits) = text.strip_suffix("ms") {
        let millis: u64 =
            digits.parse().ok().filter(|millis| *millis > 0 && digits.chars().all(|c| c.is_ascii_digit()))?;
        return Some(Duration::from_millis(millis));
    }
    let unit = text.chars().last()?;
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let count: u64 = digits.parse().ok().filter(|count| *count > 0)?;
    count.checked_mul(seconds_per_unit).map(Duration::from_secs)
}

/// Parses `COUNT/WINDOW` (e.g. `10/15m`), or `off`.
pub fn parse_rate_limit(text: &str) -> Option<Option<RateLimit>> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let (count, window) = text.trim().split_once('/')?;
    let count: u32 = count.parse().ok().filter(|count| *count > 0)?;
    Some(Some(RateLimit::new(count, parse_duration(window)?)))
}

impl Settings {
    /// Reads and validates every setting.
    ///
    /// # Errors
    /// The first invalid setting, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let parsed = |variable: &str, default: &str| source.get(variable).unwrap_or(default).to_owned();

        let listen = parsed("AUTH_LISTEN", "127.0.0.1:8080");
        let metrics_listen = match source.get("AUTH_METRICS_LISTEN") {
            None => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "AUTH_METRICS_LISTEN",
                    format!("expected an address such as 0.0.0.0:9090, got {text:?}"),
                )
            })?),
        };
        let listen: SocketAddr = listen.parse().map_err(|_| {
            ConfigError::new("AUTH_LISTEN", format!("expected an address such as 127.0.0.1:8080, got {listen:?}"))
        })?;

        let database_url = source.secret("AUTH_DATABASE_URL")?;
        let database = match database_url.as_ref().map(ExposeSecret::expose_secret) {
            None => DatabaseSettings::Sqlite { path: PathBuf::from("data/auth.db") },
            Some(url) if url.starts_with("sqlite://") => {
                let path = &url["sqlite://".len()..];
                if path.is_empty() {
                    return Err(ConfigError::new(
                        "AUTH_DATABASE_URL",
                        "sqlite:// needs a file path, e.g. sqlite://data/auth.db",
                    ));
                }
                DatabaseSettings::Sqlite { path: PathBuf::from(path) }
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseSettings::Postgres { url: SecretString::from(url.to_owned()) }
            }
            // The value is not echoed: a mistyped URL may still hold a password.
            Some(_) => return Err(ConfigError::new("AUTH_DATABASE_URL", "expected sqlite://PATH or postgres://...")),
        };
        let store = match source.secret("AUTH_REDIS_URL")? {
            None => StoreSettings::InProcess,
            Some(url)
                if url.expose_secret().starts_with("redis://") || url.expose_secret().starts_with("rediss://") =>
            {
                let prefix = parsed("AUTH_REDIS_PREFIX", "auth:");
                if prefix.is_empty() || prefix.contains(char::is_whitespace) {
                    return Err(ConfigError::new("AUTH_REDIS_PREFIX", "must be non-empty, without spaces"));
                }
                StoreSettings::Redis { url, prefix }
            }
            Some(_) => return Err(ConfigError::new("AUTH_REDIS_URL", "expected redis://...")),
        };
        let introspection_clients = match source.secret("AUTH_INTROSPECTION_CLIENTS")? {
            None => Vec::new(),
            Some(list) => parse_clients(list.expose_secret()).ok_or_else(|| {
                ConfigError::new(
                    "AUTH_INTROSPECTION_CLIENTS",
                    format!(
                        "expected id:secret pairs, comma-separated, each at most {} bytes, no id twice",
                        crate::routes::oauth::MAX_CLIENT_CREDENTIALS_BYTES
                    ),
                )
            })?,
        };
        let smtp_url = source.secret("AUTH_SMTP_URL")?;
        if let Some(url) = &smtp_url {
            let url = url.expose_secret();
            let host = url.strip_prefix("smtp://").or_else(|| url.strip_prefix("smtps://"));
            // Only the shape is judged here; the message never repeats the URL, which may hold a password.
            if host.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                return Err(ConfigError::new(
                    "AUTH_SMTP_URL",
                    "expected smtp://host:port (STARTTLS with ?tls=required) or smtps://user:password@host:port",
                ));
            }
        }

        let public_url = parsed("AUTH_PUBLIC_URL", "http://localhost:8080").trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(char::is_whitespace)
        {
            return Err(ConfigError::new(
                "AUTH_PUBLIC_URL",
                format!("expected an http:// or https:// URL, got {public_url:?}"),
            ));
        }
        let issuer = source.get("AUTH_ISSUER").map_or_else(|| public_url.clone(), str::to_owned);
        if issuer.trim().is_empty() {
            return Err(ConfigError::new("AUTH_ISSUER", "must not be empty"));
        }
        // The host of the public URL, without its port: a colon would split the app's label.
        let public_host =
            public_url.split("://").nth(1).unwrap_or_default().split(['/', ':']).next().unwrap_or_default();
        let totp_issuer = parsed("AUTH_TOTP_ISSUER", public_host).trim().to_owned();
        if totp_issuer.is_empty() || totp_issuer.chars().count() > 100 || totp_issuer.contains(':') {
            return Err(ConfigError::new("AUTH_TOTP_ISSUER", "expected 1 to 100 characters without ':'"));
        }
        let audience = parsed("AUTH_AUDIENCE", "authd");
        if audience.trim().is_empty() {
            return Err(ConfigError::new("AUTH_AUDIENCE", "must not be empty"));
        }
        let mail_from = parsed("AUTH_MAIL_FROM", "no-reply@localhost");
        if auth_domain::Email::parse(&mail_from).is_err() {
            return Err(ConfigError::new("AUTH_MAIL_FROM", format!("expected an email address, got {mail_from:?}")));
        }

        let duration = |variable: &str, default: &str| {
            let text = parsed(variable, default);
            parse_duration(&text).ok_or_else(|| {
                ConfigError::new(
                    variable,
                    format!("expected a positive duration such as 15m, 30d or 10s, at most 36500d, got {text:?}"),
                )
            })
        };
        let count = |variable: &str, default: usize, min: usize, max: usize| -> Result<usize, ConfigError> {
            match source.get(variable) {
                None => Ok(default),
                Some(text) => {
                    text.trim().parse::<usize>().ok().filter(|value| (min..=max).contains(value)).ok_or_else(|| {
                        ConfigError::new(variable, format!("expected a whole number from {min} to {max}, got {text:?}"))
                    })
                }
            }
        };
        let flag = |variable: &str, default: bool| match source.get(variable).map(|text| text.trim().to_lowercase()) {
            None => Ok(default),
            Some(text) if ["true", "1", "yes", "on"].contains(&text.as_str()) => Ok(true),
            Some(text) if ["false", "0", "no", "off"].contains(&text.as_str()) => Ok(false),
            Some(text) => Err(ConfigError::new(variable, format!("expected true or false, got {text:?}"))),
        };
        let rate = |variable: &str, default: &str| {
            let text = parsed(variable, default);
            parse_rate_limit(&text).ok_or_else(|| {
                ConfigError::new(variable, format!("expected COUNT/WINDOW such as 10/15m, or off, got {text:?}"))
            })
        };

        let master_key = source.secret("AUTH_MASTER_KEY")?;
        if master_key.is_none() && matches!(database, DatabaseSettings::Postgres { .. }) {
            return Err(ConfigError::new(
                "AUTH_MASTER_KEY",
                "is required with PostgreSQL: every replica must seal and open the signing keys with the same key \
                 (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            ));
        }
        if let Some(key) = &master_key {
            auth_adapters::keys::MasterKey::from_base64(key.expose_secret())
                .map_err(|_| ConfigError::new("AUTH_MASTER_KEY", "expected the base64 of exactly 32 bytes"))?;
        }

        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_concurrency = count("AUTH_HASH_CONCURRENCY", cpus, 1, 1024)?;
        let trusted_proxies = match source.get("AUTH_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    IpNetwork::parse(item).ok_or_else(|| {
                        ConfigError::new(
                            "AUTH_TRUSTED_PROXIES",
                            format!("expected CIDRs such as 10.0.0.0/8, got {item:?}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let cors_origins = match source.get("AUTH_CORS_ORIGINS") {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(|origin| {
                    let well_formed = (origin.starts_with("https://") || origin.starts_with("http://"))
                        && !origin.trim_start_matches("https://").trim_start_matches("http://").contains('/')
                        && !origin.contains('*');
                    if well_formed {
                        Ok(origin.to_owned())
                    } else {
                        Err(ConfigError::new(
                            "AUTH_CORS_ORIGINS",
                            format!("expected origins such as https://app.example.com (no path, no wildcard), got {origin:?}"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let breached_passwords = match source.get("AUTH_BREACHED_PASSWORDS") {
            None => None,
            Some(path) => {
                let path = PathBuf::from(path);
                std::fs::File::open(&path).map_err(|error| {
                    ConfigError::new("AUTH_BREACHED_PASSWORDS", format!("cannot read {}: {error}", path.display()))
                })?;
                Some(path)
            }
        };
        let log_format = match source.get("AUTH_LOG_FORMAT") {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("pretty") => Some(LogFormat::Pretty),
            Some(other) => {
                return Err(ConfigError::new("AUTH_LOG_FORMAT", format!("expected json or pretty, got {other:?}")));
            }
        };
        let hsts = source.get("AUTH_HSTS").map(str::to_owned);
        if hsts.as_deref().is_some_and(|value| actix_web::http::header::HeaderValue::from_str(value).is_err()) {
            return Err(ConfigError::new("AUTH_HSTS", "is not a valid header value"));
        }
        let pool_size = count("AUTH_DATABASE_POOL_SIZE", 16, 1, 1024)?;
        let signing_algorithm = parsed("AUTH_SIGNING_ALG", "EdDSA")
            .trim()
            .parse::<SigningAlgorithm>()
            .map_err(|error| ConfigError::new("AUTH_SIGNING_ALG", error.to_string()))?;
        let key_rotation_period = match source.get("AUTH_KEY_ROTATION_PERIOD") {
            None => None,
            Some(_) => Some(duration("AUTH_KEY_ROTATION_PERIOD", "")?),
        };
        let key_reload_interval = duration("AUTH_KEY_RELOAD_INTERVAL", "1s")?;
        if key_reload_interval > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "AUTH_KEY_RELOAD_INTERVAL",
                "at most 60s: replicas must pick up a rotation or a retirement within a minute",
            ));
        }
        let access_ttl = duration("AUTH_ACCESS_TTL", "15m")?;
        if access_ttl > Duration::from_secs(86_400) {
            // Access tokens cannot be recalled from a verifier that trusts their signature; and the
            // revocation feed keeps two days of news.
            return Err(ConfigError::new("AUTH_ACCESS_TTL", "at most 1d: access tokens are meant to be short-lived"));
        }
        if let Some(period) = key_rotation_period {
            // A key must outlive the tokens it signed, and the next one its publication.
            if period < access_ttl * 2 || period < Duration::from_secs(3600) {
                return Err(ConfigError::new(
                    "AUTH_KEY_ROTATION_PERIOD",
                    "must be at least 1h and twice AUTH_ACCESS_TTL, e.g. 30d",
                ));
            }
        }

        Ok(Self {
            listen,
            metrics_listen,
            database,
            database_pool_size: u32::try_from(pool_size).unwrap_or(16),
            database_timeout: duration("AUTH_DATABASE_TIMEOUT", "3s")?,
            store,
            redis_timeout: duration("AUTH_REDIS_TIMEOUT", "1s")?,
            mail_outbox: PathBuf::from(parsed("AUTH_MAIL_OUTBOX", "data/outbox")),
            smtp_url,
            introspection_clients,
            smtp_timeout: duration("AUTH_SMTP_TIMEOUT", "10s")?,
            mail_from,
            mail_max_attempts: u32::try_from(count("AUTH_MAIL_MAX_ATTEMPTS", 12, 1, 100)?).unwrap_or(12),
            mail_retry: duration("AUTH_MAIL_RETRY", "10s")?,
            mail_poll_interval: duration("AUTH_MAIL_POLL_INTERVAL", "1s")?,
            mail_new_sign_in: flag("AUTH_MAIL_NEW_SIGN_IN", true)?,
            public_url,
            issuer,
            totp_issuer,
            mfa_token_ttl: duration("AUTH_MFA_TOKEN_TTL", "5m")?,
            audience,
            master_key,
            signing_algorithm,
            key_rotation_period,
            key_reload_interval,
            access_ttl,
            session_ttl: duration("AUTH_SESSION_TTL", "30d")?,
            session_idle_ttl: duration("AUTH_SESSION_IDLE_TTL", "7d")?,
            refresh_grace: duration("AUTH_REFRESH_GRACE", "10s")?,
            verify_email_ttl: duration("AUTH_VERIFY_EMAIL_TTL", "24h")?,
            reset_password_ttl: duration("AUTH_RESET_PASSWORD_TTL", "30m")?,
            hsts,
            require_email_verification: flag("AUTH_REQUIRE_EMAIL_VERIFICATION", true)?,
            password_min_length: count("AUTH_PASSWORD_MIN_LENGTH", 12, 1, auth_domain::password::MAX_PASSWORD_LENGTH)?,
            password_min_score: u8::try_from(count("AUTH_PASSWORD_MIN_SCORE", 3, 0, 4)?).unwrap_or(3),
            password_pepper: source.secret("AUTH_PASSWORD_PEPPER")?,
            rate_login_email: rate("AUTH_RATE_LOGIN_EMAIL", "10/15m")?,
            rate_login_ip: rate("AUTH_RATE_LOGIN_IP", "60/1m")?,
            rate_register_ip: rate("AUTH_RATE_REGISTER_IP", "10/1h")?,
            rate_email_send: rate("AUTH_RATE_EMAIL_SEND", "3/1h")?,
            rate_refresh_session: rate("AUTH_RATE_REFRESH_SESSION", "60/1m")?,
            rate_mfa_user: rate("AUTH_RATE_MFA_USER", "10/15m")?,
            rate_client_auth: rate("AUTH_RATE_CLIENT_AUTH", "10/15m")?,
            trusted_proxies,
            cors_origins,
            breached_passwords,
            hash_concurrency,
            hash_queue: count("AUTH_HASH_QUEUE", hash_concurrency * 4, 0, 1_000_000)?,
            log_format,
        })
    }

    /// The folder beside the SQLite file, where the embedded mode keeps its master key.
    pub fn data_folder(&self) -> PathBuf {
        match &self.database {
            DatabaseSettings::Sqlite { path } => path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            DatabaseSettings::Postgres { .. } => PathBuf::from("data"),
        }
    }
}

/// `id:secret,id:secret`: each id and secret non-empty, ids unique, no `:` in an id.
fn parse_clients(list: &str) -> Option<Vec<(String, SecretString)>> {
    let mut clients: Vec<(String, SecretString)> = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (id, secret) = pair.split_once(':')?;
        // A client must fit in the HTTP Basic credentials the server accepts.
        let too_long = pair.len() > crate::routes::oauth::MAX_CLIENT_CREDENTIALS_BYTES;
        if id.is_empty() || secret.is_empty() || too_long || clients.iter().any(|(known, _)| known == id) {
            return None;
        }
        clients.push((id.to_owned(), SecretString::from(secret.to_owned())));
    }
    Some(clients)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(variables: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let source = SettingsSource::from_variables(variables.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))?;
        Settings::load(&source)
    }

    #[test]
    fn an_introspection_client_must_fit_in_the_credentials_the_server_accepts() {
        let longest = format!("gateway:{}", "s".repeat(crate::routes::oauth::MAX_CLIENT_CREDENTIALS_BYTES - 8));
        let settings = load(&[("AUTH_INTROSPECTION_CLIENTS", longest.as_str())]).expect("it fits");
        assert_eq!(settings.introspection_clients.len(), 1);
        let too_long = format!("{longest}s");
        let error = load(&[("AUTH_INTROSPECTION_CLIENTS", too_long.as_str())]).expect_err("it does not fit");
        assert!(error.to_string().starts_with("AUTH_INTROSPECTION_CLIENTS"), "{error}");
        assert!(!error.to_string().contains("sss"), "the secret is not repeated: {error}");
    }

    #[test]
    #[cfg(unix)]
    fn a_variable_that_is_not_utf8_is_an_error_if_ours_and_ignored_otherwise() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let not_utf8 = || OsString::from_vec(vec![b'a', 0xff, b'b']);
        let others = vec![(OsString::from("LANG_GARBLED"), not_utf8()), (OsString::from_vec(vec![0xfe]), "x".into())];
        let source = SettingsSource::from_os_variables(others).expect("foreign variables are ignored");
        assert!(Settings::load(&source).is_ok());
        let ours = vec![(OsString::from("AUTH_AUDIENCE"), not_utf8())];
        let error = SettingsSource::from_os_variables(ours).expect_err("ours must be text");
        assert_eq!(error.variable, "AUTH_AUDIENCE");
    }

    #[test]
    fn no_configuration_gives_the_embedded_defaults() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.listen, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(settings.database, DatabaseSettings::Sqlite { path: PathBuf::from("data/auth.db") });
        assert_eq!(settings.issuer, "http://localhost:8080");
        assert_eq!(settings.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(settings.rate_login_email, Some(RateLimit::new(10, Duration::from_secs(900))));
        assert_eq!(settings.data_folder(), PathBuf::from("data"));
        assert_eq!(settings.signing_algorithm, SigningAlgorithm::EdDsa);
        assert_eq!(settings.key_rotation_period, None);
    }

    #[test]
    fn signing_keys_settings_are_validated() {
        let settings = load(&[("AUTH_SIGNING_ALG", "RS256"), ("AUTH_KEY_ROTATION_PERIOD", "30d")]).expect("valid");
        assert_eq!(settings.signing_algorithm, SigningAlgorithm::Rs256);
        assert_eq!(settings.key_rotation_period, Some(Duration::from_secs(30 * 86_400)));
        for (variable, value) in [
            ("AUTH_SIGNING_ALG", "HS256"),
            ("AUTH_SIGNING_ALG", "none"),
            ("AUTH_KEY_ROTATION_PERIOD", "10m"),
            ("AUTH_KEY_ROTATION_PERIOD", "soon"),
            ("AUTH_KEY_RELOAD_INTERVAL", "5m"),
            ("AUTH_ACCESS_TTL", "2d"),
        ] {
            let error = load(&[(variable, value)]).expect_err(value);
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let error = load(&[("AUTH_ACCESS_TTL", "15 minutes")]).expect_err("invalid");
        assert_eq!(error.variable, "AUTH_ACCESS_TTL");
        assert_eq!(load(&[("AUTH_LISTEN", "nowhere")]).expect_err("invalid").variable, "AUTH_LISTEN");
        assert_eq!(load(&[("AUTH_RATE_LOGIN_IP", "ten")]).expect_err("invalid").variable, "AUTH_RATE_LOGIN_IP");
        assert_eq!(load(&[("AUTH_PASSWORD_MIN_SCORE", "5")]).expect_err("invalid").variable, "AUTH_PASSWORD_MIN_SCORE");
    }

    #[test]
    fn postgres_needs_a_master_key_and_redis_takes_a_prefix() {
        let error = load(&[("AUTH_DATABASE_URL", "postgres://user:pw@db/auth")]).expect_err("no master key");
        assert_eq!(error.variable, "AUTH_MASTER_KEY");
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let settings = load(&[
            ("AUTH_DATABASE_URL", "postgres://user:pw@db/auth"),
            ("AUTH_MASTER_KEY", key),
            ("AUTH_REDIS_URL", "redis://cache:6379"),
        ])
        .expect("valid");
        assert!(matches!(settings.database, DatabaseSettings::Postgres { .. }));
        assert!(matches!(settings.store, StoreSettings::Redis { ref prefix, .. } if prefix == "auth:"));
        assert!(!format!("{settings:?}").contains("pw@"), "the URL's password never prints");
    }

    #[test]
    fn a_secret_can_come_from_the_file_its_file_variable_names() {
        use secrecy::ExposeSecret;
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("master-key");
        std::fs::write(&path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").expect("write");
        let path = path.to_string_lossy().into_owned();
        let settings =
            load(&[("AUTH_DATABASE_URL", "postgres://db/auth"), ("AUTH_MASTER_KEY_FILE", &path)]).expect("valid");
        let key = settings.master_key.expect("the key is read from the file");
        assert_eq!(
            key.expose_secret(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "the trailing newline is trimmed"
        );
        let missing = load(&[("AUTH_MASTER_KEY_FILE", "/nonexistent/key")]).expect_err("unreadable");
        assert_eq!(missing.variable, "AUTH_MASTER_KEY_FILE");
    }

    #[test]
    fn a_bad_database_url_is_named_but_not_echoed() {
        let error = load(&[("AUTH_DATABASE_URL", "mysql://root:hunter2@db")]).expect_err("invalid");
        assert_eq!(error.variable, "AUTH_DATABASE_URL");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn a_misspelt_variable_is_reported_and_secret_files_count_as_read() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let key_file = folder.path().join("key");
        std::fs::write(&key_file, "a2V5LWJ5dGVzLWtleS1ieXRlcy1rZXktYnl0ZXMtMzI=\n").expect("written");
        let variables = [
            ("AUTH_LISTEN", "127.0.0.1:9000"),
            ("AUTH_LISTNE", "0.0.0.0:80"),
            ("AUTH_MASTER_KEY_FILE", key_file.to_str().expect("utf-8")),
            ("AUTH_TEST_DATABASE_URL", "postgres://ignored"),
        ];
        let source = SettingsSource::from_variables(variables.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .expect("a source");
        Settings::load(&source).expect("valid");
        assert_eq!(source.unread_variables(), ["AUTH_LISTNE"]);
    }

    #[test]
    fn a_bad_master_key_is_named_but_not_echoed() {
        let error = load(&[("AUTH_MASTER_KEY", "hunter2-secret")]).expect_err("invalid");
        assert_eq!(error.variable, "AUTH_MASTER_KEY");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0ms"), None);
    }

    #[test]
    fn a_duration_past_a_hundred_years_is_refused() {
        assert_eq!(parse_duration("36500d"), Some(MAX_DURATION));
        assert_eq!(parse_duration("36501d"), None);
        assert_eq!(parse_duration("18446744073709551615ms"), None);
        // Accepted before, then every login would have panicked (the `config` fuzz target checks it)
        // adding it to the present, past year 9999.
        let error = load(&[("AUTH_SESSION_TTL", "3000000d")]).expect_err("too long");
        assert_eq!(error.variable, "AUTH_SESSION_TTL");
    }

    #[test]
    fn rate_limits_can_be_switched_off() {
        assert_eq!(parse_rate_limit("off"), Some(None));
        assert_eq!(parse_rate_limit("10/15m"), Some(Some(RateLimit::new(10, Duration::from_secs(900)))));
        assert_eq!(parse_rate_limit("0/1m"), None);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("auth.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nAUTH_AUDIENCE = \"from-file\"\n").expect("write");
        let path = path.to_string_lossy().into_owned();
        let settings = load(&[("AUTH_CONFIG", &path), ("AUTH_AUDIENCE", "from-env")]).expect("valid");
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.audience, "from-env");
    }

    #[test]
    fn trusted_proxies_match_their_networks() {
        let network = IpNetwork::parse("10.0.0.0/8").expect("cidr");
        assert!(network.contains("10.1.2.3".parse().expect("ip")));
        assert!(!network.contains("11.0.0.1".parse().expect("ip")));
        assert!(IpNetwork::parse("::1").expect("cidr").contains("::1".parse().expect("ip")));
        assert!(IpNetwork::parse("10.0.0.0/33").is_none());
    }
}
