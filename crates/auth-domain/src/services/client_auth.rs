//! Use case: authenticate a resource-server client (introspection, the revocation feed) by the
//! id and secret it presents, counting failures so that a weak secret cannot be guessed online.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::{ClaimedClient, ClientService, RequestContext};
use crate::error::InfrastructureError;
use crate::rate_limit::RateLimitExceeded;

/// The resource servers allowed to introspect tokens and read the revocation feed
/// (AUTH_INTROSPECTION_CLIENTS): each an id and its secret.
#[derive(Debug, Clone, Default)]
pub struct ResourceClients(Vec<(String, SecretString)>);

impl ResourceClients {
    pub fn new(clients: Vec<(String, SecretString)>) -> Self {
        Self(clients)
    }

    /// Whether `id` and `secret` are those of a configured client. Every secret is compared in
    /// constant time, whichever id matched.
    fn admit(&self, id: &str, secret: &str) -> bool {
        let mut admitted = false;
        for (known_id, known_secret) in &self.0 {
            let secret_matches: bool = known_secret.expose_secret().as_bytes().ct_eq(secret.as_bytes()).into();
            admitted |= known_id == id && secret_matches;
        }
        admitted
    }

    /// Whether `id` is a configured client's (ids are not secrets; their secrets are).
    fn knows(&self, id: &str) -> bool {
        self.0.iter().any(|(known_id, _)| known_id == id)
    }
}

/// The id and secret a client presented. `Debug` leaves the secret out.
#[derive(Clone, Copy)]
pub struct ClientCredentials<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl std::fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("id", &self.id).field("secret", &"[redacted]").finish()
    }
}

/// Why a resource-server client was not let in; each endpoint answers it in its own format.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error(transparent)]
    Throttled(RateLimitExceeded),
    #[error("the client credentials are missing or wrong")]
    Rejected,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl ClientService {
    /// Authenticates the calling client: each attempt is counted against its id and address
    /// (against all unknown ids together there, for an id no client has) before the secret is
    /// compared, refused at once past the allowance, and a success gives it back.
    ///
    /// # Errors
    /// [`ClientAuthError::Rejected`] without credentials (not counted: nothing was guessed, and a
    /// client without credentials must not lock out the well-configured ones at its address) or
    /// with wrong ones; [`ClientAuthError::Throttled`] past the allowance.
    pub async fn authenticate_client(
        &self,
        credentials: Option<ClientCredentials<'_>>,
        context: &RequestContext,
    ) -> Result<(), ClientAuthError> {
        let Some(credentials) = credentials else { return Err(ClientAuthError::Rejected) };
        let clients = &self.policy().resource_clients;
        let claimed = ClaimedClient { id: credentials.id, configured: clients.knows(credentials.id) };
        if let Some(exceeded) = self.reserve_client_auth_attempt(claimed, context).await? {
            return Err(ClientAuthError::Throttled(exceeded));
        }
        let admitted = clients.admit(credentials.id, credentials.secret);
        self.settle_client_auth_attempt(claimed, context, admitted).await?;
        if !admitted {
            return Err(ClientAuthError::Rejected);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::ResourceClients;

    fn clients() -> ResourceClients {
        ResourceClients::new(vec![
            ("gateway".to_owned(), SecretString::from("gateway-secret")),
            ("billing".to_owned(), SecretString::from("billing-secret")),
        ])
    }

    #[test]
    fn only_a_configured_id_with_its_own_secret_is_admitted() {
        let clients = clients();
        assert!(clients.admit("gateway", "gateway-secret"));
        assert!(clients.admit("billing", "billing-secret"));
        assert!(!clients.admit("gateway", "billing-secret"), "another client's secret");
        assert!(!clients.admit("gateway", "gateway-secre"), "a prefix of the secret");
        assert!(!clients.admit("nobody", "gateway-secret"), "an unknown id");
        assert!(!ResourceClients::default().admit("", ""), "no clients configured");
    }

    #[test]
    fn ids_are_known_exactly() {
        assert!(clients().knows("billing"));
        assert!(!clients().knows("Billing"));
    }
}
