//! Use cases: enrol, confirm and remove a TOTP second factor; complete a login with it.

use std::sync::Arc;

use super::common::{
    Auditor, LimitError, PasswordConfirmation, PasswordProof, SecondFactorCheck, SecondFactorGate, Throttle, mfa_keys,
};
use super::{AuthPolicy, AuthPorts, Principal, RequestContext};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::error::InfrastructureError;
use crate::ports::{Clock, RandomSource, SecondFactorRepository, SessionRepository, UserRepository};
use crate::rate_limit::RateLimitExceeded;
use crate::recovery_code::{RECOVERY_CODE_COUNT, RecoveryCode};
use crate::tokens::{MfaToken, TokenHash};
use crate::totp::{SECRET_BYTES, TotpSecret};
use crate::user::User;

/// The second step a login with a second factor waits for.
#[derive(Debug)]
pub struct MfaChallengeIssued {
    pub mfa_token: MfaToken,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// A pending TOTP enrolment, for the authenticator app. `Debug` leaves the secret out.
pub struct TotpEnrolment {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// How long after signing in a session may change its second factor without the password.
pub const REAUTHENTICATION_WINDOW: time::Duration = time::Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum EnrolTotpError {
    #[error("a second factor is already enabled")]
    AlreadyEnabled,
    /// Neither a sign-in within [`REAUTHENTICATION_WINDOW`] nor the password: a stolen access
    /// token alone must not be able to lock the owner out with a second factor of its own.
    #[error("sign in again, or give the password, to change the second factor")]
    ReauthenticationRequired,
    #[error("the password is wrong")]
    InvalidCredentials,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error("the account no longer exists")]
    UserGone,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmTotpError {
    #[error("no TOTP enrolment is pending")]
    NotPending,
    #[error("the code is wrong")]
    InvalidCode,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("the account no longer exists")]
    UserGone,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveTotpError {
    #[error("no second factor is enabled")]
    NotEnabled,
    /// Neither a sign-in within [`REAUTHENTICATION_WINDOW`] nor the password.
    #[error("sign in again, or give the password, to change the second factor")]
    ReauthenticationRequired,
    #[error("the password is wrong")]
    InvalidCredentials,
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error("the code is wrong")]
    InvalidCode,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("the account no longer exists")]
    UserGone,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum MfaLoginError {
    /// Unknown, expired or used; or the password changed since it was issued.
    #[error("the MFA token is invalid or expired")]
    InvalidMfaToken,
    #[error("the code is wrong")]
    InvalidCode,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<super::login::OpenSessionError> for MfaLoginError {
    fn from(error: super::login::OpenSessionError) -> Self {
        match error {
            // The password changed, or the account was disabled or deleted, since the challenge.
            super::login::OpenSessionError::CredentialsChanged => Self::InvalidMfaToken,
            super::login::OpenSessionError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// Maps a failed password check of a re-authentication onto a use case's error.
macro_rules! reauthentication_hash_errors {
    ($($error:ty),*) => {$(
        impl From<crate::ports::HashError> for $error {
            fn from(error: crate::ports::HashError) -> Self {
                match error {
                    crate::ports::HashError::Overloaded => Self::Overloaded,
                    crate::ports::HashError::Infrastructure(error) => Self::Infrastructure(error),
                }
            }
        }
    )*};
}
reauthentication_hash_errors!(EnrolTotpError, RemoveTotpError);

/// Whether the caller may change its second factor now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reauthentication {
    Confirmed,
    /// No password given, and the sign-in is too old.
    Required,
    WrongPassword,
    Throttled(RateLimitExceeded),
}

impl From<LimitError> for MfaLoginError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// Enrolling, confirming and removing a TOTP second factor.
#[derive(Clone)]
pub struct MfaService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    second_factors: Arc<dyn SecondFactorRepository>,
    random: Arc<dyn RandomSource>,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    auditor: Auditor,
    proof: PasswordProof,
    factors: SecondFactorGate,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for MfaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaService")
    }
}

impl MfaService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            second_factors: Arc::clone(&ports.second_factors),
            random: Arc::clone(&ports.random),
            clock: Arc::clone(&ports.clock),
            throttle: ports.throttle(policy),
            auditor: ports.auditor(),
            proof: ports.password_proof(policy),
            factors: ports.second_factor_gate(policy),
            policy: Arc::clone(policy),
        }
    }

    /// Starts a TOTP enrolment: a new secret, pending until [`MfaService::confirm_totp`] sees a
    /// code of it. Starting again replaces a pending secret.
    ///
    /// # Errors
    /// [`EnrolTotpError::AlreadyEnabled`] when TOTP is already confirmed.
    /// The caller must have signed in within [`REAUTHENTICATION_WINDOW`] or give its password.
    ///
    /// # Errors
    /// [`EnrolTotpError::ReauthenticationRequired`] or [`EnrolTotpError::InvalidCredentials`]
    /// (counted and throttled like a failed login) without a fresh proof.
    pub async fn begin_totp_enrolment(
        &self,
        principal: &Principal,
        password: Option<&str>,
        context: &RequestContext,
    ) -> Result<TotpEnrolment, EnrolTotpError> {
        let user = self.users.find_by_id(principal.user_id).await?.ok_or(EnrolTotpError::UserGone)?;
        if user.mfa_enabled {
            return Err(EnrolTotpError::AlreadyEnabled);
        }
        match self.reauthenticate(principal, &user, password, context).await? {
            Reauthentication::Confirmed => {}
            Reauthentication::Required => return Err(EnrolTotpError::ReauthenticationRequired),
            Reauthentication::WrongPassword => return Err(EnrolTotpError::InvalidCredentials),
            Reauthentication::Throttled(exceeded) => return Err(EnrolTotpError::RateLimited(exceeded)),
        }
        let bytes = self.random.token_bytes();
        let mut secret_bytes = [0u8; SECRET_BYTES];
        secret_bytes.copy_from_slice(&bytes[..SECRET_BYTES]);
        let secret = TotpSecret::from_bytes(secret_bytes);
        if !self.second_factors.begin_totp(user.id, &secret, self.clock.now()).await? {
            return Err(EnrolTotpError::AlreadyEnabled);
        }
        Ok(TotpEnrolment {
            secret: secret.to_base32(),
            otpauth_uri: secret.provisioning_uri(&self.policy.totp_issuer, user.email.as_str()),
        })
    }

    /// Confirms the pending enrolment with a first code, which proves the app holds the secret.
    /// Returns the recovery codes: shown this once, stored only as hashes.
    ///
    /// # Errors
    /// [`ConfirmTotpError::InvalidCode`] (counted and throttled like a failed login) or
    /// [`ConfirmTotpError::NotPending`].
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        context: &RequestContext,
    ) -> Result<Vec<RecoveryCode>, ConfirmTotpError> {
        let user = self.users.find_by_id(principal.user_id).await?.ok_or(ConfirmTotpError::UserGone)?;
        let credential = self
            .second_factors
            .find_totp(user.id)
            .await?
            .filter(|credential| !credential.confirmed)
            .ok_or(ConfirmTotpError::NotPending)?;
        let (failure_key, backoff_key) = mfa_keys(&user);
        if let Some(exceeded) = self
            .throttle
            .reserve_attempt(self.policy.rate_limits.mfa_failures_per_user, &failure_key, &backoff_key)
            .await?
        {
            return Err(ConfirmTotpError::RateLimited(exceeded));
        }
        let now = self.clock.now();
        let Some(step) = credential.secret.verify(code, now, None) else {
            self.factors.record_mfa_failure(&user, context).await?;
            return Err(ConfirmTotpError::InvalidCode);
        };
        self.throttle.clear_failures(self.policy.rate_limits.mfa_failures_per_user, &failure_key, &backoff_key).await?;
        let codes: Vec<RecoveryCode> =
            (0..RECOVERY_CODE_COUNT).map(|_| RecoveryCode::from_random_bytes(&self.random.token_bytes())).collect();
        let hashes: Vec<TokenHash> = codes.iter().map(RecoveryCode::hash).collect();
        if !self.second_factors.confirm_totp(user.id, step, &hashes, now).await? {
            return Err(ConfirmTotpError::NotPending);
        }
        self.auditor
            .record(
                AuditEventKind::MfaEnabled,
                Some(user.id),
                Some(principal.session_id),
                context,
                AuditDetail::Method { method: "totp" },
            )
            .await?;
        Ok(codes)
    }

    /// Removes the second factor, proven with a current TOTP code or a recovery code. A pending,
    /// unconfirmed enrolment is simply dropped.
    ///
    /// # Errors
    /// [`RemoveTotpError::InvalidCode`] (counted and throttled like a failed login) or
    /// [`RemoveTotpError::NotEnabled`].
    pub async fn remove_totp(
        &self,
        principal: &Principal,
        code: &str,
        password: Option<&str>,
        context: &RequestContext,
    ) -> Result<(), RemoveTotpError> {
        let user = self.users.find_by_id(principal.user_id).await?.ok_or(RemoveTotpError::UserGone)?;
        match self.reauthenticate(principal, &user, password, context).await? {
            Reauthentication::Confirmed => {}
            Reauthentication::Required => return Err(RemoveTotpError::ReauthenticationRequired),
            Reauthentication::WrongPassword => return Err(RemoveTotpError::InvalidCredentials),
            Reauthentication::Throttled(exceeded) => return Err(RemoveTotpError::RateLimited(exceeded)),
        }
        let now = self.clock.now();
        if !user.mfa_enabled {
            let pending = self.second_factors.find_totp(user.id).await?.is_some();
            if pending {
                self.second_factors.remove_totp(user.id, now).await?;
                return Ok(());
            }
            return Err(RemoveTotpError::NotEnabled);
        }
        let factor = match self.factors.check_second_factor(&user, code, context, now).await? {
            SecondFactorCheck::Passed(factor) => factor,
            SecondFactorCheck::Wrong => return Err(RemoveTotpError::InvalidCode),
            SecondFactorCheck::Throttled(exceeded) => return Err(RemoveTotpError::RateLimited(exceeded)),
        };
        self.second_factors.remove_totp(user.id, now).await?;
        self.auditor
            .record(
                AuditEventKind::MfaDisabled,
                Some(user.id),
                Some(principal.session_id),
                context,
                factor.audit_detail(),
            )
            .await?;
        Ok(())
    }

    /// A fresh proof for a change of the second factor: the password when one is given (counted
    /// and throttled like a failed login), else a sign-in of the caller's session within
    /// [`REAUTHENTICATION_WINDOW`]. A refresh is no sign-in: the session's creation counts.
    async fn reauthenticate(
        &self,
        principal: &Principal,
        user: &User,
        password: Option<&str>,
        context: &RequestContext,
    ) -> Result<Reauthentication, crate::ports::HashError> {
        if let Some(password) = password {
            return Ok(match self.proof.confirm_password(user, password, context).await? {
                PasswordConfirmation::Confirmed => Reauthentication::Confirmed,
                PasswordConfirmation::Wrong => Reauthentication::WrongPassword,
                PasswordConfirmation::Throttled(exceeded) => Reauthentication::Throttled(exceeded),
            });
        }
        let now = self.clock.now();
        let session = self.sessions.find(principal.session_id).await?;
        let recent = session
            .is_some_and(|session| session.is_active_at(now) && now - session.created_at <= REAUTHENTICATION_WINDOW);
        Ok(if recent { Reauthentication::Confirmed } else { Reauthentication::Required })
    }
}

#[cfg(test)]
mod tests;
