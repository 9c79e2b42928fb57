//! The example served on a real socket, as the live test drives it, against a JWKS served in the
//! test: who am I, and the admin-only route with and without the role.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_verifier::{Uuid, Verifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.test";

struct Keys {
    encoding: EncodingKey,
    jwks: Value,
}

fn keys() -> Keys {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let der = signing.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    Keys {
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        jwks: json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA", "use": "sig"}]}),
    }
}

fn token(keys: &Keys, roles: &[&str], sid: Uuid, sub: Uuid) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let claims = json!({
        "iss": ISSUER, "sub": sub.to_string(), "aud": "authd", "exp": now + 900, "iat": now, "nbf": now,
        "jti": Uuid::new_v4().to_string(), "sid": sid.to_string(), "roles": roles, "amr": ["pwd"],
        "email_verified": true,
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("k1".to_owned());
    jsonwebtoken::encode(&header, &claims, &keys.encoding).expect("a token signs")
}

/// A JWKS endpoint on 127.0.0.1:0; returns its URL.
fn serve_jwks(jwks: Value) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().expect("bound"));
    let server = HttpServer::new(move || {
        let jwks = jwks.clone();
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(move || {
                let jwks = jwks.clone();
                async move { HttpResponse::Ok().json(jwks) }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the listener is usable")
    .run();
    tokio::spawn(server);
    url
}

#[tokio::test]
async fn whoami_and_admin_only_answer_from_the_token() {
    let keys = keys();
    let verifier =
        Verifier::builder(ISSUER, "authd").jwks_url(serve_jwks(keys.jwks.clone())).build().await.expect("builds");
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let server = downstream_example::run(listener, verifier).expect("the example starts");
    let handle = server.handle();
    tokio::spawn(server);
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let request = client.get(format!("{base}{path}"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };

    let (sid, sub) = (Uuid::new_v4(), Uuid::new_v4());
    let user = token(&keys, &["user"], sid, sub);
    let response = get("/whoami", Some(&user)).await.expect("answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"user_id": sub.to_string(), "session_id": sid.to_string(), "roles": ["user"]}));

    let response = get("/whoami", None).await.expect("answers");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    assert_eq!(get("/admin-only", Some(&user)).await.expect("answers").status(), 403);
    let admin = token(&keys, &["admin"], Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(get("/admin-only", Some(&admin)).await.expect("answers").status(), 200);
    assert_eq!(get("/admin-only", Some("not.a.token")).await.expect("answers").status(), 401);
    assert_eq!(get("/readyz", None).await.expect("answers").status(), 200);

    handle.stop(true).await;
}
