//! The reference server: a bare actix-web route that verifies the service's access tokens (EdDSA,
//! the key found by `kid` in the service's JWKS, `iss`, `aud`, `exp`, `nbf` with 30 s of leeway)
//! with the same `jsonwebtoken` build, and does nothing else: no middleware, no logging, no
//! revocation check. It is built in the same profile and serves on as many actix workers as the
//! service, so its rate is the ceiling of an authenticated request on this machine.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::service::{AUDIENCE, ISSUER};

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

async fn verify(request: HttpRequest, keys: web::Data<Keys>) -> HttpResponse {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else { return HttpResponse::Unauthorized().finish() };
    let Some(key) =
        jsonwebtoken::decode_header(token).ok().and_then(|header| header.kid).and_then(|kid| keys.by_kid.get(&kid))
    else {
        return HttpResponse::Unauthorized().finish();
    };
    match jsonwebtoken::decode::<Claims>(token, key, &keys.validation) {
        Ok(data) => HttpResponse::Ok().json(serde_json::json!({ "sub": data.claims.sub })),
        Err(_) => HttpResponse::Unauthorized().finish(),
    }
}

/// Serves until killed; prints `listening on port N` first. The JWKS comes in LOADTEST_JWKS.
pub fn serve() -> anyhow::Result<()> {
    let jwks: JwkSet = serde_json::from_str(&std::env::var("LOADTEST_JWKS").context("LOADTEST_JWKS is unset")?)
        .context("LOADTEST_JWKS is not a JWKS")?;
    let mut by_kid = HashMap::new();
    for jwk in &jwks.keys {
        let kid = jwk.common.key_id.clone().context("a JWKS key without kid")?;
        by_kid.insert(kid, DecodingKey::from_jwk(jwk).context("a JWKS key that does not decode")?);
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    let keys = web::Data::new(Keys { by_kid, validation });
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || App::new().app_data(keys.clone()).default_service(web::to(verify)))
            // The service's keep-alive, so that the 10,000 idle connections stay open here too.
            .keep_alive(Duration::from_secs(30))
            .bind(("127.0.0.1", 0))?;
        let port = server.addrs().first().map(std::net::SocketAddr::port).context("not bound")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on port {port}")?;
        stdout.flush()?;
        server.run().await?;
        Ok(())
    })
}
