//! Extractors: the authenticated caller, and where a request came from.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use auth_domain::services::Authenticator;
use auth_domain::{Principal, RequestContext};

use crate::config::IpNetwork;
use crate::error::ApiError;

/// The longest User-Agent kept with a session or an audit row.
const MAX_USER_AGENT_LENGTH: usize = 512;

/// The caller, authenticated by a Bearer access token: signature and claims checked in memory,
/// revocation through the revocation port; no database query.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// The raw Bearer token of the request, if it carries one in the `Authorization` header.
pub fn bearer_token(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::invalid_token("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_token("the Bearer token is empty"));
    }
    Ok(Some(token.to_owned()))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(request);
        let service = request.app_data::<web::Data<Authenticator>>().cloned();
        Box::pin(async move {
            let token = token?.ok_or_else(ApiError::missing_token)?;
            let service = service.ok_or_else(ApiError::internal)?;
            let principal = service.authenticate(&token).await?;
            // The request's span (request_id.rs) names its caller; a user id is not personal data
            // of the kind the logs keep out (no email, no IP).
            tracing::Span::current().record("user.id", tracing::field::display(principal.user_id));
            Ok(Self(principal))
        })
    }
}

/// A role that routes can require of their caller.
pub trait RequiredRole {
    const ROLE: &'static str;
}

/// The `admin` role of the operator routes.
#[derive(Debug, Clone, Copy)]
pub struct AdminRole;

impl RequiredRole for AdminRole {
    const ROLE: &'static str = auth_domain::services::ADMIN_ROLE;
}

/// A caller authenticated as by [`Authenticated`] whose token carries the role `R`: 401 without a
/// valid token, 403 `forbidden` with one that lacks the role. Tokens carry the roles of their
/// issue; removing a role revokes the user's live tokens, so a stale claim does not outlive it.
#[derive(Debug, Clone)]
pub struct Authorized<R> {
    pub principal: Principal,
    role: PhantomData<R>,
}

/// A caller with the `admin` role.
pub type AdminCaller = Authorized<AdminRole>;

impl<R: RequiredRole + 'static> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(request, payload);
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            if principal.roles.iter().any(|role| role.as_str() == R::ROLE) {
                Ok(Self { principal, role: PhantomData })
            } else {
                Err(ApiError::forbidden(format!("this needs the {} role", R::ROLE)))
            }
        })
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNetwork>);

impl TrustedProxies {
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy, in which case the
    /// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|item| item.trim().parse::<IpAddr>().ok())
            .map(|address| address.to_canonical())
            .collect();
        Some(forwarded.into_iter().rev().find(|address| !self.trusts(*address)).unwrap_or(peer))
    }
}

/// Where the request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone)]
pub struct ClientContext(pub RequestContext);

impl FromRequest for ClientContext {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies = request.app_data::<web::Data<TrustedProxies>>();
        let ip = match proxies {
            Some(proxies) => proxies.client_ip(request),
            None => request.peer_addr().map(|peer| peer.ip().to_canonical()),
        };
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_LENGTH).collect());
        std::future::ready(Ok(Self(RequestContext { ip, user_agent })))
    }
}

/// A JSON body that may be left out: no body at all is `None`; a body is held to the same rules
/// as `web::Json` (JSON content type, the schema, unknown fields refused, 16 KiB at most), so bad
/// input is a 4xx rather than silently taken for "no body".
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use actix_web::HttpMessage;
        use actix_web::error::{JsonPayloadError, PayloadError};

        let is_json = request.mime_type().ok().flatten().is_some_and(|mime| {
            mime.subtype().as_str() == "json" || mime.suffix().is_some_and(|suffix| suffix.as_str() == "json")
        });
        let body = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            let body = body.await.map_err(|error| {
                let overflow = matches!(error.as_error::<PayloadError>(), Some(PayloadError::Overflow));
                let reason = if overflow { PayloadError::Overflow } else { PayloadError::Incomplete(None) };
                crate::error::json_error(JsonPayloadError::Payload(reason))
            })?;
            if body.is_empty() {
                return Ok(Self(None));
            }
            if !is_json {
                return Err(crate::error::json_error(JsonPayloadError::ContentType));
            }
            serde_json::from_slice(&body)
                .map(|value| Self(Some(value)))
                .map_err(|error| crate::error::json_error(JsonPayloadError::Deserialize(error)))
        })
    }
}
