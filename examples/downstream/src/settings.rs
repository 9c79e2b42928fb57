//! [`Settings`]: the example's environment variables, read once and checked, and the
//! [`Verifier`] they describe.

use std::time::Duration;

use auth_verifier::{BuildError, RevocationFeed, Verifier};
use secrecy::{ExposeSecret, SecretString};

/// The example's configuration.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `DOWNSTREAM_LISTEN` | `127.0.0.1:8081` | the address to serve on |
/// | `AUTH_BASE_URL` | required | where authd is reached (its JWKS and revocation feed) |
/// | `AUTH_ISSUER` | `AUTH_BASE_URL` | the exact `iss` of authd's tokens (its AUTH_ISSUER) |
/// | `AUTH_AUDIENCE` | `authd` | the `aud` to accept (authd's AUTH_AUDIENCE) |
/// | `AUTH_REVOCATION_CLIENT` | unset | `id:secret`, one of authd's AUTH_INTROSPECTION_CLIENTS; unset: no revocation feed, logouts take effect at token expiry |
/// | `AUTH_MAX_STALENESS_MS` | `5000` | how stale the revocation list may get before tokens are refused |
pub struct Settings {
    pub listen: String,
    pub auth_base_url: String,
    pub issuer: String,
    pub audience: String,
    pub revocation_client: Option<(String, SecretString)>,
    pub max_staleness: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("auth_base_url", &self.auth_base_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("revocation_client", &self.revocation_client.as_ref().map(|(id, _)| (id, "[redacted]")))
            .field("max_staleness", &self.max_staleness)
            .finish()
    }
}

/// A variable that is missing or has an unusable value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: &'static str,
}

impl Settings {
    /// The settings from the process environment.
    ///
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// The first variable that is missing or invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let error = |variable, problem| SettingsError { variable, problem };
        let auth_base_url = lookup("AUTH_BASE_URL")
            .filter(|url| !url.trim().is_empty())
            .ok_or(error("AUTH_BASE_URL", "is required (for example http://127.0.0.1:8080)"))?
            .trim_end_matches('/')
            .to_owned();
        let revocation_client = match lookup("AUTH_REVOCATION_CLIENT") {
            None => None,
            Some(value) => {
                let (id, secret) = value
                    .split_once(':')
                    .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                    .ok_or(error("AUTH_REVOCATION_CLIENT", "expected id:secret"))?;
                Some((id.to_owned(), SecretString::from(secret.to_owned())))
            }
        };
        let max_staleness = match lookup("AUTH_MAX_STALENESS_MS") {
            None => Duration::from_secs(5),
            Some(value) => Duration::from_millis(
                value.parse().map_err(|_| error("AUTH_MAX_STALENESS_MS", "expected milliseconds"))?,
            ),
        };
        Ok(Self {
            listen: lookup("DOWNSTREAM_LISTEN").unwrap_or_else(|| "127.0.0.1:8081".to_owned()),
            issuer: lookup("AUTH_ISSUER").unwrap_or_else(|| auth_base_url.clone()),
            audience: lookup("AUTH_AUDIENCE").unwrap_or_else(|| "authd".to_owned()),
            auth_base_url,
            revocation_client,
            max_staleness,
        })
    }

    /// The verifier these settings describe: authd's JWKS at `{AUTH_BASE_URL}/.well-known/jwks.json`
    /// (named directly rather than discovered, so that authd's public URL need not be reachable
    /// from here), and its revocation feed when a client is configured.
    ///
    /// # Errors
    /// As [`auth_verifier::VerifierBuilder::build`].
    pub async fn verifier(&self) -> Result<Verifier, BuildError> {
        let mut builder = Verifier::builder(&self.issuer, &self.audience)
            .jwks_url(format!("{}/.well-known/jwks.json", self.auth_base_url))
            .max_staleness(self.max_staleness);
        if let Some((id, secret)) = &self.revocation_client {
            builder = builder.revocation_feed(RevocationFeed::at_base_url(
                &self.auth_base_url,
                id.as_str(),
                secret.expose_secret(),
            ));
        }
        builder.build().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_base_url_and_the_secret_is_never_printed() {
        let read =
            settings(&[("AUTH_BASE_URL", "http://127.0.0.1:8080/"), ("AUTH_REVOCATION_CLIENT", "shop:s3cr3t:x")])
                .unwrap();
        assert_eq!(read.auth_base_url, "http://127.0.0.1:8080");
        assert_eq!(read.issuer, "http://127.0.0.1:8080");
        assert_eq!(read.audience, "authd");
        let (id, secret) = read.revocation_client.as_ref().unwrap();
        assert_eq!((id.as_str(), secret.expose_secret()), ("shop", "s3cr3t:x"));
        assert!(!format!("{read:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_missing_base_url_or_a_client_without_secret_is_named() {
        assert_eq!(settings(&[]).unwrap_err().variable, "AUTH_BASE_URL");
        let no_secret = settings(&[("AUTH_BASE_URL", "http://a"), ("AUTH_REVOCATION_CLIENT", "shop")]);
        assert_eq!(no_secret.unwrap_err().variable, "AUTH_REVOCATION_CLIENT");
    }
}
