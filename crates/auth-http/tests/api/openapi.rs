//! The OpenAPI document: served, 3.1, the same routes as the server, problems documented, the
//! schemas true to what the server sends; Swagger UI served whole by the binary; and the committed
//! `docs/openapi.json` current.

use std::collections::BTreeSet;

use auth_http::routes::ROUTES;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// The operations that answer without a problem document: probes, keys and these docs.
const WITHOUT_PROBLEMS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/openapi.json",
    "/docs",
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn served_document(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/openapi.json")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

/// Every `(method, path)` the document describes.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.keys().filter(|key| METHODS.contains(&key.as_str())).map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

/// Follows a local `$ref` (`#/components/schemas/User`).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            resolve(document, document.pointer(pointer).unwrap_or_else(|| panic!("{reference} resolves")))
        }
        None => schema,
    }
}

/// Checks `value` against `schema` as far as this document uses JSON Schema: types (with
/// `null`), required and undeclared properties, enums, array items, `oneOf`. Returns the first
/// mismatch, as a JSON pointer and what is wrong.
fn conformance(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(document, schema);
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = variants.iter().filter(|variant| conformance(document, variant, value, at).is_ok()).count();
        return if matching == 1 { Ok(()) } else { Err(format!("{at}: {matching} variants of oneOf match {value}")) };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let type_matches = |name: &str| match name {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|name| type_matches(name)) {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema.get("properties").and_then(Value::as_object)) {
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = required.as_str().expect("a property name");
            if !object.contains_key(name) {
                return Err(format!("{at}: the required property {name} is missing"));
            }
        }
        for (name, field) in object {
            let property = properties.get(name).ok_or_else(|| format!("{at}: {name} is not in the schema"))?;
            conformance(document, property, field, &format!("{at}/{name}"))?;
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            conformance(document, item_schema, item, &format!("{at}/{index}"))?;
        }
    }
    Ok(())
}

/// Asserts that a live response has the status, content type and body schema that the document
/// gives for this operation and status.
async fn assert_documented(document: &Value, method: &str, path: &str, response: reqwest::Response) -> Value {
    let status = response.status().as_u16().to_string();
    let documented = &document["paths"][path][method]["responses"][&status];
    assert!(documented.is_object(), "{method} {path} answered {status}, which the document does not list");
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    let body: Value = response.json().await.expect("a JSON body");
    let schema = &documented["content"][&content_type]["schema"];
    assert!(schema.is_object(), "{method} {path} {status}: no schema for {content_type} in {documented}");
    if let Err(mismatch) = conformance(document, schema, &body, "") {
        panic!("{method} {path} {status}: the body does not match its schema: {mismatch}\n{body:#}");
    }
    body
}

#[tokio::test]
async fn the_document_is_served_and_is_openapi_3_1() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let version = document["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(document["info"]["license"]["name"].is_string());
    assert_eq!(document, serde_json::to_value(auth_http::openapi::document()).expect("serializes"));
}

#[tokio::test]
async fn the_document_describes_exactly_the_routes_the_server_serves() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let served: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
    let documented = operations(&document);
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );

    // ROUTES is what `configure` registers; check that each answers as a route, not as the
    // fallback every unmatched request gets.
    let fallback: Value =
        app.client.get(app.url("/no/such/route")).send().await.expect("sent").json().await.expect("a problem");
    assert_eq!(fallback["code"], "not_found");
    for (method, path) in ROUTES {
        let concrete = path.replace("{id}", "0197a5c2-6f1e-7c3a-9d4b-2e8f1a6b5c3d");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let response = app.client.request(method.clone(), app.url(&concrete)).send().await.expect("sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != StatusCode::NOT_FOUND || body["detail"] != fallback["detail"],
            "{method} {path} fell through to the fallback: {body}"
        );
    }
}

#[tokio::test]
async fn every_operation_documents_its_problems() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let problem_ref = json!({ "$ref": "#/components/schemas/Problem" });
    assert_eq!(document["components"]["schemas"]["Problem"]["type"], "object");
    let oauth_error_ref = json!({ "$ref": "#/components/schemas/OAuthErrorBody" });
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][&method];
        let responses = operation["responses"].as_object().expect("responses");
        if path.starts_with("/oauth/") {
            // OAuth clients parse RFC 6749 errors, so these routes answer those instead.
            assert!(responses.keys().any(|status| status.starts_with('4')), "{method} {path} documents no 4xx");
            for (status, response) in responses.iter().filter(|(status, _)| !status.starts_with('2')) {
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(schema, &oauth_error_ref, "{method} {path} {status} is not an OAuth error");
            }
            continue;
        }
        let problems: Vec<&String> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('4'))
            .filter(|(_, response)| response["content"]["application/problem+json"]["schema"] == problem_ref)
            .map(|(status, _)| status)
            .collect();
        if !WITHOUT_PROBLEMS.contains(&path.as_str()) {
            assert!(!problems.is_empty(), "{method} {path} documents no 4xx problem");
        }
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(!description.is_empty(), "{method} {path} {status} has no description");
            if status.starts_with('4') || (status.starts_with('5') && path.starts_with("/v1/")) {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"], problem_ref,
                    "{method} {path} {status} is not a problem document"
                );
                assert!(description.contains("- `"), "{method} {path} {status} names no problem code: {description}");
            }
        }
        let bearer = operation["security"].as_array().is_some_and(|requirements| {
            requirements.iter().any(|requirement| requirement.get("bearer_auth").is_some())
        });
        if bearer {
            assert!(responses["401"]["description"].as_str().is_some_and(|text| text.contains("`invalid_token`")));
        }
        if operation["requestBody"]["content"]["application/json"].is_object() {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{method} {path} takes JSON but documents no {status}");
            }
        }
    }
    // The protected routes are the ones that say so.
    for (method, path) in [("get", "/v1/users/me"), ("post", "/v1/auth/logout"), ("get", "/v1/auth/verify")] {
        let security = &document["paths"][path][method]["security"];
        assert_eq!(security, &json!([{ "bearer_auth": [] }]), "{method} {path}");
        let unauthorized = app
            .client
            .request(Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"), app.url(path))
            .send()
            .await
            .expect("sent");
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED, "{method} {path} is protected");
    }
    assert!(document["paths"]["/v1/auth/login"]["post"].get("security").is_none());
    assert_eq!(document["components"]["securitySchemes"]["bearer_auth"]["bearerFormat"], "JWT");
}

#[tokio::test]
async fn the_schemas_describe_what_the_server_sends() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_documented(&document, "get", "/healthz", health).await;
    let ready = app.client.get(app.url("/readyz")).send().await.expect("sent");
    assert_documented(&document, "get", "/readyz", ready).await;
    let keys = app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("sent");
    let keys = assert_documented(&document, "get", "/.well-known/jwks.json", keys).await;
    assert!(!keys["keys"].as_array().expect("keys").is_empty(), "a key is published");

    // A validation problem, with its `errors`.
    let weak = app.post_json("/v1/auth/register", &json!({ "email": "weak@example.com", "password": "short" })).await;
    let problem = assert_documented(&document, "post", "/v1/auth/register", weak).await;
    assert_eq!(problem["code"], "validation_failed");
    assert!(!problem["errors"].as_array().expect("errors").is_empty());

    let tokens = app.signed_in_user("schema@example.com").await;
    let login = app.login("schema@example.com", PASSWORD).await;
    assert_documented(&document, "post", "/v1/auth/login", login).await;
    let wrong = app.login("schema@example.com", "not-the-password-at-all").await;
    assert_documented(&document, "post", "/v1/auth/login", wrong).await;
    let me = app.get_authorized("/v1/users/me", &tokens.access).await;
    assert_documented(&document, "get", "/v1/users/me", me).await;
    let renamed = app
        .client
        .patch(app.url("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .json(&json!({ "display_name": null }))
        .send()
        .await
        .expect("sent");
    assert_documented(&document, "patch", "/v1/users/me", renamed).await;
    let sessions = app.get_authorized("/v1/users/me/sessions", &tokens.access).await;
    assert_documented(&document, "get", "/v1/users/me/sessions", sessions).await;
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_documented(&document, "post", "/v1/auth/refresh", refreshed).await;
    let forgot = app.post_json("/v1/auth/password/forgot", &json!({ "email": "schema@example.com" })).await;
    assert_documented(&document, "post", "/v1/auth/password/forgot", forgot).await;
    let refused = app.get_authorized("/v1/users/me", "not-a-token").await;
    assert_documented(&document, "get", "/v1/users/me", refused).await;
}

#[tokio::test]
async fn the_schemas_of_the_second_factor_and_admin_routes_describe_what_is_sent() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let tokens = app.signed_in_user("ada@example.com").await;

    let enrolment = app.post_authorized("/v1/users/me/mfa/totp", &tokens.access).await;
    let enrolment = assert_documented(&document, "post", "/v1/users/me/mfa/totp", enrolment).await;
    let secret = enrolment["secret"].as_str().expect("a secret").to_owned();
    let confirm = |code: String| {
        let app = &app;
        let access = tokens.access.clone();
        async move {
            let body = json!({ "code": code });
            app.request(Method::POST, "/v1/users/me/mfa/totp/confirm", &access, Some(&body)).await
        }
    };
    let step = crate::mfa::current_step();
    let wrong = confirm("000000".to_owned()).await;
    assert_documented(&document, "post", "/v1/users/me/mfa/totp/confirm", wrong).await;
    let confirmed = confirm(crate::mfa::totp(&secret, step)).await;
    assert_documented(&document, "post", "/v1/users/me/mfa/totp/confirm", confirmed).await;
    let challenge = app.login("ada@example.com", PASSWORD).await;
    let challenge = assert_documented(&document, "post", "/v1/auth/login", challenge).await;
    let second = json!({ "mfa_token": challenge["mfa_token"], "code": crate::mfa::totp(&secret, step + 1) });
    let completed = app.post_json("/v1/auth/login/mfa", &second).await;
    assert_documented(&document, "post", "/v1/auth/login/mfa", completed).await;
    let replayed = app.post_json("/v1/auth/login/mfa", &second).await;
    assert_documented(&document, "post", "/v1/auth/login/mfa", replayed).await;

    let users = app.get_authorized("/v1/admin/users?limit=1", &admin.access).await;
    let users = assert_documented(&document, "get", "/v1/admin/users", users).await;
    let id = users["users"][0]["id"].as_str().expect("an id").to_owned();
    let user = app.get_authorized(&format!("/v1/admin/users/{id}"), &admin.access).await;
    assert_documented(&document, "get", "/v1/admin/users/{id}", user).await;
    let patched = app.request(Method::PATCH, &format!("/v1/admin/users/{id}"), &admin.access, Some(&json!({}))).await;
    assert_documented(&document, "patch", "/v1/admin/users/{id}", patched).await;
    let audit = app.get_authorized("/v1/admin/audit?limit=3", &admin.access).await;
    assert_documented(&document, "get", "/v1/admin/audit", audit).await;
    let forbidden = app.get_authorized("/v1/admin/audit", &tokens.access).await;
    assert_documented(&document, "get", "/v1/admin/audit", forbidden).await;
}

/// The URLs of a page's `src` and `href` attributes.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            urls.push(rest[..rest.find('"').expect("a closing quote")].to_owned());
        }
    }
    urls
}

#[tokio::test]
async fn the_docs_page_and_every_file_it_loads_come_from_the_server_itself() {
    let app = spawn_app().await;
    let page_url = Url::parse(&app.url("/docs")).expect("a URL");
    let page = app.client.get(page_url.clone()).send().await.expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    // The browser itself refuses anything from another origin.
    let policy = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'"] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("http"), "no other origin is allowed: {policy}");
    let html = page.text().await.expect("a page");

    let links = linked_urls(&html);
    assert!(links.len() >= 4, "the page links its scripts and styles: {links:?}");
    let mut scripts = 0;
    for link in &links {
        let url = page_url.join(link).expect("a relative URL");
        assert_eq!(url.origin(), page_url.origin(), "{link} is loaded from another origin");
        let response = app.client.get(url.clone()).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        // With `nosniff`, a browser runs a script or applies a style only under its own type.
        let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
        if link.ends_with(".js") {
            scripts += 1;
            assert!(content_type.contains("javascript"), "{url}: {content_type}");
        } else if link.ends_with(".css") {
            assert!(content_type.starts_with("text/css"), "{url}: {content_type}");
        }
        let body = response.bytes().await.expect("a body");
        assert!(!body.is_empty(), "{url} is empty");
        if link.ends_with("swagger-initializer.js") {
            let initializer = String::from_utf8(body.to_vec()).expect("text");
            assert!(initializer.contains(r#""url": "openapi.json""#), "{initializer}");
            assert!(initializer.contains(r#""validatorUrl": "none""#), "no online validator badge: {initializer}");
            let document = app.client.get(page_url.join("openapi.json").expect("a URL")).send().await.expect("sent");
            assert_eq!(document.status(), StatusCode::OK, "the initializer's document URL resolves");
        }
    }
    assert_eq!(scripts, 3, "the bundle, the preset and the initializer: {links:?}");

    // `/docs/` leads to the page, where its relative URLs resolve; unknown files are problems.
    let slash = app.client.get(app.url("/docs/")).send().await.expect("sent");
    assert_eq!(slash.status(), StatusCode::OK);
    assert_eq!(slash.url().path(), "/docs");
    let missing = app.client.get(app.url("/docs/no-such-file.js")).send().await.expect("sent");
    crate::helpers::assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[test]
fn docs_openapi_json_is_current_else_run_cargo_xtask_openapi() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = auth_http::openapi::to_json();
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(left, right)| left != right);
        let line = line.unwrap_or_else(|| committed.lines().count().min(generated.lines().count())) + 1;
        panic!(
            "docs/openapi.json is stale: it differs from the generated document from line {line} on. \
             Run `cargo xtask openapi` and commit docs/openapi.json."
        );
    }
}
