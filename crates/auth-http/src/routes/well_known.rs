//! Routes under /.well-known: the public signing keys, and the discovery document that points at
//! them and at the OAuth endpoints.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_adapters::jwt::JwtCodec;
use utoipa::ToSchema;

/// How long verifiers may cache the key set. A rotation publishes the next key this long (plus a
/// reload interval) before it signs, so every cache holds it in time; a retired key lingers in
/// caches at most this long.
pub(crate) const JWKS_MAX_AGE_SECONDS: u16 = 60;

/// A JSON Web Key Set (RFC 7517): every public key that may still verify a live token.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON that JwtCodec::jwks builds in auth-adapters, which has no web dependency"
)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// One public signing key (RFC 7517; RFC 8037 for Ed25519, RFC 7518 for P-256 and RSA).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON that JwtCodec::jwks builds in auth-adapters, which has no web dependency"
)]
pub struct Jwk {
    /// The key type: `OKP` (Ed25519), `EC` (P-256) or `RSA`.
    #[schema(example = "OKP")]
    kty: String,
    /// The curve: `Ed25519` or `P-256` (not for RSA).
    #[schema(example = "Ed25519")]
    crv: Option<String>,
    /// Ed25519: the public key; P-256: the x coordinate. Base64url without padding.
    x: Option<String>,
    /// P-256: the y coordinate.
    y: Option<String>,
    /// RSA: the modulus.
    n: Option<String>,
    /// RSA: the public exponent.
    e: Option<String>,
    /// The key id, as the `kid` of the tokens it signed.
    kid: String,
    /// The signing algorithm: `EdDSA`, `ES256` or `RS256`.
    #[schema(example = "EdDSA")]
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    key_use: String,
}

/// Public signing keys (JWKS)
///
/// Every key that may still verify a live token; the next key is published before it signs.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    responses(
        (status = 200, description = "The key set; cacheable (`Cache-Control: public, max-age=60`).", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
    ),
)]
pub async fn jwks(codec: web::Data<JwtCodec>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={JWKS_MAX_AGE_SECONDS}")))
        .json(codec.jwks())
}

/// The discovery document, built once at start from the public URL and the issuer; the signing
/// algorithms are those of the published keys at each request.
#[derive(Debug, Clone)]
pub struct Discovery(pub serde_json::Value);

/// How long clients may cache the discovery document: no longer than the JWKS, since a rotation
/// to another algorithm changes the algorithms it names when the next key is published.
const DISCOVERY_MAX_AGE_SECONDS: u16 = JWKS_MAX_AGE_SECONDS;

impl Discovery {
    /// The document for a service reachable at `public_url` that issues tokens as `issuer` and
    /// signs them with `algorithm`. No ID tokens are issued; the OpenID fields are those that
    /// generic JOSE and OAuth clients read to find the keys and the endpoints.
    pub fn new(public_url: &str, issuer: &str, algorithm: &str) -> Self {
        // `algorithm` stands until keys are loaded; then the published keys' algorithms do.
        Self(serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{public_url}/.well-known/jwks.json"),
            "token_endpoint": format!("{public_url}/oauth/token"),
            "revocation_endpoint": format!("{public_url}/oauth/revoke"),
            "introspection_endpoint": format!("{public_url}/oauth/introspect"),
            "grant_types_supported": ["password", "refresh_token"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "access_token_signing_alg_values_supported": [algorithm],
            "id_token_signing_alg_values_supported": [algorithm],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles", "amr", "email_verified"],
        }))
    }
}

/// The discovery document (RFC 8414, OpenID Connect Discovery).
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON that Discovery::new builds")]
pub struct DiscoveryDocument {
    /// The `iss` of every token.
    issuer: String,
    /// Where the public keys are.
    jwks_uri: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    #[schema(example = json!(["password", "refresh_token"]))]
    grant_types_supported: Vec<String>,
    /// The algorithms of the published keys: during a rotation to another algorithm, both.
    #[schema(example = json!(["EdDSA"]))]
    access_token_signing_alg_values_supported: Vec<String>,
    #[schema(example = json!(["EdDSA"]))]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// Discovery
///
/// Where the keys and the OAuth endpoints are, for clients and gateways that configure themselves
/// from the issuer alone.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "keys",
    responses(
        (status = 200, description = "The discovery document; cacheable (`Cache-Control: public, max-age=60`).", body = DiscoveryDocument),
    ),
)]
pub async fn openid_configuration(discovery: web::Data<Discovery>, codec: web::Data<JwtCodec>) -> HttpResponse {
    let mut document = discovery.0.clone();
    let algorithms = codec.published_algorithms();
    if !algorithms.is_empty() {
        document["access_token_signing_alg_values_supported"] = serde_json::json!(algorithms);
        document["id_token_signing_alg_values_supported"] = serde_json::json!(algorithms);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={DISCOVERY_MAX_AGE_SECONDS}")))
        .json(document)
}

/// Authorization server metadata (RFC 8414)
///
/// The same document as `/.well-known/openid-configuration`, at the path RFC 8414 defines.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "keys",
    responses(
        (status = 200, description = "The metadata; cacheable (`Cache-Control: public, max-age=60`).", body = DiscoveryDocument),
    ),
)]
pub async fn authorization_server_metadata(
    discovery: web::Data<Discovery>,
    codec: web::Data<JwtCodec>,
) -> HttpResponse {
    openid_configuration(discovery, codec).await
}
