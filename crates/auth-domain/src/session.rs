//! A session (one login and its family of rotated refresh tokens) and its refresh-token records.

use time::OffsetDateTime;

use crate::ids::{SessionId, UserId};
use crate::tokens::TokenHash;

/// One login: the family of refresh tokens rotated from it, with its absolute and idle limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// The absolute end, however often the session is refreshed.
    pub expires_at: OffsetDateTime,
    /// The end if it is not refreshed again before then; moves forward at every refresh.
    pub idle_expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the login proved who it was (RFC 8176 values, e.g. `pwd`, `otp`); every access token
    /// of the session carries them as `amr`.
    pub amr: Vec<String>,
    /// The account's credentials version when the session was opened (moved on for the session
    /// that changed the password itself): a session behind its account's version is refused.
    pub credentials_version: i64,
}

impl Session {
    /// The earlier of the absolute and the idle limit.
    pub fn ends_at(&self) -> OffsetDateTime {
        self.expires_at.min(self.idle_expires_at)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        now >= self.ends_at()
    }

    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        !self.is_revoked() && !self.is_expired_at(now)
    }
}

/// A refresh token of a session, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: TokenHash,
    pub session_id: SessionId,
    pub issued_at: OffsetDateTime,
    /// When it was exchanged for its successor; `None` while it is the session's current token.
    pub rotated_at: Option<OffsetDateTime>,
}

/// Why a session was revoked, as stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Logout,
    LogoutAll,
    RevokedByUser,
    RefreshTokenReuse,
    PasswordChanged,
    PasswordReset,
    AccountDeleted,
    AdminAction,
    /// A role of the account was removed: no token may keep claiming it.
    RoleRemoved,
    /// The account's credentials changed since the session was opened.
    CredentialsChanged,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::RevokedByUser => "revoked_by_user",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::AccountDeleted => "account_deleted",
            Self::AdminAction => "admin_action",
            Self::RoleRemoved => "role_removed",
            Self::CredentialsChanged => "credentials_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use uuid::Uuid;

    use super::*;

    fn session_ending(absolute: OffsetDateTime, idle: OffsetDateTime) -> Session {
        let now = OffsetDateTime::UNIX_EPOCH;
        Session {
            id: SessionId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            created_at: now,
            last_used_at: now,
            expires_at: absolute,
            idle_expires_at: idle,
            revoked_at: None,
            ip: None,
            user_agent: None,
            amr: vec!["pwd".to_owned()],
            credentials_version: 0,
        }
    }

    #[test]
    fn a_session_ends_at_the_earlier_of_its_limits() {
        let epoch = OffsetDateTime::UNIX_EPOCH;
        let session = session_ending(epoch + Duration::days(30), epoch + Duration::days(7));
        assert_eq!(session.ends_at(), epoch + Duration::days(7));
        assert!(session.is_active_at(epoch + Duration::days(6)));
        assert!(!session.is_active_at(epoch + Duration::days(7)));
    }
}
