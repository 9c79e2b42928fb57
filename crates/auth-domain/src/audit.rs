//! Audit events: what happened to which account, from where.

use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::{SessionId, UserId};

/// The events the audit log records; their names are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEventKind {
    UserRegistered,
    EmailVerified,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    TokenRefreshed,
    RefreshTokenReuseDetected,
    Logout,
    LogoutAll,
    SessionRevoked,
    UserUpdated,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    UserDeleted,
    RoleGranted,
    RoleRevoked,
    MfaEnabled,
    MfaDisabled,
    UserUpdatedByAdmin,
    SigningKeyRotated,
    SigningKeyRetired,
}

impl AuditEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user_registered",
            Self::EmailVerified => "email_verified",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::TokenRefreshed => "token_refreshed",
            Self::RefreshTokenReuseDetected => "refresh_token_reuse_detected",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::SessionRevoked => "session_revoked",
            Self::UserUpdated => "user_updated",
            Self::PasswordChanged => "password_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::UserDeleted => "user_deleted",
            Self::RoleGranted => "role_granted",
            Self::RoleRevoked => "role_revoked",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::UserUpdatedByAdmin => "user_updated_by_admin",
            Self::SigningKeyRotated => "signing_key_rotated",
            Self::SigningKeyRetired => "signing_key_retired",
        }
    }
}

/// An audit event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub kind: AuditEventKind,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Event-specific facts; never a secret.
    pub detail: Value,
    pub created_at: OffsetDateTime,
}
