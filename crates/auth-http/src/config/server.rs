//! The HTTP side: addresses, the public URL, proxies, browsers, resource-server clients, logs.

use std::net::{IpAddr, SocketAddr};

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, SettingsSource};

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
    pub(crate) fn parse(text: &str) -> Option<Self> {
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

/// How the service is reached and what it tells its callers.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// When set, `/metrics` is served here; unset, nowhere. Never beside the API.
    pub metrics_listen: Option<SocketAddr>,
    /// Without a trailing slash: the base of mailed links and of the issuer's default.
    pub public_url: String,
    pub hsts: Option<String>,
    pub trusted_proxies: Vec<IpNetwork>,
    /// Browser origins allowed to call the API (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// The resource servers allowed to call /oauth/introspect: `(client id, secret)`.
    pub introspection_clients: Vec<(String, SecretString)>,
    pub log_format: Option<LogFormat>,
}

impl ServerSettings {
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let metrics_listen = source
            .optional("AUTH_METRICS_LISTEN")
            .map(|text| {
                text.parse::<SocketAddr>().map_err(|_| {
                    ConfigError::new(
                        "AUTH_METRICS_LISTEN",
                        format!("expected an address such as 0.0.0.0:9090, got {text:?}"),
                    )
                })
            })
            .transpose()?;
        let listen = source.text("AUTH_LISTEN", "127.0.0.1:8080");
        let listen: SocketAddr = listen.parse().map_err(|_| {
            ConfigError::new("AUTH_LISTEN", format!("expected an address such as 127.0.0.1:8080, got {listen:?}"))
        })?;
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
        let public_url = source.text("AUTH_PUBLIC_URL", "http://localhost:8080").trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(char::is_whitespace)
        {
            return Err(ConfigError::new(
                "AUTH_PUBLIC_URL",
                format!("expected an http:// or https:// URL, got {public_url:?}"),
            ));
        }
        let trusted_proxies = match source.optional("AUTH_TRUSTED_PROXIES") {
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
        let cors_origins = match source.optional("AUTH_CORS_ORIGINS") {
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
        let log_format = match source.derived("AUTH_LOG_FORMAT", "pretty when standard error is a terminal, else json")
        {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("pretty") => Some(LogFormat::Pretty),
            Some(other) => {
                return Err(ConfigError::new("AUTH_LOG_FORMAT", format!("expected json or pretty, got {other:?}")));
            }
        };
        let hsts = source.optional("AUTH_HSTS").map(str::to_owned);
        if hsts.as_deref().is_some_and(|value| actix_web::http::header::HeaderValue::from_str(value).is_err()) {
            return Err(ConfigError::new("AUTH_HSTS", "is not a valid header value"));
        }
        Ok(Self {
            listen,
            metrics_listen,
            public_url,
            hsts,
            trusted_proxies,
            cors_origins,
            introspection_clients,
            log_format,
        })
    }

    /// The host of the public URL, without its port: a colon would split an authenticator app's label.
    pub fn public_host(&self) -> &str {
        self.public_url.split("://").nth(1).unwrap_or_default().split(['/', ':']).next().unwrap_or_default()
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
