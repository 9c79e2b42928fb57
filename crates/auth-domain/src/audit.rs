//! Audit events: what happened to which account, from where.

use serde::Serialize;
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

/// The facts an audit event records beside its kind, one shape per kind of fact. Its JSON (a
/// `serde_json::Value`, whose object keys serialise in one order whatever order they were written
/// in) is what the hash chain covers: every variant serialises exactly as the `json!` objects the
/// use cases wrote before it existed, so rows written before and after verify alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AuditDetail {
    /// Nothing beyond the kind: `{}`.
    Nothing {},
    /// Why a login failed: `wrong_password`, `unknown_email`, `wrong_mfa_code`.
    Reason {
        reason: &'static str,
    },
    /// Which profile fields changed.
    Fields {
        fields: Vec<&'static str>,
    },
    SessionsRevoked {
        sessions_revoked: usize,
    },
    Role {
        role: String,
    },
    /// The second factor that passed, and after a recovery code how many are left.
    SecondFactor {
        mfa: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_codes_remaining: Option<u32>,
    },
    /// A refresh token presented again after the grace window.
    Reuse {
        seconds_since_rotation: i64,
    },
    Method {
        method: &'static str,
    },
    /// Which endpoint ended a session, when it is not the usual one.
    Via {
        via: &'static str,
    },
    /// What an administrator changed, and who.
    AdminUpdate {
        #[serde(skip_serializing_if = "Option::is_none")]
        roles: Option<Change<Vec<String>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        disabled: Option<Change<bool>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sessions_revoked: Option<usize>,
        actor_id: String,
    },
    /// An administrator's action that ended sessions.
    AdminAction {
        actor_id: String,
        sessions_revoked: usize,
    },
    KeyRotated {
        kid: String,
        activates_at: i64,
        reason: String,
    },
    KeyRetired {
        kid: String,
        was: &'static str,
    },
}

/// A value before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

impl AuditDetail {
    /// The JSON the event stores and the chain covers.
    pub fn to_json(&self) -> Value {
        // Serialising plain fields into a `Value` cannot fail: no map has non-string keys.
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
    }
}

#[cfg(test)]
mod detail_tests {
    use serde_json::json;

    use super::{AuditDetail, Change};

    /// Each variant against the `json!` object the use cases wrote before: the chain of rows
    /// written before verifies the same way as of rows written after.
    #[test]
    fn every_detail_serialises_as_the_object_written_before_it_existed() {
        let cases = [
            (AuditDetail::Nothing {}, json!({})),
            (AuditDetail::Reason { reason: "wrong_password" }, json!({ "reason": "wrong_password" })),
            (AuditDetail::Fields { fields: vec!["display_name"] }, json!({ "fields": ["display_name"] })),
            (AuditDetail::SessionsRevoked { sessions_revoked: 3 }, json!({ "sessions_revoked": 3 })),
            (AuditDetail::Role { role: "admin".to_owned() }, json!({ "role": "admin" })),
            (AuditDetail::SecondFactor { mfa: "totp", recovery_codes_remaining: None }, json!({ "mfa": "totp" })),
            (
                AuditDetail::SecondFactor { mfa: "recovery_code", recovery_codes_remaining: Some(9) },
                json!({ "mfa": "recovery_code", "recovery_codes_remaining": 9 }),
            ),
            (AuditDetail::Reuse { seconds_since_rotation: 42 }, json!({ "seconds_since_rotation": 42 })),
            (AuditDetail::Method { method: "totp" }, json!({ "method": "totp" })),
            (AuditDetail::Via { via: "oauth_revoke" }, json!({ "via": "oauth_revoke" })),
            (
                AuditDetail::AdminUpdate {
                    roles: Some(Change { from: vec!["reader".to_owned()], to: vec![] }),
                    disabled: Some(Change { from: false, to: true }),
                    sessions_revoked: Some(2),
                    actor_id: "a1".to_owned(),
                },
                json!({ "roles": { "from": ["reader"], "to": [] }, "disabled": { "from": false, "to": true },
                        "sessions_revoked": 2, "actor_id": "a1" }),
            ),
            (
                AuditDetail::AdminUpdate {
                    roles: None,
                    disabled: None,
                    sessions_revoked: None,
                    actor_id: "a1".to_owned(),
                },
                json!({ "actor_id": "a1" }),
            ),
            (
                AuditDetail::AdminAction { actor_id: "a1".to_owned(), sessions_revoked: 1 },
                json!({ "actor_id": "a1", "sessions_revoked": 1 }),
            ),
            (
                AuditDetail::KeyRotated { kid: "k1".to_owned(), activates_at: 7, reason: "scheduled".to_owned() },
                json!({ "kid": "k1", "activates_at": 7, "reason": "scheduled" }),
            ),
            (
                AuditDetail::KeyRetired { kid: "k1".to_owned(), was: "previous" },
                json!({ "kid": "k1", "was": "previous" }),
            ),
        ];
        for (detail, before) in cases {
            assert_eq!(detail.to_json(), before, "{detail:?}");
            assert_eq!(detail.to_json().to_string(), before.to_string(), "the same bytes: {detail:?}");
        }
    }
}
