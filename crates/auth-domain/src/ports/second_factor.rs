//! Port: second factors (TOTP, recovery codes) and the pending second step of a login.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::tokens::TokenHash;
use crate::totp::TotpSecret;

/// A user's TOTP secret, pending until a first code confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub secret: TotpSecret,
    pub confirmed: bool,
    /// The last time step whose code was accepted; that step and every earlier one are spent.
    pub last_used_step: Option<i64>,
}

/// A login whose password was right and whose second factor is awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    /// The hash of the `mfa_token` handed to the client.
    pub hash: TokenHash,
    pub user_id: UserId,
    /// Binds the challenge to the password that passed: a password changed in between voids it.
    pub password_fingerprint: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SecondFactorRepository: Send + Sync {
    /// Stores `secret` as the user's pending TOTP enrolment, replacing an earlier pending one.
    /// Stored encrypted. MUST change nothing and return `false` when TOTP is already confirmed.
    async fn begin_totp(
        &self,
        user_id: UserId,
        secret: &TotpSecret,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError>;

    async fn find_totp(&self, user_id: UserId) -> Result<Option<TotpCredential>, InfrastructureError>;

    /// In one transaction: confirms the pending enrolment with `step` as its last used step,
    /// replaces the user's recovery codes with `recovery_codes` (hashes), and marks the user's
    /// `mfa_enabled`. MUST return `false` and change nothing when no enrolment is pending.
    async fn confirm_totp(
        &self,
        user_id: UserId,
        step: i64,
        recovery_codes: &[TokenHash],
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError>;

    /// Records `step` as used. MUST return `false`, changing nothing, when a step at or after it
    /// was recorded before (or there is no confirmed credential), atomically: of two concurrent
    /// calls with the same step, exactly one gets `true`.
    async fn use_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, InfrastructureError>;

    /// Spends one recovery code. MUST return `true` only when an unused code with this hash exists
    /// for the user, and mark it used in the same atomic step.
    async fn use_recovery_code(
        &self,
        user_id: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError>;

    /// The user's recovery codes not used yet.
    async fn remaining_recovery_codes(&self, user_id: UserId) -> Result<u32, InfrastructureError>;

    /// In one transaction: removes the TOTP credential and the recovery codes, and clears the
    /// user's `mfa_enabled`. Returns whether there was a credential.
    async fn remove_totp(&self, user_id: UserId, at: OffsetDateTime) -> Result<bool, InfrastructureError>;

    /// Stores a challenge; expired challenges may be purged on the way.
    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), InfrastructureError>;

    /// The challenge with this hash, unless it has expired at `now` or was consumed.
    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<MfaChallenge>, InfrastructureError>;

    /// Uses the challenge up. MUST return `true` for exactly one of any number of concurrent calls.
    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, InfrastructureError>;
}
