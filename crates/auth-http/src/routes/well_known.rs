//! Routes under /.well-known: the public signing keys.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_adapters::jwt::JwtCodec;

/// How long verifiers may cache the key set. Short enough that a rotation, which publishes the
/// next key before it signs, reaches every cache in time.
const JWKS_MAX_AGE_SECONDS: u32 = 300;

pub async fn jwks(codec: web::Data<JwtCodec>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={JWKS_MAX_AGE_SECONDS}")))
        .json(codec.jwks())
}
