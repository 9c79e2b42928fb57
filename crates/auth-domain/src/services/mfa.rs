//! Use cases: enrol, confirm and remove a TOTP second factor; complete a login with it.

use serde_json::json;
use time::OffsetDateTime;

use super::{AuthService, LimitError, Principal, RequestContext, limit_keys};
use crate::audit::AuditEventKind;
use crate::error::InfrastructureError;
use crate::ports::MfaChallenge;
use crate::rate_limit::RateLimitExceeded;
use crate::recovery_code::{RECOVERY_CODE_COUNT, RecoveryCode};
use crate::tokens::{MfaToken, TokenHash, TokenPair};
use crate::totp::{DIGITS, SECRET_BYTES, TotpSecret};
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

/// Which second factor passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactor {
    Totp,
    RecoveryCode { remaining: u32 },
}

impl SecondFactor {
    fn audit_detail(self) -> serde_json::Value {
        match self {
            Self::Totp => json!({ "mfa": "totp" }),
            Self::RecoveryCode { remaining } => {
                json!({ "mfa": "recovery_code", "recovery_codes_remaining": remaining })
            }
        }
    }
}

/// The outcome of a throttled check of a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactorCheck {
    Passed(SecondFactor),
    /// Wrong, replayed or already spent; counted against the account.
    Wrong,
    Throttled(RateLimitExceeded),
}

/// What binds a challenge to the password that passed: a digest of the stored hash, which
/// changes with every new password (a new salt) and says nothing about the password.
fn password_fingerprint(user: &User) -> String {
    TokenHash::of(user.password_hash.as_str()).encode()
}

impl AuthService {
    /// Starts a TOTP enrolment: a new secret, pending until [`AuthService::confirm_totp`] sees a
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
        let user = self.ports.users.find_by_id(principal.user_id).await?.ok_or(EnrolTotpError::UserGone)?;
        if user.mfa_enabled {
            return Err(EnrolTotpError::AlreadyEnabled);
        }
        match self.reauthenticate(principal, &user, password, context).await? {
            Reauthentication::Confirmed => {}
            Reauthentication::Required => return Err(EnrolTotpError::ReauthenticationRequired),
            Reauthentication::WrongPassword => return Err(EnrolTotpError::InvalidCredentials),
            Reauthentication::Throttled(exceeded) => return Err(EnrolTotpError::RateLimited(exceeded)),
        }
        let bytes = self.ports.random.token_bytes();
        let mut secret_bytes = [0u8; SECRET_BYTES];
        secret_bytes.copy_from_slice(&bytes[..SECRET_BYTES]);
        let secret = TotpSecret::from_bytes(secret_bytes);
        if !self.ports.second_factors.begin_totp(user.id, &secret, self.now()).await? {
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
        let user = self.ports.users.find_by_id(principal.user_id).await?.ok_or(ConfirmTotpError::UserGone)?;
        let credential = self
            .ports
            .second_factors
            .find_totp(user.id)
            .await?
            .filter(|credential| !credential.confirmed)
            .ok_or(ConfirmTotpError::NotPending)?;
        let (failure_key, backoff_key) = mfa_keys(&user);
        if let Some(exceeded) =
            self.reserve_attempt(self.policy.rate_limits.mfa_failures_per_user, &failure_key, &backoff_key).await?
        {
            return Err(ConfirmTotpError::RateLimited(exceeded));
        }
        let now = self.now();
        let Some(step) = credential.secret.verify(code, now, None) else {
            self.record_mfa_failure(&user, context).await?;
            return Err(ConfirmTotpError::InvalidCode);
        };
        self.clear_failures(self.policy.rate_limits.mfa_failures_per_user, &failure_key, &backoff_key).await?;
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
            .map(|_| RecoveryCode::from_random_bytes(&self.ports.random.token_bytes()))
            .collect();
        let hashes: Vec<TokenHash> = codes.iter().map(RecoveryCode::hash).collect();
        if !self.ports.second_factors.confirm_totp(user.id, step, &hashes, now).await? {
            return Err(ConfirmTotpError::NotPending);
        }
        self.audit(
            AuditEventKind::MfaEnabled,
            Some(user.id),
            Some(principal.session_id),
            context,
            json!({ "method": "totp" }),
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
        let user = self.ports.users.find_by_id(principal.user_id).await?.ok_or(RemoveTotpError::UserGone)?;
        match self.reauthenticate(principal, &user, password, context).await? {
            Reauthentication::Confirmed => {}
            Reauthentication::Required => return Err(RemoveTotpError::ReauthenticationRequired),
            Reauthentication::WrongPassword => return Err(RemoveTotpError::InvalidCredentials),
            Reauthentication::Throttled(exceeded) => return Err(RemoveTotpError::RateLimited(exceeded)),
        }
        let now = self.now();
        if !user.mfa_enabled {
            let pending = self.ports.second_factors.find_totp(user.id).await?.is_some();
            if pending {
                self.ports.second_factors.remove_totp(user.id, now).await?;
                return Ok(());
            }
            return Err(RemoveTotpError::NotEnabled);
        }
        let factor = match self.check_second_factor(&user, code, context, now).await? {
            SecondFactorCheck::Passed(factor) => factor,
            SecondFactorCheck::Wrong => return Err(RemoveTotpError::InvalidCode),
            SecondFactorCheck::Throttled(exceeded) => return Err(RemoveTotpError::RateLimited(exceeded)),
        };
        self.ports.second_factors.remove_totp(user.id, now).await?;
        self.audit(
            AuditEventKind::MfaDisabled,
            Some(user.id),
            Some(principal.session_id),
            context,
            factor.audit_detail(),
        )
        .await?;
        Ok(())
    }

    /// Completes a login that [`AuthService::login`] answered with a challenge: the second factor
    /// (a TOTP code or a recovery code) and the challenge's token open the session, whose tokens
    /// carry `amr: ["pwd", "otp"]`.
    ///
    /// # Errors
    /// See [`MfaLoginError`]; wrong codes count and are throttled per account like passwords.
    pub async fn complete_mfa_login(
        &self,
        mfa_token: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, MfaLoginError> {
        if let Some(ip) = &context.ip {
            self.enforce(self.policy.rate_limits.login_per_ip, &limit_keys::login_ip(ip)).await?;
        }
        let token = MfaToken::parse(mfa_token).ok_or(MfaLoginError::InvalidMfaToken)?;
        let now = self.now();
        let challenge = self
            .ports
            .second_factors
            .find_challenge(&token.hash(), now)
            .await?
            .ok_or(MfaLoginError::InvalidMfaToken)?;
        let user = self.ports.users.find_by_id(challenge.user_id).await?.ok_or(MfaLoginError::InvalidMfaToken)?;
        if password_fingerprint(&user) != challenge.password_fingerprint {
            return Err(MfaLoginError::InvalidMfaToken);
        }
        if user.disabled {
            return Err(MfaLoginError::AccountDisabled);
        }
        let factor = match self.check_second_factor(&user, code, context, now).await? {
            SecondFactorCheck::Passed(factor) => factor,
            SecondFactorCheck::Wrong => return Err(MfaLoginError::InvalidCode),
            SecondFactorCheck::Throttled(exceeded) => return Err(MfaLoginError::RateLimited(exceeded)),
        };
        if !self.ports.second_factors.consume_challenge(&challenge.hash).await? {
            return Err(MfaLoginError::InvalidMfaToken);
        }
        let amr = vec!["pwd".to_owned(), "otp".to_owned()];
        Ok(self.open_session(user, amr, context, now, factor.audit_detail()).await?)
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
        use super::login::PasswordConfirmation;

        if let Some(password) = password {
            return Ok(match self.confirm_password(user, password, context).await? {
                PasswordConfirmation::Confirmed => Reauthentication::Confirmed,
                PasswordConfirmation::Wrong => Reauthentication::WrongPassword,
                PasswordConfirmation::Throttled(exceeded) => Reauthentication::Throttled(exceeded),
            });
        }
        let now = self.now();
        let session = self.ports.sessions.find(principal.session_id).await?;
        let recent = session
            .is_some_and(|session| session.is_active_at(now) && now - session.created_at <= REAUTHENTICATION_WINDOW);
        Ok(if recent { Reauthentication::Confirmed } else { Reauthentication::Required })
    }

    /// Stores a challenge for a user whose password just passed.
    pub(super) async fn issue_mfa_challenge(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<MfaChallengeIssued, InfrastructureError> {
        let mfa_token = MfaToken::from_random_bytes(self.ports.random.token_bytes());
        let challenge = MfaChallenge {
            hash: mfa_token.hash(),
            user_id: user.id,
            password_fingerprint: password_fingerprint(user),
            created_at: now,
            expires_at: now + self.policy.mfa_token_ttl,
        };
        self.ports.second_factors.create_challenge(&challenge).await?;
        Ok(MfaChallengeIssued { mfa_token, expires_in: self.policy.mfa_token_ttl.whole_seconds() })
    }

    /// Checks a TOTP code (six digits) or a recovery code, throttled per account, spending it.
    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<SecondFactorCheck, InfrastructureError> {
        let (failure_key, backoff_key) = mfa_keys(user);
        let limit = self.policy.rate_limits.mfa_failures_per_user;
        if let Some(exceeded) = self.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            return Ok(SecondFactorCheck::Throttled(exceeded));
        }
        let passed = match self.spend_second_factor(user, code, now).await {
            Ok(passed) => passed,
            Err(error) => {
                // No code was checked: the reserved attempt is not a failure.
                self.release_attempt(limit, &failure_key).await?;
                return Err(error);
            }
        };
        match passed {
            Some(factor) => {
                self.clear_failures(self.policy.rate_limits.mfa_failures_per_user, &failure_key, &backoff_key).await?;
                Ok(SecondFactorCheck::Passed(factor))
            }
            None => {
                self.record_mfa_failure(user, context).await?;
                Ok(SecondFactorCheck::Wrong)
            }
        }
    }

    async fn spend_second_factor(
        &self,
        user: &User,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SecondFactor>, InfrastructureError> {
        let second_factors = &self.ports.second_factors;
        let trimmed = code.trim();
        if trimmed.len() == DIGITS as usize && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
            let Some(credential) = second_factors.find_totp(user.id).await?.filter(|credential| credential.confirmed)
            else {
                return Ok(None);
            };
            let Some(step) = credential.secret.verify(trimmed, now, credential.last_used_step) else { return Ok(None) };
            // Two requests with the same code race here; the store lets exactly one through.
            let fresh = second_factors.use_totp_step(user.id, step).await?;
            return Ok(fresh.then_some(SecondFactor::Totp));
        }
        let Some(recovery_code) = RecoveryCode::parse(code) else { return Ok(None) };
        if !second_factors.use_recovery_code(user.id, &recovery_code.hash(), now).await? {
            return Ok(None);
        }
        let remaining = second_factors.remaining_recovery_codes(user.id).await?;
        Ok(Some(SecondFactor::RecoveryCode { remaining }))
    }

    async fn record_mfa_failure(&self, user: &User, context: &RequestContext) -> Result<(), InfrastructureError> {
        let (_, backoff_key) = mfa_keys(user);
        self.count_failure(self.policy.rate_limits.mfa_failures_per_user, &backoff_key).await?;
        self.audit(AuditEventKind::LoginFailed, Some(user.id), None, context, json!({ "reason": "wrong_mfa_code" }))
            .await
    }
}

/// Wrong second factors count per account, with the limit and back-off of failed passwords.
fn mfa_keys(user: &User) -> (String, String) {
    (limit_keys::mfa_failures(user.id), limit_keys::mfa_backoff(user.id))
}

#[cfg(test)]
mod tests;
