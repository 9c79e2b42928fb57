//! [`SecondFactorGate`]: the challenge a login with a second factor waits on, and the throttled
//! check of a TOTP or recovery code that both the login and the removal of the factor make.

use std::sync::Arc;

use time::OffsetDateTime;

use super::audit::Auditor;
use super::throttle::{Throttle, limit_keys};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::error::InfrastructureError;
use crate::ports::{MfaChallenge, RandomSource, SecondFactorRepository};
use crate::rate_limit::RateLimitExceeded;
use crate::recovery_code::RecoveryCode;
use crate::services::{AuthPolicy, MfaChallengeIssued, RequestContext};
use crate::tokens::{MfaToken, TokenHash};
use crate::totp::DIGITS;
use crate::user::User;

/// Which second factor passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondFactor {
    Totp,
    RecoveryCode { remaining: u32 },
}

impl SecondFactor {
    pub(crate) fn audit_detail(self) -> AuditDetail {
        match self {
            Self::Totp => AuditDetail::SecondFactor { mfa: "totp", recovery_codes_remaining: None },
            Self::RecoveryCode { remaining } => {
                AuditDetail::SecondFactor { mfa: "recovery_code", recovery_codes_remaining: Some(remaining) }
            }
        }
    }
}

/// The outcome of a throttled check of a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondFactorCheck {
    Passed(SecondFactor),
    /// Wrong, replayed or already spent; counted against the account.
    Wrong,
    Throttled(RateLimitExceeded),
}

/// What binds a challenge to the password that passed: a digest of the stored hash, which
/// changes with every new password (a new salt) and says nothing about the password.
pub(crate) fn password_fingerprint(user: &User) -> String {
    TokenHash::of(user.password_hash.as_str()).encode()
}

/// Wrong second factors count per account, with the limit and back-off of failed passwords.
pub(crate) fn mfa_keys(user: &User) -> (String, String) {
    (limit_keys::mfa_failures(user.id), limit_keys::mfa_backoff(user.id))
}

#[derive(Clone)]
pub(crate) struct SecondFactorGate {
    second_factors: Arc<dyn SecondFactorRepository>,
    random: Arc<dyn RandomSource>,
    throttle: Throttle,
    auditor: Auditor,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for SecondFactorGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondFactorGate")
    }
}

impl SecondFactorGate {
    pub(crate) fn new(
        second_factors: Arc<dyn SecondFactorRepository>,
        random: Arc<dyn RandomSource>,
        throttle: Throttle,
        auditor: Auditor,
        policy: Arc<AuthPolicy>,
    ) -> Self {
        Self { second_factors, random, throttle, auditor, policy }
    }

    /// Stores a challenge for a user whose password just passed.
    pub(crate) async fn issue_mfa_challenge(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<MfaChallengeIssued, InfrastructureError> {
        let mfa_token = MfaToken::from_random_bytes(self.random.token_bytes());
        let challenge = MfaChallenge {
            hash: mfa_token.hash(),
            user_id: user.id,
            password_fingerprint: password_fingerprint(user),
            created_at: now,
            expires_at: now + self.policy.mfa_token_ttl,
        };
        self.second_factors.create_challenge(&challenge).await?;
        Ok(MfaChallengeIssued { mfa_token, expires_in: self.policy.mfa_token_ttl.whole_seconds() })
    }

    /// Checks a TOTP code (six digits) or a recovery code, throttled per account, spending it.
    pub(crate) async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<SecondFactorCheck, InfrastructureError> {
        let (failure_key, backoff_key) = mfa_keys(user);
        let limit = self.policy.rate_limits.mfa_failures_per_user;
        if let Some(exceeded) = self.throttle.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            return Ok(SecondFactorCheck::Throttled(exceeded));
        }
        let passed = match self.spend_second_factor(user, code, now).await {
            Ok(passed) => passed,
            Err(error) => {
                // No code was checked: the reserved attempt is not a failure.
                self.throttle.release_attempt(limit, &failure_key).await?;
                return Err(error);
            }
        };
        match passed {
            Some(factor) => {
                self.throttle.clear_failures(limit, &failure_key, &backoff_key).await?;
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
        let second_factors = &self.second_factors;
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

    pub(crate) async fn record_mfa_failure(
        &self,
        user: &User,
        context: &RequestContext,
    ) -> Result<(), InfrastructureError> {
        let (_, backoff_key) = mfa_keys(user);
        self.throttle.count_failure(self.policy.rate_limits.mfa_failures_per_user, &backoff_key).await?;
        self.auditor
            .record(
                AuditEventKind::LoginFailed,
                Some(user.id),
                None,
                context,
                AuditDetail::Reason { reason: "wrong_mfa_code" },
            )
            .await
    }
}
