//! The OAuth 2.0 endpoints: the token endpoint with the `password` and `refresh_token` grants
//! (RFC 6749), token revocation (RFC 7009) and token introspection (RFC 7662). Their errors are
//! RFC 6749 §5.2 JSON (`error`, `error_description`), which OAuth clients parse, not problem
//! documents. The grants are the login and refresh use cases themselves.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_domain::TokenPair;
use auth_domain::services::{ClientAuthError, ClientCredentials, Introspection, LoginOutcome, LoginRequest};
use auth_domain::services::{ClientService, LoginService, SessionService};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_store;

mod errors;

use crate::extractors::ClientContext;
pub use errors::{OAuthError, OAuthErrorBody, form_error};

/// The longest `id:secret` accepted in HTTP Basic credentials, in bytes; AUTH_INTROSPECTION_CLIENTS
/// refuses a client that would not fit. Longer credentials are refused before anything is counted
/// or logged: each one counted would cost memory, and each one logged, log volume.
pub const MAX_CLIENT_CREDENTIALS_BYTES: usize = 512;

/// The HTTP Basic credentials of the request, as claimed: `(client id, secret)`; `None` when there
/// are none, they are malformed, or longer than [`MAX_CLIENT_CREDENTIALS_BYTES`]. Whether they
/// admit the client is the domain's [`ClientService::authenticate_client`].
pub(crate) fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let decoded = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")))
        .map(str::trim)
        // Base64 takes 4 characters per 3 bytes: refuse a long header before decoding it.
        .filter(|encoded| encoded.len() <= MAX_CLIENT_CREDENTIALS_BYTES.div_ceil(3) * 4)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|decoded| decoded.len() <= MAX_CLIENT_CREDENTIALS_BYTES)
        .and_then(|decoded| String::from_utf8(decoded).ok())?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Authenticates the resource-server client calling `request` with its HTTP Basic credentials.
pub(crate) async fn authenticate_client(
    request: &HttpRequest,
    service: &ClientService,
    client: &ClientContext,
) -> Result<(), ClientAuthError> {
    let credentials = basic_credentials(request);
    let presented = credentials.as_ref().map(|(id, secret)| ClientCredentials { id, secret });
    service.authenticate_client(presented, &client.0).await
}

/// A token request (RFC 6749 §4.3.2, §6). Fields other grants or clients send are ignored.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` or `refresh_token`.
    #[schema(example = "password")]
    grant_type: Option<String>,
    /// With `password`: the account's email.
    username: Option<String>,
    /// With `password`.
    password: Option<String>,
    /// With `refresh_token`.
    refresh_token: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct OAuthTokenResponse {
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    expires_in: i64,
    /// Rotates on every refresh.
    refresh_token: String,
}

impl From<&TokenPair> for OAuthTokenResponse {
    fn from(pair: &TokenPair) -> Self {
        Self {
            access_token: pair.access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
        }
    }
}

fn required<'a>(value: Option<&'a String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("`{name}` is required")))
}

/// Get tokens (OAuth 2.0)
///
/// The `password` grant (refused for an account with a second factor: it logs in through
/// `POST /v1/auth/login`) and the `refresh_token` grant, with the same rules as
/// `/v1/auth/login` and `/v1/auth/refresh`. Public clients: no client authentication.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens; `Cache-Control: no-store`.", body = OAuthTokenResponse),
        (status = 400, description = "`invalid_request` (a parameter is missing or the body is not a form), `invalid_grant` (wrong credentials, an unverified, disabled or second-factor account, an invalid, reused or expired refresh token), `unsupported_grant_type`.", body = OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many attempts; retry after `Retry-After`.", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: retry after `Retry-After`.", body = OAuthErrorBody),
    ),
)]
pub async fn token(
    service: web::Data<LoginService>,
    sessions: web::Data<SessionService>,
    client: ClientContext,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, OAuthError> {
    let pair = match required(form.grant_type.as_ref(), "grant_type")? {
        "password" => {
            let request = LoginRequest {
                email: required(form.username.as_ref(), "username")?.to_owned(),
                password: required(form.password.as_ref(), "password")?.to_owned(),
            };
            match service.login(request, &client.0).await? {
                LoginOutcome::Authenticated(pair) => pair,
                LoginOutcome::MfaRequired(_) => {
                    return Err(OAuthError::invalid_grant(
                        "the account has a second factor: log in with POST /v1/auth/login and /v1/auth/login/mfa",
                    ));
                }
            }
        }
        "refresh_token" => sessions.refresh(required(form.refresh_token.as_ref(), "refresh_token")?, &client.0).await?,
        other => {
            let description = format!("the grant type {other:?} is not supported; use password or refresh_token");
            return Err(OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description));
        }
    };
    Ok(no_store(HttpResponse::Ok()).json(OAuthTokenResponse::from(&pair)))
}

/// A token to revoke or introspect.
#[derive(Deserialize, ToSchema)]
pub struct TokenParameterForm {
    /// An access token or a refresh token.
    token: Option<String>,
    /// `access_token` or `refresh_token`; optional, and not needed: the two look nothing alike.
    #[expect(dead_code, reason = "RFC 7009 lets clients send it; the token's shape says what it is")]
    token_type_hint: Option<String>,
}

/// Revoke a token (RFC 7009)
///
/// Ends the session of a refresh token or an access token: its refresh token stops working and its
/// access tokens fail at once, on every replica. An unknown or dead token gets the same 200.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke."),
        (status = 400, description = "`invalid_request`: no `token`, or the body is not a form.", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: retry after `Retry-After`.", body = OAuthErrorBody),
    ),
)]
pub async fn revoke(
    service: web::Data<ClientService>,
    client: ClientContext,
    form: web::Form<TokenParameterForm>,
) -> Result<HttpResponse, OAuthError> {
    let token = required(form.token.as_ref(), "token")?;
    service.revoke_token(token, &client.0).await.map_err(|error| OAuthError::infrastructure(&error))?;
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// What introspection says of a token (RFC 7662 §2.2); an inactive token gets `{"active": false}`
/// and nothing else.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionResponse {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    sub: Option<String>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

/// Introspect a token (RFC 7662)
///
/// For resource servers, with HTTP Basic credentials from AUTH_INTROSPECTION_CLIENTS. A live
/// access token (signature, claims and revocation checked) or the current refresh token of a live
/// session is active; anything else is exactly `{"active": false}`.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    security(("introspection_client" = [])),
    responses(
        (status = 200, description = "What the token is.", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`: no `token`, or the body is not a form.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: no or wrong HTTP Basic credentials (`WWW-Authenticate: Basic`).", body = OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed authentications of this configured client id, or of unknown client ids together, from this address (AUTH_RATE_CLIENT_AUTH, 10 per 15 minutes by default); retry after `Retry-After`.", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: revocation cannot be checked now; retry after `Retry-After`.", body = OAuthErrorBody),
    ),
)]
pub async fn introspect(
    request: HttpRequest,
    service: web::Data<ClientService>,
    client: ClientContext,
    form: web::Form<TokenParameterForm>,
) -> Result<HttpResponse, OAuthError> {
    authenticate_client(&request, &service, &client).await?;
    let token = required(form.token.as_ref(), "token")?;
    let response = match service.introspect(token).await.map_err(|error| OAuthError::infrastructure(&error))? {
        Introspection::Inactive => IntrospectionResponse::default(),
        Introspection::AccessToken(claims) => IntrospectionResponse {
            active: true,
            sub: Some(claims.sub.to_string()),
            sid: Some(claims.sid.to_string()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            roles: Some(claims.roles),
            token_type: Some("Bearer"),
        },
        Introspection::RefreshToken { session, issued_at } => IntrospectionResponse {
            active: true,
            sub: Some(session.user_id.to_string()),
            sid: Some(session.id.to_string()),
            exp: Some(session.ends_at().unix_timestamp()),
            iat: Some(issued_at.unix_timestamp()),
            iss: Some(service.policy().issuer.clone()),
            aud: Some(service.policy().audience.clone()),
            roles: None,
            token_type: Some("refresh_token"),
        },
    };
    Ok(no_store(HttpResponse::Ok()).json(response))
}
