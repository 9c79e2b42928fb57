//! What a client sees of each domain error.
//!
//! Outcomes many use cases share (a rate limit, an overload, a deleted account, a failing backing
//! service, refused fields, a disabled account) are mapped once, in `problems!`, and each
//! mapping below only names them; what is particular to a use case is written out beside them.
//! Every variant is still named, so the matches stay exhaustive: a new variant does not compile
//! until someone decides what a client sees of it.

use actix_web::http::StatusCode;
use auth_domain::services::{
    AdminError, AuthenticateError, ChangePasswordError, ConfirmTotpError, DeleteAccountError, EnrolTotpError,
    ForgotPasswordError, GrantRoleError, LoginError, MfaLoginError, ProfileError, RefreshError, RegisterError,
    RemoveTotpError, ResendVerificationError, ResetPasswordError, RevokeSessionError, SessionError, VerifyEmailError,
};

use super::ApiError;

/// `From<$error> for ApiError`: `shared` names the variants whose mapping is common to every use
/// case, the arms after it map the others.
macro_rules! problems {
    ($error:ident { shared: [$($shared:ident),* $(,)?] $(, $pattern:pat => $mapped:expr)* $(,)? }) => {
        problems!(@arms $error [$($pattern => $mapped,)*] $($shared)*);
    };
    (@arms $error:ident [$($arms:tt)*] RateLimited $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::RateLimited(exceeded) => ApiError::rate_limited(exceeded),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*] Overloaded $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::Overloaded => ApiError::overloaded(),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*] UserGone $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::UserGone => ApiError::account_gone(),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*] AccountDisabled $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::AccountDisabled => ApiError::account_disabled(),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*] Validation $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::Validation(errors) => ApiError::validation(errors),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*] Infrastructure $($rest:ident)*) => {
        problems!(@arms $error [$($arms)* $error::Infrastructure(error) => ApiError::infrastructure(&error),] $($rest)*);
    };
    (@arms $error:ident [$($arms:tt)*]) => {
        impl From<$error> for ApiError {
            fn from(error: $error) -> Self {
                match error {
                    $($arms)*
                }
            }
        }
    };
}

/// 400 for the token of a mailed link that cannot be used (any more).
fn spent_link() -> ApiError {
    ApiError::bad_request("invalid_token", "the token is unknown, already used or expired")
}

fn invalid_credentials(detail: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", detail)
}

problems!(RegisterError { shared: [Validation, RateLimited, Overloaded, Infrastructure] });

problems!(VerifyEmailError {
    shared: [Infrastructure],
    VerifyEmailError::InvalidToken => spent_link(),
});

problems!(ResendVerificationError { shared: [RateLimited, Infrastructure] });

problems!(LoginError {
    shared: [AccountDisabled, RateLimited, Overloaded, Infrastructure],
    LoginError::InvalidCredentials => invalid_credentials("the email or password is wrong"),
    LoginError::EmailNotVerified => {
        ApiError::new(StatusCode::FORBIDDEN, "email_not_verified", "verify your email address first")
    }
});

problems!(RefreshError {
    shared: [AccountDisabled, RateLimited, Infrastructure],
    RefreshError::InvalidRefreshToken => {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token", "the refresh token is not valid")
    },
    RefreshError::Reused => ApiError::new(
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
        "this refresh token was used before; the session has been revoked",
    ),
    RefreshError::SessionExpired => {
        ApiError::new(StatusCode::UNAUTHORIZED, "session_expired", "the session has expired")
    },
});

// Infrastructure fails closed: a token whose revocation cannot be checked is not honoured.
problems!(AuthenticateError {
    shared: [Infrastructure],
    AuthenticateError::InvalidToken(rejection) => {
        tracing::debug!(token.rejection = %rejection, "access token refused");
        ApiError::invalid_token("the access token is invalid or expired")
    },
    AuthenticateError::Revoked => ApiError::invalid_token("the access token's session has ended"),
});

problems!(ProfileError { shared: [UserGone, Validation, Infrastructure] });

problems!(SessionError { shared: [Infrastructure] });

problems!(RevokeSessionError {
    shared: [Infrastructure],
    RevokeSessionError::NotFound => ApiError::not_found("no such session"),
});

problems!(ForgotPasswordError { shared: [RateLimited, Infrastructure] });

problems!(ResetPasswordError {
    shared: [Validation, Overloaded, Infrastructure],
    ResetPasswordError::InvalidToken => spent_link(),
});

problems!(ChangePasswordError {
    shared: [RateLimited, Validation, UserGone, Overloaded, Infrastructure],
    ChangePasswordError::InvalidCredentials => invalid_credentials("the current password is wrong"),
});

problems!(DeleteAccountError {
    shared: [RateLimited, UserGone, Overloaded, Infrastructure],
    DeleteAccountError::InvalidCredentials => invalid_credentials("the password is wrong"),
});

problems!(GrantRoleError {
    shared: [Infrastructure],
    GrantRoleError::UnknownUser => ApiError::not_found("no account has this email"),
    GrantRoleError::InvalidRole(error) => ApiError::bad_request("invalid_role", error.to_string()),
});

problems!(MfaLoginError {
    shared: [AccountDisabled, RateLimited, Infrastructure],
    // One code for both: either way the client asks for a code again, or logs in again.
    MfaLoginError::InvalidMfaToken => ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
        "the MFA token is unknown, expired or used; log in again",
    ),
    MfaLoginError::InvalidCode => {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code", "the code is wrong, spent or replayed")
    },
});

problems!(EnrolTotpError {
    shared: [RateLimited, Overloaded, UserGone, Infrastructure],
    EnrolTotpError::AlreadyEnabled => {
        ApiError::new(StatusCode::CONFLICT, "mfa_already_enabled", "a second factor is already enabled")
    },
    EnrolTotpError::ReauthenticationRequired => ApiError::reauthentication_required(),
    EnrolTotpError::InvalidCredentials => invalid_credentials("the password is wrong"),
});

problems!(ConfirmTotpError {
    shared: [RateLimited, UserGone, Infrastructure],
    ConfirmTotpError::NotPending => {
        ApiError::new(StatusCode::CONFLICT, "mfa_not_pending", "no TOTP enrolment is pending; start one first")
    },
    ConfirmTotpError::InvalidCode => ApiError::bad_request("invalid_mfa_code", "the code is wrong"),
});

problems!(RemoveTotpError {
    shared: [Overloaded, RateLimited, UserGone, Infrastructure],
    RemoveTotpError::NotEnabled => ApiError::bad_request("mfa_not_enabled", "no second factor is enabled"),
    RemoveTotpError::InvalidCode => ApiError::bad_request("invalid_mfa_code", "the code is wrong, spent or replayed"),
    RemoveTotpError::ReauthenticationRequired => ApiError::reauthentication_required(),
    RemoveTotpError::InvalidCredentials => invalid_credentials("the password is wrong"),
});

problems!(AdminError {
    shared: [Validation, Infrastructure],
    AdminError::Forbidden => ApiError::forbidden("this needs the admin role"),
    AdminError::NotFound => ApiError::not_found("no such user"),
    AdminError::SelfLockout => ApiError::new(StatusCode::CONFLICT, "self_lockout", AdminError::SelfLockout.to_string()),
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::ResponseError;
    use auth_domain::RateLimitExceeded;

    use super::*;

    /// The status, the headers that matter to clients, and the body, as sent.
    async fn sent(error: impl Into<ApiError>) -> (u16, Vec<(String, String)>, String) {
        let response = error.into().error_response();
        let status = response.status().as_u16();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != actix_web::http::header::CONTENT_TYPE)
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect();
        headers.sort();
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn pairs(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    #[tokio::test]
    async fn the_shared_outcomes_are_sent_as_before_whichever_use_case_has_them() {
        let gone = (
            401,
            pairs(&[("www-authenticate", "Bearer realm=\"authd\", error=\"invalid_token\"")]),
            r#"{"type":"urn:authd:problem:invalid_token","title":"Unauthorized","status":401,"detail":"the account no longer exists","code":"invalid_token"}"#.to_owned(),
        );
        assert_eq!(sent(ChangePasswordError::UserGone).await, gone);
        assert_eq!(sent(RemoveTotpError::UserGone).await, gone);

        let disabled = (
            403,
            Vec::new(),
            r#"{"type":"urn:authd:problem:account_disabled","title":"Forbidden","status":403,"detail":"this account is disabled","code":"account_disabled"}"#.to_owned(),
        );
        assert_eq!(sent(LoginError::AccountDisabled).await, disabled);
        assert_eq!(sent(MfaLoginError::AccountDisabled).await, disabled);

        let exceeded = RateLimitExceeded { limit: 10, retry_after: Duration::from_millis(1500) };
        let limited = (
            429,
            pairs(&[("ratelimit-limit", "10"), ("ratelimit-remaining", "0"), ("ratelimit-reset", "1"), ("retry-after", "1")]),
            r#"{"type":"urn:authd:problem:rate_limited","title":"Too Many Requests","status":429,"detail":"too many requests; retry later","code":"rate_limited"}"#.to_owned(),
        );
        assert_eq!(sent(RegisterError::RateLimited(exceeded)).await, limited);
        assert_eq!(sent(DeleteAccountError::RateLimited(exceeded)).await, limited);

        let overloaded = (
            503,
            pairs(&[("retry-after", "1")]),
            r#"{"type":"urn:authd:problem:overloaded","title":"Service Unavailable","status":503,"detail":"the service is busy; retry shortly","code":"overloaded"}"#.to_owned(),
        );
        assert_eq!(sent(ResetPasswordError::Overloaded).await, overloaded);
        assert_eq!(sent(EnrolTotpError::Overloaded).await, overloaded);
    }
}
