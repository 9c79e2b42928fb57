//! [`TokenIssuer`]: signs access tokens and draws refresh tokens for a session.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ports::{AccessTokenCodec, IdGenerator, RandomSource};
use crate::services::AuthPolicy;
use crate::session::Session;
use crate::tokens::{AccessClaims, RefreshToken, TokenPair};
use crate::user::User;

#[derive(Clone)]
pub(crate) struct TokenIssuer {
    tokens: Arc<dyn AccessTokenCodec>,
    ids: Arc<dyn IdGenerator>,
    random: Arc<dyn RandomSource>,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer")
    }
}

impl TokenIssuer {
    pub(crate) fn new(
        tokens: Arc<dyn AccessTokenCodec>,
        ids: Arc<dyn IdGenerator>,
        random: Arc<dyn RandomSource>,
        policy: Arc<AuthPolicy>,
    ) -> Self {
        Self { tokens, ids, random, policy }
    }

    pub(crate) fn new_refresh_token(&self) -> RefreshToken {
        RefreshToken::from_random_bytes(self.random.token_bytes())
    }

    /// Signs an access token for `user` in `session` and pairs it with `refresh_token`.
    pub(crate) fn issue_token_pair(
        &self,
        user: User,
        session: &Session,
        refresh_token: RefreshToken,
        now: OffsetDateTime,
    ) -> Result<TokenPair, InfrastructureError> {
        let expires_at = now + self.policy.access_ttl;
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: user.id,
            aud: self.policy.audience.clone(),
            exp: expires_at.unix_timestamp(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            jti: self.ids.new_id().to_string(),
            sid: session.id,
            roles: user.role_names(),
            amr: session.amr.clone(),
            email_verified: user.email_verified,
        };
        let access_token = self.tokens.sign(&claims)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.policy.access_ttl.whole_seconds(),
            refresh_token,
            refresh_expires_in: (session.ends_at() - now).whole_seconds().max(0),
            session_id: session.id,
            user,
        })
    }
}
