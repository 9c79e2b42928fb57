//! The verifier crate in a downstream service (examples/downstream) against the live service:
//! it accepts our tokens through a key rotation, and refuses a logged-out token within its bound
//! on staleness (the default 5 s), without calling us per request.

use std::time::{Duration, Instant};

use auth_verifier::{RevocationFeed, Verifier};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, jwt_claims, spawn_app_with};
use crate::keys::{keys_command, kid_of, stdout};

/// The verifier's default bound on staleness, which the test holds it to.
const MAX_STALENESS: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_downstream_service_follows_a_key_rotation_and_refuses_a_logged_out_token_within_its_bound() {
    let app = spawn_app_with(&[("AUTH_INTROSPECTION_CLIENTS", "downstream:s3cret-of-downstream")]).await;
    let verifier = Verifier::builder("http://auth.test", "authd")
        .jwks_url(app.url("/.well-known/jwks.json"))
        .revocation_feed(RevocationFeed::at_base_url(&app.address, "downstream", "s3cret-of-downstream"))
        .build()
        .await
        .expect("the verifier starts");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let downstream = format!("http://{}", listener.local_addr().expect("bound"));
    let server = downstream_example::run(listener, verifier).expect("the downstream service starts");
    let handle = server.handle();
    tokio::spawn(server);
    let whoami = |token: String| {
        let (client, url) = (app.client.clone(), format!("{downstream}/whoami"));
        async move { client.get(url).bearer_auth(token).send().await.expect("sent") }
    };

    let before = app.signed_in_user("ada@example.com").await;
    let answer = whoami(before.access.clone()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("JSON");
    assert_eq!(body["user_id"], jwt_claims(&before.access)["sub"]);
    assert_eq!(whoami("not.a.token".into()).await.status(), StatusCode::UNAUTHORIZED);

    // A rotation: the downstream service, which cached the old key set, accepts the new key's
    // tokens (an unknown kid makes it refetch) and still the old key's.
    let rotated = keys_command(&app, &["rotate", "--activate-after", "2s"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let next_kid = stdout(&rotated).split_whitespace().next().expect("the new kid").to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let response = app.login("ada@example.com", PASSWORD).await;
        let tokens = Tokens::from_body(response.json().await.expect("a token pair"));
        if kid_of(&tokens.access) == next_kid {
            break tokens;
        }
        assert!(Instant::now() < deadline, "the next key does not sign");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(kid_of(&before.access), kid_of(&after.access));
    for tokens in [&before, &after] {
        assert_eq!(whoami(tokens.access.clone()).await.status(), StatusCode::OK);
    }

    // A logout reaches the downstream service through the feed within the bound; the other
    // session is untouched.
    assert_eq!(app.post_authorized("/v1/auth/logout", &after.access).await.status(), StatusCode::NO_CONTENT);
    let logged_out_at = Instant::now();
    // Refused within the bound: 401 once the feed listed the session, or 503 if the feed could not
    // be polled in time on a loaded machine (the verifier fails closed); never 200 after it.
    loop {
        let status = whoami(after.access.clone()).await.status();
        if status != StatusCode::OK {
            break;
        }
        // The bound, plus a second for the requests themselves.
        assert!(logged_out_at.elapsed() < MAX_STALENESS + Duration::from_secs(1), "still accepted after the bound");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = whoami(after.access.clone()).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_ne!(status, StatusCode::OK, "a logged-out token was accepted again");
        assert!(Instant::now() < deadline, "the revocation never reached the downstream service");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(whoami(before.access.clone()).await.status(), StatusCode::OK);
    handle.stop(true).await;
}
