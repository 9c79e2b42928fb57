//! Configuration: read once from the environment (and an optional TOML file) into typed settings,
//! every value validated before the server listens.
//!
//! One section per concern, each read by its own `load` from the same [`SettingsSource`]; the
//! variable names stay flat (`AUTH_SMTP_TIMEOUT`, not `AUTH_MAIL__SMTP_TIMEOUT`).

mod accounts;
mod database;
mod keys;
mod mail;
mod rate_limits;
mod redis;
mod server;
mod source;
mod tokens;

pub use accounts::AccountSettings;
use auth_domain::RateLimits;
pub use database::{DatabaseLocation, DatabaseSettings};
pub use keys::KeySettings;
pub use mail::MailSettings;
pub use redis::{RedisSettings, StoreSettings};
pub use server::{IpNetwork, LogFormat, ServerSettings};
pub use source::{ConfigError, MAX_DURATION, SettingsSource, format_rate_limit, parse_duration, parse_rate_limit};
pub use tokens::TokenSettings;

/// Every setting of the service, validated, by section.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub mail: MailSettings,
    pub tokens: TokenSettings,
    pub keys: KeySettings,
    pub accounts: AccountSettings,
    pub rate_limits: RateLimits,
}

impl Settings {
    /// Reads and validates every setting.
    ///
    /// # Errors
    /// The first invalid setting, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let server = ServerSettings::load(source)?;
        let database = DatabaseSettings::load(source)?;
        let redis = RedisSettings::load(source)?;
        let mail = MailSettings::load(source)?;
        let tokens = TokenSettings::load(source, &server)?;
        let keys = KeySettings::load(source, &database, &tokens)?;
        let accounts = AccountSettings::load(source)?;
        let rate_limits = rate_limits::load(source)?;
        Ok(Self { server, database, redis, mail, tokens, keys, accounts, rate_limits })
    }

    /// The folder beside the SQLite file, where the embedded mode keeps its master key.
    pub fn data_folder(&self) -> std::path::PathBuf {
        self.database.data_folder()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use auth_adapters::keys::SigningAlgorithm;
    use auth_domain::RateLimit;

    use super::*;

    fn load(variables: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let source = SettingsSource::from_variables(variables.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))?;
        Settings::load(&source)
    }

    #[test]
    fn an_introspection_client_must_fit_in_the_credentials_the_server_accepts() {
        let longest = format!("gateway:{}", "s".repeat(crate::routes::oauth::MAX_CLIENT_CREDENTIALS_BYTES - 8));
        let settings = load(&[("AUTH_INTROSPECTION_CLIENTS", longest.as_str())]).expect("it fits");
        assert_eq!(settings.server.introspection_clients.len(), 1);
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
        assert_eq!(settings.server.listen, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(settings.database.location, DatabaseLocation::Sqlite { path: PathBuf::from("data/auth.db") });
        assert_eq!(settings.tokens.issuer, "http://localhost:8080");
        assert_eq!(settings.tokens.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(settings.rate_limits.login_failures_per_email, Some(RateLimit::new(10, Duration::from_secs(900))));
        assert_eq!(settings.data_folder(), PathBuf::from("data"));
        assert_eq!(settings.keys.signing_algorithm, SigningAlgorithm::EdDsa);
        assert_eq!(settings.keys.rotation_period, None);
    }

    #[test]
    fn signing_keys_settings_are_validated() {
        let settings = load(&[("AUTH_SIGNING_ALG", "RS256"), ("AUTH_KEY_ROTATION_PERIOD", "30d")]).expect("valid");
        assert_eq!(settings.keys.signing_algorithm, SigningAlgorithm::Rs256);
        assert_eq!(settings.keys.rotation_period, Some(Duration::from_secs(30 * 86_400)));
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
        assert!(matches!(settings.database.location, DatabaseLocation::Postgres { .. }));
        assert!(matches!(settings.redis.store, StoreSettings::Redis { ref prefix, .. } if prefix == "auth:"));
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
        let key = settings.keys.master_key.expect("the key is read from the file");
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
        assert_eq!(settings.server.listen.port(), 9000);
        assert_eq!(settings.tokens.audience, "from-env");
    }

    #[test]
    fn trusted_proxies_match_their_networks() {
        let network = IpNetwork::parse("10.0.0.0/8").expect("cidr");
        assert!(network.contains("10.1.2.3".parse().expect("ip")));
        assert!(!network.contains("11.0.0.1".parse().expect("ip")));
        assert!(IpNetwork::parse("::1").expect("cidr").contains("::1".parse().expect("ip")));
        assert!(IpNetwork::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn a_rate_limit_default_is_written_as_it_is_read() {
        for text in ["10/15m", "60/1m", "10/1h", "3/1h", "5/2d", "7/90s", "2/250ms", "off"] {
            assert_eq!(format_rate_limit(parse_rate_limit(text).expect("valid")), text);
        }
    }

    #[test]
    fn every_setting_records_the_default_it_applies() {
        let source = SettingsSource::from_variables([("AUTH_REDIS_URL".to_owned(), "redis://cache".to_owned())])
            .expect("a source");
        Settings::load(&source).expect("valid");
        let defaults = source.defaults();
        assert_eq!(defaults["AUTH_ACCESS_TTL"], "15m");
        assert_eq!(defaults["AUTH_RATE_EMAIL_SEND"], "3/1h");
        assert_eq!(defaults["AUTH_PASSWORD_MIN_LENGTH"], "12");
        assert_eq!(defaults["AUTH_DATABASE_URL"], "sqlite://data/auth.db");
        assert_eq!(defaults["AUTH_REDIS_PREFIX"], "auth:");
        assert_eq!(defaults["AUTH_MASTER_KEY"], "unset");
        assert!(!defaults.keys().any(|name| name.ends_with("_FILE")), "{defaults:?}");
    }
}
