//! The use cases, grouped by area. Each area is a service that holds only the ports and the
//! shared collaborators ([`common`]) it uses, so that a handler names the one service it needs
//! and a use case's tests build only what it touches:
//!
//! | service | use cases |
//! | --- | --- |
//! | [`LoginService`] | login, the second step of a login with a second factor |
//! | [`SessionService`] | refresh, logout, logout everywhere, one's own sessions |
//! | [`Authenticator`] | an access token to the caller it names |
//! | [`RegistrationService`] | register, verify the address, resend the verification |
//! | [`PasswordService`] | forgot, reset and change the password |
//! | [`AccountService`] | the caller's profile, deleting the account, operator role changes |
//! | [`MfaService`] | enrol, confirm and remove a TOTP second factor |
//! | [`AdminService`] | the admin API |
//! | [`ClientService`] | resource-server clients: their authentication, token revocation, introspection |
//! | [`RevocationService`] | the revocation cache and feed; ending sessions' access tokens |
//! | [`MailDelivery`] | the mail queue's worker |
//!
//! Each use case has its own request and error types in its own module; the HTTP layer maps each
//! error enum to problem documents in one place.

mod admin;
mod authenticate;
mod client_auth;
pub(crate) mod common;
mod login;
mod mail_delivery;
mod mfa;
mod oauth;
mod password;
mod policy;
mod profile;
mod refresh;
mod registration;
mod revocations;
mod sessions;
#[cfg(test)]
mod test_support;

use std::net::IpAddr;
use std::sync::Arc;

pub use admin::{
    ADMIN_ROLE, AdminError, AdminService, AuditFilter, AuditPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, UpdateUserRequest,
    UserPage,
};
pub use authenticate::{AuthenticateError, Authenticator};
pub use client_auth::{ClientAuthError, ClientCredentials, ResourceClients};
pub use common::{FAILURE_STREAK, MAX_BACKOFF, backoff_after};
pub use login::{LoginError, LoginOutcome, LoginRequest, LoginService};
pub use mail_delivery::{DeliveryReport, MailDelivery, MailDeliveryPolicy};
pub use mfa::{
    ConfirmTotpError, EnrolTotpError, MfaChallengeIssued, MfaLoginError, MfaService, REAUTHENTICATION_WINDOW,
    RemoveTotpError, TotpEnrolment,
};
pub use oauth::{
    ClaimedClient, ClientService, FeedPosition, Introspection, REVOCATION_FEED_OVERLAP, REVOCATION_FEED_PAGE,
    RevocationFeed,
};
pub use password::{ChangePasswordError, ForgotPasswordError, PasswordService, PendingResetMail, ResetPasswordError};
pub use policy::{AuthPolicy, RateLimits};
pub use profile::{AccountService, DeleteAccountError, GrantRoleError, ProfileError, UpdateProfileRequest};
pub use refresh::RefreshError;
pub use registration::{
    PendingResend, RegisterError, RegisterRequest, RegistrationService, ResendVerificationError, VerifyEmailError,
};
pub use revocations::RevocationService;
pub use sessions::{RevokeSessionError, SessionError, SessionService, SessionView};

use crate::ids::{SessionId, UserId};
use crate::ports::{
    AccessTokenCodec, AuditLog, BackgroundTasks, BreachedPasswords, Clock, IdGenerator, MailQueue,
    OneTimeTokenRepository, PasswordHasher, RandomSource, RateLimiter, RevocationStore, SecondFactorRepository,
    SessionRepository, UserRepository,
};
use crate::tokens::AccessClaims;
use crate::user::Role;
use common::{Auditor, MailStamp, NewPasswordRules, PasswordProof, SecondFactorGate, Throttle, TokenIssuer};

/// Every port a use case may need, built once at start-up.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub revocations: Arc<dyn RevocationStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
    /// Where mails go that no other state change accompanies; the others are queued by the
    /// repository that makes the change, in its transaction.
    pub mail_queue: Arc<dyn MailQueue>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub breached_passwords: Arc<dyn BreachedPasswords>,
    pub tokens: Arc<dyn AccessTokenCodec>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub random: Arc<dyn RandomSource>,
    /// Where the mails of resend and forgot-password are finished, after the caller is answered.
    pub tasks: Arc<dyn BackgroundTasks>,
}

impl std::fmt::Debug for AuthPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthPorts")
    }
}

impl AuthPorts {
    fn auditor(&self) -> Auditor {
        Auditor::new(Arc::clone(&self.audit), Arc::clone(&self.clock))
    }

    fn throttle(&self, policy: &AuthPolicy) -> Throttle {
        Throttle::new(Arc::clone(&self.rate_limiter), policy.rate_limits.clone())
    }

    fn password_proof(&self, policy: &AuthPolicy) -> PasswordProof {
        PasswordProof::new(Arc::clone(&self.hasher), self.throttle(policy), self.auditor())
    }

    fn new_password_rules(&self, policy: &AuthPolicy) -> NewPasswordRules {
        NewPasswordRules::new(policy.password.clone(), Arc::clone(&self.breached_passwords))
    }

    fn token_issuer(&self, policy: &Arc<AuthPolicy>) -> TokenIssuer {
        TokenIssuer::new(Arc::clone(&self.tokens), Arc::clone(&self.ids), Arc::clone(&self.random), Arc::clone(policy))
    }

    fn mail_stamp(&self, policy: &Arc<AuthPolicy>) -> MailStamp {
        MailStamp::new(Arc::clone(&self.ids), Arc::clone(&self.clock), Arc::clone(&self.random), Arc::clone(policy))
    }

    fn second_factor_gate(&self, policy: &Arc<AuthPolicy>) -> SecondFactorGate {
        SecondFactorGate::new(
            Arc::clone(&self.second_factors),
            Arc::clone(&self.random),
            self.throttle(policy),
            self.auditor(),
            Arc::clone(policy),
        )
    }
}

/// Every area's service, built once at start-up from the ports and the policy.
#[derive(Debug, Clone)]
pub struct AuthServices {
    pub login: LoginService,
    pub sessions: SessionService,
    pub authenticator: Authenticator,
    pub registration: RegistrationService,
    pub passwords: PasswordService,
    pub accounts: AccountService,
    pub mfa: MfaService,
    pub admin: AdminService,
    pub clients: ClientService,
    pub revocations: RevocationService,
}

impl AuthServices {
    pub fn new(ports: &AuthPorts, policy: AuthPolicy) -> Self {
        let policy = Arc::new(policy);
        Self {
            login: LoginService::new(ports, &policy),
            sessions: SessionService::new(ports, &policy),
            authenticator: Authenticator::new(ports, &policy),
            registration: RegistrationService::new(ports, &policy),
            passwords: PasswordService::new(ports, &policy),
            accounts: AccountService::new(ports, &policy),
            mfa: MfaService::new(ports, &policy),
            admin: AdminService::new(ports, &policy),
            clients: ClientService::new(ports, &policy),
            revocations: RevocationService::new(ports, &policy),
        }
    }
}

/// Where a request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The caller of a request that presented a valid, unrevoked access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The roles the token claims that are roles at all; the token was signed by us, so none
    /// is dropped in practice.
    pub roles: Vec<Role>,
    pub claims: AccessClaims,
}
