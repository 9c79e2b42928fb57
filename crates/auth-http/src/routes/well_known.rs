//! Routes under /.well-known: the public signing keys.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_adapters::jwt::JwtCodec;
use utoipa::ToSchema;

/// How long verifiers may cache the key set. Short enough that a rotation, which publishes the
/// next key before it signs, reaches every cache in time.
const JWKS_MAX_AGE_SECONDS: u32 = 300;

/// A JSON Web Key Set (RFC 7517): every public key that may still verify a live token.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON that JwtCodec::jwks builds in auth-adapters, which has no web dependency"
)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// One public signing key (RFC 7517, RFC 8037 for Ed25519).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON that JwtCodec::jwks builds in auth-adapters, which has no web dependency"
)]
pub struct Jwk {
    /// The key type: `OKP` for Ed25519.
    #[schema(example = "OKP")]
    kty: String,
    /// The curve: `Ed25519`.
    #[schema(example = "Ed25519")]
    crv: String,
    /// The public key, base64url without padding.
    x: String,
    /// The key id, as the `kid` of the tokens it signed.
    kid: String,
    /// The signing algorithm: `EdDSA`.
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
        (status = 200, description = "The key set; cacheable (`Cache-Control: public, max-age=300`).", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    ),
)]
pub async fn jwks(codec: web::Data<JwtCodec>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={JWKS_MAX_AGE_SECONDS}")))
        .json(codec.jwks())
}
