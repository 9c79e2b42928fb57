//! Fuzz target: configuration values. One AUTH_* variable at a time gets the fuzzed value (or the
//! fuzzed text is the AUTH_CONFIG file) and goes through `SettingsSource::from_variables` and
//! `Settings::load`: a bad value is an error naming its variable, never a panic, and never echoes
//! a secret; a value that loads is one the service can use (every duration can be added to the
//! present, the proxy networks can be matched).
#![no_main]

use std::io::Write;
use std::time::Duration;

use auth_http::config::{Settings, SettingsSource};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

/// Every variable whose value is parsed, not a path to open (AUTH_BREACHED_PASSWORDS, the
/// `*_FILE` variables and AUTH_MAIL_OUTBOX name files, which a fuzzer should not go looking for).
const VARIABLES: &[&str] = &[
    "AUTH_LISTEN",
    "AUTH_METRICS_LISTEN",
    "AUTH_DATABASE_URL",
    "AUTH_REDIS_URL",
    "AUTH_REDIS_PREFIX",
    "AUTH_INTROSPECTION_CLIENTS",
    "AUTH_SMTP_URL",
    "AUTH_PUBLIC_URL",
    "AUTH_ISSUER",
    "AUTH_TOTP_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_MAIL_FROM",
    "AUTH_MASTER_KEY",
    "AUTH_HASH_CONCURRENCY",
    "AUTH_HASH_QUEUE",
    "AUTH_TRUSTED_PROXIES",
    "AUTH_CORS_ORIGINS",
    "AUTH_LOG_FORMAT",
    "AUTH_HSTS",
    "AUTH_DATABASE_POOL_SIZE",
    "AUTH_SIGNING_ALG",
    "AUTH_KEY_ROTATION_PERIOD",
    "AUTH_KEY_RELOAD_INTERVAL",
    "AUTH_ACCESS_TTL",
    "AUTH_DATABASE_TIMEOUT",
    "AUTH_REDIS_TIMEOUT",
    "AUTH_SMTP_TIMEOUT",
    "AUTH_MAIL_MAX_ATTEMPTS",
    "AUTH_MAIL_RETRY",
    "AUTH_MAIL_POLL_INTERVAL",
    "AUTH_MAIL_NEW_SIGN_IN",
    "AUTH_MFA_TOKEN_TTL",
    "AUTH_SESSION_TTL",
    "AUTH_SESSION_IDLE_TTL",
    "AUTH_REFRESH_GRACE",
    "AUTH_VERIFY_EMAIL_TTL",
    "AUTH_RESET_PASSWORD_TTL",
    "AUTH_REQUIRE_EMAIL_VERIFICATION",
    "AUTH_PASSWORD_MIN_LENGTH",
    "AUTH_PASSWORD_MIN_SCORE",
    "AUTH_PASSWORD_PEPPER",
    "AUTH_RATE_LOGIN_EMAIL",
    "AUTH_RATE_LOGIN_IP",
    "AUTH_RATE_REGISTER_IP",
    "AUTH_RATE_EMAIL_SEND",
    "AUTH_RATE_REFRESH_SESSION",
    "AUTH_RATE_MFA_USER",
    "AUTH_RATE_CLIENT_AUTH",
];

/// Variables that may hold a password or a key: their values are never repeated in an error.
const SECRETS: &[&str] = &[
    "AUTH_DATABASE_URL",
    "AUTH_REDIS_URL",
    "AUTH_SMTP_URL",
    "AUTH_INTROSPECTION_CLIENTS",
    "AUTH_MASTER_KEY",
    "AUTH_PASSWORD_PEPPER",
];

/// The seeds put this word in secrets; no message of `config.rs` contains it.
const SECRET_MARKER: &str = "hunter2";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, value)) = data.split_first() else { return };
    let value = String::from_utf8_lossy(value).into_owned();
    let index = usize::from(selector) % (VARIABLES.len() + 1);
    let mut variables = Vec::new();
    // The file's contents when the fuzzed text is the AUTH_CONFIG file; kept until the end.
    let mut file = None;
    match VARIABLES.get(index) {
        Some(&variable) => {
            if variable == "AUTH_REDIS_PREFIX" {
                // A prefix is read only when Redis is configured.
                variables.push(("AUTH_REDIS_URL".to_owned(), "redis://cache:6379".to_owned()));
            }
            variables.push((variable.to_owned(), value.clone()));
        }
        None => {
            // A file may name other files (`*_FILE`, AUTH_BREACHED_PASSWORDS), which are read: a
            // device such as /dev/zero would never end. Those keys are judged by name only.
            let lower = value.to_lowercase();
            if ["file", "breached", "/dev", "/proc"].iter().any(|word| lower.contains(word)) {
                return;
            }
            let mut config = tempfile();
            config.write_all(value.as_bytes()).expect("the temporary file is writable");
            variables.push(("AUTH_CONFIG".to_owned(), config.path.clone()));
            file = Some(config);
        }
    }
    let source = match SettingsSource::from_variables(variables) {
        Ok(source) => source,
        Err(error) => {
            assert!(file.is_some(), "only AUTH_CONFIG is read by from_variables: {error}");
            return;
        }
    };
    match Settings::load(&source) {
        Err(error) => {
            let Some(&variable) = VARIABLES.get(index) else { return };
            // A value may be valid alone and invalid with the defaults of another variable.
            let blamed_on_a_dependent = matches!(
                (variable, error.variable.as_str()),
                ("AUTH_DATABASE_URL", "AUTH_MASTER_KEY") | ("AUTH_PUBLIC_URL", "AUTH_TOTP_ISSUER")
            );
            assert!(error.variable == variable || blamed_on_a_dependent, "{variable}={value:?} gave {error}");
            if SECRETS.contains(&variable) && value.contains(SECRET_MARKER) {
                assert!(!error.to_string().contains(SECRET_MARKER), "{variable}'s value was echoed: {error}");
            }
        }
        Ok(settings) => usable(&settings),
    }
    drop(file);
});

/// What the service does with loaded settings, and must be able to do without a panic: add each
/// lifetime to the present (a session's expiry, a link's), multiply the SMTP timeout into a lease,
/// match client addresses against the trusted proxies.
fn usable(settings: &Settings) {
    let now = OffsetDateTime::now_utc();
    for (name, duration) in [
        ("access_ttl", settings.tokens.access_ttl),
        ("session_ttl", settings.tokens.session_ttl),
        ("session_idle_ttl", settings.tokens.session_idle_ttl),
        ("refresh_grace", settings.tokens.refresh_grace),
        ("verify_email_ttl", settings.tokens.verify_email_ttl),
        ("reset_password_ttl", settings.tokens.reset_password_ttl),
        ("mfa_token_ttl", settings.tokens.mfa_token_ttl),
        ("key_rotation_period", settings.keys.rotation_period.unwrap_or_default()),
        ("key_reload_interval", settings.keys.reload_interval),
        ("database_timeout", settings.database.timeout),
        ("redis_timeout", settings.redis.timeout),
        ("smtp_timeout", settings.mail.smtp_timeout),
        ("mail_retry", settings.mail.retry),
        ("mail_poll_interval", settings.mail.poll_interval),
    ] {
        let later = time::Duration::try_from(duration).ok().and_then(|duration| now.checked_add(duration));
        assert!(later.is_some(), "{name} = {duration:?} was accepted but cannot be added to the present");
    }
    assert!(settings.mail.smtp_timeout.checked_mul(6).is_some());
    assert!(settings.tokens.access_ttl.checked_add(Duration::from_secs(30)).is_some());
    for candidate in ["127.0.0.1", "10.1.2.3", "::1", "::ffff:10.1.2.3", "2001:db8::1"] {
        let candidate = candidate.parse().expect("an address");
        for network in &settings.server.trusted_proxies {
            let _ = network.contains(candidate);
        }
    }
}

/// A file of this process's own in the temporary folder, removed when dropped.
struct TempFile {
    path: String,
    file: std::fs::File,
}

impl Write for TempFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn tempfile() -> TempFile {
    let path = std::env::temp_dir().join(format!("authd-fuzz-config-{}.toml", std::process::id()));
    let file = std::fs::File::create(&path).expect("a temporary file");
    TempFile { path: path.to_string_lossy().into_owned(), file }
}
