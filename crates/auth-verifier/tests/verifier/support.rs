//! A fake auth server (JWKS, discovery, revocation feed) on 127.0.0.1:0 that counts what it is
//! asked, Ed25519 keys that sign tokens as authd does, and hand-made forgeries.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_verifier::{RevocationFeed, Uuid, Verifier, VerifierBuilder};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://auth.test";
pub const AUDIENCE: &str = "authd";
pub const CLIENT_ID: &str = "resource-server";
pub const CLIENT_SECRET: &str = "resource-secret";

/// Generous: the machine running the tests may be busy with a build.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970").as_secs()
        as i64
}

/// An Ed25519 signing key as authd holds one, with its `kid`.
pub struct TestKey {
    pub kid: String,
    signing: ed25519_dalek::SigningKey,
    encoding: EncodingKey,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let der = signing.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
        Self { kid: kid.to_owned(), encoding: EncodingKey::from_ed_der(der.as_bytes()), signing }
    }

    /// The public key as the JWKS publishes it.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes()),
        })
    }

    /// The raw public key, which an HMAC forgery would use as its secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.signing.verifying_key().as_bytes().to_vec()
    }

    /// A token signed as authd signs them (through jsonwebtoken).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("a token signs")
    }

    /// A token with any header at all, signed with this key's Ed25519 signature.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", encode_part(header), encode_part(claims));
        let signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

pub fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The claims of a valid token of session `sid`.
pub fn claims_for(sid: Uuid) -> Value {
    let now = now();
    json!({
        "iss": ISSUER, "sub": Uuid::new_v4().to_string(), "aud": AUDIENCE,
        "exp": now + 900, "iat": now, "nbf": now, "jti": Uuid::new_v4().to_string(),
        "sid": sid.to_string(), "roles": ["admin"], "amr": ["pwd"], "email_verified": true,
    })
}

pub fn claims() -> Value {
    claims_for(Uuid::new_v4())
}

#[derive(Default)]
struct State {
    jwks: Mutex<Vec<Value>>,
    jwks_down: AtomicBool,
    jwks_max_age: Mutex<u64>,
    jwks_requests: AtomicUsize,
    /// Every revocation ever published, in order; a cursor is a position in it.
    revocations: Mutex<Vec<(String, i64)>>,
    feed_down: AtomicBool,
    feed_requests: AtomicUsize,
    cursors_received: Mutex<Vec<Option<String>>>,
}

/// The fake auth server; stopped when dropped.
pub struct FakeAuth {
    pub base_url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl FakeAuth {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(State::default());
        *state.jwks.lock().expect("not poisoned") = keys.iter().map(|key| key.jwk()).collect();
        *state.jwks_max_age.lock().expect("not poisoned") = 300;
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let data = web::Data::from(state.clone());
        let discovery_base = base_url.clone();
        let server = HttpServer::new(move || {
            let discovery_base = discovery_base.clone();
            App::new()
                .app_data(data.clone())
                .route("/.well-known/jwks.json", web::get().to(jwks))
                .route("/v1/revocations", web::get().to(revocations))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let jwks_uri = format!("{discovery_base}/.well-known/jwks.json");
                        async move { HttpResponse::Ok().json(json!({"issuer": ISSUER, "jwks_uri": jwks_uri})) }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the listener is usable")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base_url, state, handle }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base_url)
    }

    /// A builder for this server's JWKS, with no revocation feed.
    pub fn builder(&self) -> VerifierBuilder {
        Verifier::builder(ISSUER, AUDIENCE).jwks_url(self.jwks_url())
    }

    /// A builder with this server's revocation feed and `max_staleness`.
    pub fn builder_with_feed(&self, max_staleness: Duration) -> VerifierBuilder {
        self.builder()
            .revocation_feed(RevocationFeed::at_base_url(&self.base_url, CLIENT_ID, CLIENT_SECRET))
            .max_staleness(max_staleness)
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        *self.state.jwks.lock().expect("not poisoned") = keys.iter().map(|key| key.jwk()).collect();
    }

    pub fn publish_raw(&self, keys: Vec<Value>) {
        *self.state.jwks.lock().expect("not poisoned") = keys;
    }

    pub fn set_jwks_max_age(&self, seconds: u64) {
        *self.state.jwks_max_age.lock().expect("not poisoned") = seconds;
    }

    pub fn set_jwks_down(&self, down: bool) {
        self.state.jwks_down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    pub fn revoke(&self, sid: Uuid, exp: i64) {
        self.state.revocations.lock().expect("not poisoned").push((sid.to_string(), exp));
    }

    /// Forgets every revocation, as a server whose state was wiped would: older cursors then
    /// point past the end and are refused with 400.
    pub fn reset_feed(&self) {
        self.state.revocations.lock().expect("not poisoned").clear();
    }

    pub fn set_feed_down(&self, down: bool) {
        self.state.feed_down.store(down, Ordering::SeqCst);
    }

    pub fn feed_requests(&self) -> usize {
        self.state.feed_requests.load(Ordering::SeqCst)
    }

    pub fn cursors_received(&self) -> Vec<Option<String>> {
        self.state.cursors_received.lock().expect("not poisoned").clone()
    }
}

impl Drop for FakeAuth {
    fn drop(&mut self) {
        // Not awaited: the test is over, and its runtime takes the server down with it.
        drop(self.handle.stop(false));
    }
}

async fn jwks(state: web::Data<State>) -> HttpResponse {
    state.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if state.jwks_down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let keys = state.jwks.lock().expect("not poisoned").clone();
    let max_age = *state.jwks_max_age.lock().expect("not poisoned");
    HttpResponse::Ok()
        .insert_header(("Cache-Control", format!("public, max-age={max_age}")))
        .json(json!({ "keys": keys }))
}

/// The most sessions one page of the fake feed lists.
const FEED_PAGE: usize = 2;

async fn revocations(state: web::Data<State>, request: HttpRequest) -> HttpResponse {
    state.feed_requests.fetch_add(1, Ordering::SeqCst);
    if state.feed_down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    let authorized =
        request.headers().get("Authorization").and_then(|value| value.to_str().ok()) == Some(expected.as_str());
    if !authorized {
        return HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Basic")).finish();
    }
    let since = web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
        .ok()
        .and_then(|query| query.get("since").cloned());
    state.cursors_received.lock().expect("not poisoned").push(since.clone());
    let all = state.revocations.lock().expect("not poisoned").clone();
    let start = match since.as_deref().map(|cursor| cursor.strip_prefix("c-").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(position)) if position <= all.len() => position,
        Some(_) => return HttpResponse::BadRequest().finish(),
    };
    // Pages as small as this make every test that revokes more than one session page.
    let end = (start + FEED_PAGE).min(all.len());
    let sessions: Vec<Value> = all[start..end].iter().map(|(sid, exp)| json!({"sid": sid, "exp": exp})).collect();
    HttpResponse::Ok()
        .json(json!({ "sessions": sessions, "cursor": format!("c-{end}"), "more": end - start == FEED_PAGE }))
}

/// Calls `attempt` until it returns `Some`, or panics with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
