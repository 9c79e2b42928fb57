//! Use cases behind the OAuth 2.0 endpoints that are not a login or a refresh: revoking a token
//! (RFC 7009) and introspecting one (RFC 7662). The grants of the token endpoint are
//! [`LoginService::login`](super::LoginService::login) and
//! [`SessionService::refresh`](super::SessionService::refresh) themselves.

use sha2::{Digest, Sha256};

use std::sync::Arc;

use time::OffsetDateTime;

use super::common::{Auditor, limit_keys};
use super::{AuthPolicy, AuthPorts, AuthenticateError, Authenticator, RequestContext, RevocationService};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::ports::{AccessTokenCodec, Clock, RateLimiter, SessionRepository, UserRepository};
use crate::rate_limit::RateLimitExceeded;

use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::session::{RevocationReason, Session};
use crate::tokens::{AccessClaims, RefreshToken};

/// A resource-server client as its HTTP Basic credentials claim it to be, for counting failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedClient<'a> {
    /// The id it sent: anything, up to the length the HTTP layer lets through.
    pub id: &'a str,
    /// Whether `id` is one of the configured clients'. Only those get a count of their own at an
    /// address; made-up ids share one, or each would be a rate-limit key of its own.
    pub configured: bool,
}

impl ClaimedClient<'_> {
    /// The first 8 hex digits of the SHA-256 of the claimed id: enough to tell in the logs whether
    /// failures repeat one id, without writing a caller's text, of any length, into them.
    pub fn id_digest(&self) -> String {
        Sha256::digest(self.id.as_bytes())[..4].iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn configured_id(&self) -> Option<&str> {
        self.configured.then_some(self.id)
    }
}

/// What introspection finds a token to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Unknown, malformed, expired, revoked, rotated away, or of a disabled account: RFC 7662
    /// says no more than `{"active": false}` about any of these.
    Inactive,
    /// A live access token, with its claims.
    AccessToken(AccessClaims),
    /// The current refresh token of a live session.
    RefreshToken { session: Session, issued_at: time::OffsetDateTime },
}

/// How far back each read of the revocation feed looks before its cursor: a revocation is stamped
/// with its replica's clock before its transaction commits, so one stamped just before a cursor
/// may become visible just after it. Repeats are harmless to a reader; a miss would not be.
pub const REVOCATION_FEED_OVERLAP: time::Duration = time::Duration::seconds(30);
/// The most revocations one read of the feed returns.
pub const REVOCATION_FEED_PAGE: usize = 5_000;

/// Where a read of the revocation feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedPosition {
    /// The reader has every revocation up to this instant; the next read looks back by the
    /// overlap from it.
    CaughtUp(OffsetDateTime),
    /// The reader is paging through a backlog: the next read starts strictly after this row.
    After { revoked_at: OffsetDateTime, session_id: SessionId },
}

/// One read of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFeed {
    /// The revoked sessions whose access tokens may still be live, with the latest instant one
    /// of them could expire.
    pub sessions: Vec<(SessionId, OffsetDateTime)>,
    /// Where the next read starts.
    pub next: FeedPosition,
    /// Whether this page was full: more revocations follow at once, and the reader is not caught
    /// up until it has read them.
    pub more: bool,
}

/// What resource-server clients call: their authentication, the revocation feed, token
/// revocation and introspection.
#[derive(Clone)]
pub struct ClientService {
    sessions: Arc<dyn SessionRepository>,
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn AccessTokenCodec>,
    rate_limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
    authenticator: Authenticator,
    revocations: RevocationService,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for ClientService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientService")
    }
}

impl ClientService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            users: Arc::clone(&ports.users),
            tokens: Arc::clone(&ports.tokens),
            rate_limiter: Arc::clone(&ports.rate_limiter),
            clock: Arc::clone(&ports.clock),
            auditor: ports.auditor(),
            authenticator: Authenticator::new(ports, policy),
            revocations: RevocationService::new(ports, policy),
            policy: Arc::clone(policy),
        }
    }

    /// The issuer and audience that introspection answers carry.
    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// The sessions revoked since `position`; see [`RevocationService::revocation_feed`].
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn revocation_feed(&self, position: Option<FeedPosition>) -> Result<RevocationFeed, InfrastructureError> {
        self.revocations.revocation_feed(position).await
    }

    /// Reserves one authentication attempt of a resource-server client claiming to be `client`
    /// from this address, before its credentials are checked; `Some` is a refusal (too many failed
    /// authentications of that configured id, or of unknown ids together, from there recently),
    /// and nothing may be checked then. Counting first makes the allowance hold against
    /// concurrent guesses; [`ClientService::settle_client_auth_attempt`] gives a success its attempt
    /// back, so successful calls (a verifier polls the revocation feed every few seconds) never
    /// count.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn reserve_client_auth_attempt(
        &self,
        client: ClaimedClient<'_>,
        context: &RequestContext,
    ) -> Result<Option<RateLimitExceeded>, InfrastructureError> {
        let (Some(limit), Some(ip)) = (self.policy.rate_limits.client_auth_failures_per_ip, context.ip.as_ref()) else {
            return Ok(None);
        };
        let key = limit_keys::client_auth_failures(ip, client.configured_id());
        Ok(self.rate_limiter.hit(&key, limit).await?.exceeded())
    }

    /// Settles an attempt reserved by [`ClientService::reserve_client_auth_attempt`]: an admitted
    /// client gets it back; a failure stays counted, and is logged with a digest of the claimed id.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn settle_client_auth_attempt(
        &self,
        client: ClaimedClient<'_>,
        context: &RequestContext,
        admitted: bool,
    ) -> Result<(), InfrastructureError> {
        let (Some(limit), Some(ip)) = (self.policy.rate_limits.client_auth_failures_per_ip, context.ip.as_ref()) else {
            return Ok(());
        };
        let key = limit_keys::client_auth_failures(ip, client.configured_id());
        if admitted {
            self.rate_limiter.undo(&key, limit).await?;
        } else {
            tracing::warn!(
                client.ip = %ip,
                client.id_digest = %client.id_digest(),
                client.configured = client.configured,
                "a resource-server client failed to authenticate"
            );
        }
        Ok(())
    }

    /// Revokes the session of a refresh token or of an access token (RFC 7009 §2.1): the refresh
    /// token stops working, and the session's access tokens fail at once on every replica. A token
    /// that is unknown, malformed or already dead is not an error (§2.2): there is nothing to do.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn revoke_token(&self, token: &str, context: &RequestContext) -> Result<(), InfrastructureError> {
        let session = match RefreshToken::parse(token) {
            Some(refresh_token) => {
                self.sessions.find_by_refresh_token(&refresh_token.hash()).await?.map(|(session, _)| session)
            }
            // An access token whose signature and claims hold names its session; an expired one
            // has nothing left to revoke.
            None => match self.tokens.verify(token) {
                Ok(claims) => self.sessions.find(claims.sid).await?,
                Err(_) => None,
            },
        };
        let Some(session) = session else { return Ok(()) };
        let now = self.clock.now();
        if self.sessions.revoke(session.id, RevocationReason::Logout, now).await? {
            self.revocations.revoke_access_tokens(session.id, now).await?;
            let detail = AuditDetail::Via { via: "oauth_revoke" };
            self.auditor
                .record(AuditEventKind::Logout, Some(session.user_id), Some(session.id), context, detail)
                .await?;
        }
        Ok(())
    }

    /// Says whether a token is live, for a resource server (RFC 7662): an access token whose
    /// signature, claims and revocation all hold, or the current refresh token of a live session
    /// of an enabled account.
    ///
    /// # Errors
    /// Only infrastructure failures: a token whose revocation cannot be checked is not called
    /// inactive, since the caller would then refuse a valid token for our outage.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, InfrastructureError> {
        let Some(refresh_token) = RefreshToken::parse(token) else {
            return match self.authenticator.authenticate(token).await {
                Ok(principal) => Ok(Introspection::AccessToken(principal.claims)),
                Err(AuthenticateError::InvalidToken(_) | AuthenticateError::Revoked) => Ok(Introspection::Inactive),
                Err(AuthenticateError::Infrastructure(error)) => Err(error),
            };
        };
        let Some((session, record)) = self.sessions.find_by_refresh_token(&refresh_token.hash()).await? else {
            return Ok(Introspection::Inactive);
        };
        if record.rotated_at.is_some() || !session.is_active_at(self.clock.now()) {
            return Ok(Introspection::Inactive);
        }
        let enabled = self.users.find_by_id(session.user_id).await?.is_some_and(|user| !user.disabled);
        if !enabled {
            return Ok(Introspection::Inactive);
        }
        Ok(Introspection::RefreshToken { session, issued_at: record.issued_at })
    }
}

#[cfg(test)]
mod tests;
