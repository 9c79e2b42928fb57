//! HTTP hygiene: CORS for configured origins only, and bounded password hashing under a flood.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, spawn_app_with};

#[tokio::test]
async fn only_configured_origins_get_cors_headers() {
    let app = spawn_app_with(&[("AUTH_CORS_ORIGINS", "https://app.example.com, https://admin.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let allowed = preflight("https://app.example.com").await.expect("sent");
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(!allowed.headers().contains_key("access-control-allow-credentials"), "no cookies, no credentials");

    let foreign = preflight("https://evil.example.com").await.expect("sent");
    assert!(!foreign.headers().contains_key("access-control-allow-origin"), "{:?}", foreign.headers());

    let simple =
        app.client.get(app.url("/healthz")).header("origin", "https://evil.example.com").send().await.expect("sent");
    assert_eq!(simple.status(), StatusCode::OK, "served, but without CORS headers the browser withholds it");
    assert!(!simple.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn no_origin_gets_cors_headers_by_default() {
    let app = spawn_app_with(&[]).await;
    let response =
        app.client.get(app.url("/healthz")).header("origin", "https://app.example.com").send().await.expect("sent");
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

fn resident_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Argon2 at 19 MiB a hash is a memory-exhaustion lever: past the bounded queue, logins are turned
/// away with 503 at once, memory stays bounded, and other routes keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_bounded_and_other_routes_keep_answering() {
    let app = spawn_app_with(&[
        ("AUTH_HASH_CONCURRENCY", "1"),
        ("AUTH_HASH_QUEUE", "2"),
        ("AUTH_RATE_LOGIN_IP", "off"),
        ("AUTH_RATE_LOGIN_EMAIL", "off"),
    ])
    .await;
    let before = resident_memory_kib();

    let flood: Vec<_> = (0..60)
        .map(|n| {
            let client = app.client.clone();
            let url = app.url("/v1/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({ "email": format!("user{n}@example.com"), "password": PASSWORD }))
                    .send()
                    .await
            })
        })
        .collect();
    let started = Instant::now();
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "health took {:?} during the flood", started.elapsed());

    let (mut refused, mut answered) = (0, 0);
    for request in flood {
        let response = request.await.expect("joined").expect("sent");
        match response.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                let body: serde_json::Value = response.json().await.expect("JSON");
                assert_eq!(body["code"], "overloaded");
                refused += 1;
            }
            StatusCode::UNAUTHORIZED => answered += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "the queue bound turned nobody away");
    assert!(answered >= 3, "the admitted logins were answered");
    // At most 1 + 2 hashes of 19 MiB are ever in flight; leave ample room for the allocator.
    let grown_mib = resident_memory_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "resident memory grew by {grown_mib} MiB");
}

#[tokio::test]
async fn a_password_from_the_breached_list_is_refused_at_registration() {
    use sha1::Digest;
    let breached = "correct horse battery staple";
    let hash: String = sha1::Sha1::digest(breached.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let list = folder.path().join("pwned.txt");
    // Sorted, mixed with other hashes, CRLF line ends and counts, as the published file has them.
    let mut lines = vec![format!("{hash}:3861493"), "0000000A0E3B9F25FF41DE4B5AC238C2D545C7A8:15".to_owned()];
    lines.push("FFFFF8B2B1EE4A8D6C1E4D5EF5D3A1C6B2A9B7C4:2".to_owned());
    lines.sort_by_key(|line| line.to_uppercase());
    std::fs::write(&list, lines.join("\r\n") + "\r\n").expect("written");
    let app = spawn_app_with(&[("AUTH_BREACHED_PASSWORDS", &list.display().to_string())]).await;

    let refused = app.register("ada@example.com", breached).await;
    let problem = crate::helpers::assert_problem(refused, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "password");
    assert_eq!(problem["errors"][0]["code"], "breached");
    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
}

/// The time of one refused login.
async fn refused_login_time(app: &crate::helpers::TestApp, email: &str, password: &str) -> Duration {
    let started = Instant::now();
    let response = app.login(email, password).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    elapsed
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Without the dummy verification an unknown address is refused in about a millisecond, a known
/// one after a 19 MiB Argon2 run: a stopwatch would tell which addresses have accounts.
#[tokio::test]
async fn an_unknown_email_takes_as_long_to_refuse_as_a_wrong_password() {
    // One hashing thread: both sides then run on the same thread, with the same warm buffer.
    let app = spawn_app_with(&[
        ("AUTH_RATE_LOGIN_EMAIL", "off"),
        ("AUTH_RATE_LOGIN_IP", "off"),
        ("AUTH_HASH_CONCURRENCY", "1"),
    ])
    .await;
    app.signed_in_user("ada@example.com").await;
    // Unmeasured rounds first: the hashing thread allocates its Argon2 memory on its first job,
    // and that one-time cost must not land on one side only.
    for _ in 0..4 {
        refused_login_time(&app, "ada@example.com", "wrong-password-attempt").await;
        refused_login_time(&app, "nobody@example.com", "wrong-password-attempt").await;
    }
    // Alternated, so that load from other tests on the machine weighs on both sides alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        known.push(refused_login_time(&app, "ada@example.com", "wrong-password-attempt").await);
        unknown.push(refused_login_time(&app, "nobody@example.com", "wrong-password-attempt").await);
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "unknown {unknown:?} vs known {known:?}");
}

/// A header block far over the limit is refused by the HTTP layer, never served or crashed on.
#[tokio::test]
async fn an_oversized_header_is_refused() {
    let app = spawn_app_with(&[]).await;
    let response =
        app.client.get(app.url("/healthz")).header("x-filler", "a".repeat(64 * 1024)).send().await.expect("sent");
    crate::helpers::assert_problem(response, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large").await;
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("sent").status(), StatusCode::OK);
}

/// A slow-loris client that never finishes its request headers is cut off by the request timeout
/// instead of holding a connection forever.
#[tokio::test]
async fn a_client_that_never_finishes_its_request_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(&[]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connects");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.expect("writes");
    let started = Instant::now();
    let mut buffer = Vec::new();
    let outcome = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buffer)).await;
    assert!(outcome.is_ok(), "the server kept the half-sent request open for 20 s");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

/// X-Forwarded-For is believed only from a trusted proxy: otherwise anyone could pick the address
/// the IP limits and the audit trail see.
#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    async fn session_ip(app: &crate::helpers::TestApp) -> String {
        let login = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("sent");
        let tokens = crate::helpers::Tokens::from_body(login.json().await.expect("JSON"));
        let listed: serde_json::Value =
            app.get_authorized("/v1/users/me/sessions", &tokens.access).await.json().await.expect("JSON");
        listed["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|session| session["id"] == tokens.session_id.as_str())
            .expect("the new session")["ip"]
            .as_str()
            .expect("an ip")
            .to_owned()
    }

    let untrusting = spawn_app_with(&[]).await;
    untrusting.signed_in_user("ada@example.com").await;
    assert_eq!(session_ip(&untrusting).await, "127.0.0.1", "a header from an untrusted peer is ignored");

    let behind_proxy = spawn_app_with(&[("AUTH_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    behind_proxy.signed_in_user("ada@example.com").await;
    assert_eq!(session_ip(&behind_proxy).await, "203.0.113.9", "the right-most address the proxy saw");
}

/// Registering a known address must not be measurably faster or slower than a new one: both hash
/// the password first, then write a little and mail.
#[tokio::test]
async fn registering_a_known_email_takes_as_long_as_a_new_one() {
    let app = spawn_app_with(&[("AUTH_RATE_REGISTER_IP", "off"), ("AUTH_RATE_EMAIL_SEND", "off")]).await;
    app.register("ada@example.com", PASSWORD).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for n in 0..7 {
        let started = Instant::now();
        assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
        known.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(app.register(&format!("new{n}@example.com"), PASSWORD).await.status(), StatusCode::ACCEPTED);
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let ratio = unknown[3].as_secs_f64() / known[3].as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "new {:?} vs known {:?}", unknown[3], known[3]);
}

/// Operators see requests by route and status, latency, outcomes by problem code and the pool;
/// never an email or a user id in a label.
#[tokio::test]
async fn metrics_count_requests_and_outcomes_without_personal_labels() {
    let app = spawn_app_with(&[("AUTH_METRICS_LISTEN", "127.0.0.1:0")]).await;
    app.signed_in_user("metrics-ada@example.com").await;
    app.login("metrics-ada@example.com", "wrong-password-attempt").await;

    let metrics_address = app.metrics_address.as_deref().expect("a metrics server");
    let response = app.client.get(format!("{metrics_address}/metrics")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let text = response.text().await.expect("text");

    let sample = |prefix: &str| {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
    };
    let labelled = |name: &str, labels: &[(&str, &str)]| {
        text.lines()
            .filter(|line| {
                line.starts_with(name) && labels.iter().all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert!(labelled("http_requests_total", &[("route", "/v1/auth/login"), ("status", "200")]) >= 1.0);
    assert!(labelled("http_requests_total", &[("route", "/v1/auth/login"), ("status", "401")]) >= 1.0);
    assert!(labelled("http_request_duration_seconds_count", &[("route", "/v1/auth/login")]) >= 2.0);
    assert!(labelled("auth_problems_total", &[("code", "invalid_credentials")]) >= 1.0);
    assert!(sample("db_pool_connections{state=\"open\"}") >= 1.0);
    assert!(text.contains("mail_queue_jobs{status=\"pending\"}"), "the mail queue's depth is reported");
    assert!(labelled("mail_deliveries_total", &[("outcome", "delivered")]) >= 1.0);
    assert!(!text.contains("metrics-ada"), "an email reached a label");
}

/// With AUTH_METRICS_LISTEN, scrapers use an internal address and the API's address hides them.
#[tokio::test]
async fn metrics_on_their_own_address_are_not_served_beside_the_api() {
    let app = spawn_app_with(&[("AUTH_METRICS_LISTEN", "127.0.0.1:0")]).await;
    app.signed_in_user("scraped@example.com").await;
    let metrics_address = app.metrics_address.as_deref().expect("a metrics server");

    let scraped = app.client.get(format!("{metrics_address}/metrics")).send().await.expect("sent");
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.expect("text").contains("http_requests_total"));
    let beside = app.client.get(app.url("/metrics")).send().await.expect("sent");
    crate::helpers::assert_problem(beside, StatusCode::NOT_FOUND, "not_found").await;
    let api_elsewhere = app.client.get(format!("{metrics_address}/v1/users/me")).send().await.expect("sent");
    assert_eq!(api_elsewhere.status(), StatusCode::NOT_FOUND, "the metrics address serves nothing else");
}

/// The API's port never serves metrics, configured or not: the mail counters move only for known
/// addresses, so a public `/metrics` would tell a caller which emails have accounts.
#[tokio::test]
async fn metrics_are_never_served_on_the_api_port() {
    let app = spawn_app_with(&[]).await;
    assert!(app.metrics_address.is_none(), "no AUTH_METRICS_LISTEN, no metrics server");
    let response = app.client.get(app.url("/metrics")).send().await.expect("sent");
    crate::helpers::assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

/// A client may send any token as the method; each distinct one must not become a metric series
/// (or a span name) that the process keeps for ever.
#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app_with(&[("AUTH_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let metrics_address = app.metrics_address.as_deref().expect("a metrics server");
    let marker = "MADEUPMETHOD";
    for n in 0..40 {
        let method = format!("{marker}{n:04}{}", "X".repeat(1_000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a token is a method");
        for path in ["/healthz", "/no/such/route"] {
            let response = app.client.request(method.clone(), app.url(path)).send().await.expect("sent");
            assert!(response.status().is_client_error(), "{path}: {}", response.status());
        }
    }
    let text = app.client.get(format!("{metrics_address}/metrics")).send().await.expect("sent").text().await;
    let text = text.expect("text");
    assert!(!text.contains(marker), "a made-up method became a label");
    // Whatever other tests of this binary sent, the method label takes only its fixed values.
    let methods: std::collections::BTreeSet<&str> =
        text.match_indices("method=\"").filter_map(|(at, found)| text[at + found.len()..].split('"').next()).collect();
    let known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"];
    assert!(methods.iter().all(|method| known.contains(method)), "method labels: {methods:?}");
    assert!(methods.contains("other"), "made-up methods are counted as other: {methods:?}");
}
