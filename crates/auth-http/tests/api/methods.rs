//! Methods as RFC 9110 has them: a known path with a method it does not take is 405 with `Allow`
//! (§15.5.6), not 404; and `HEAD` is served wherever `GET` is (§9.3.2), without a body.

use std::collections::{BTreeMap, BTreeSet};

use auth_http::routes::ROUTES;
use reqwest::{Method, StatusCode};

use crate::helpers::{assert_problem, spawn_app};

const SOME_ID: &str = "0197a5c2-6f1e-7c3a-9d4b-2e8f1a6b5c3d";

/// Each path of ROUTES with the methods it takes, upper case.
fn methods_by_path() -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut paths: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (method, path) in ROUTES {
        paths.entry(path).or_default().insert(method.to_uppercase());
    }
    paths
}

fn allowed(response: &reqwest::Response) -> BTreeSet<String> {
    let allow = response.headers().get("allow").map(|value| value.to_str().expect("an ASCII Allow header"));
    allow.unwrap_or_default().split(',').map(str::trim).filter(|method| !method.is_empty()).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_wrong_method_on_every_route_is_405_with_the_allowed_methods() {
    let app = spawn_app().await;
    for (path, methods) in methods_by_path() {
        let concrete = path.replace("{id}", SOME_ID);
        let wrong = ["PUT", "DELETE", "POST", "PATCH"]
            .into_iter()
            .find(|method| !methods.contains(*method))
            .expect("no route takes every method");
        let method = Method::from_bytes(wrong.as_bytes()).expect("a method");
        let response = app.client.request(method, app.url(&concrete)).send().await.expect("sent");
        let allow = allowed(&response);
        let problem = assert_problem(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        for method in &methods {
            assert!(allow.contains(method), "{wrong} {path}: Allow {allow:?} lacks {method}; {problem}");
        }
        assert!(!allow.contains(wrong), "{wrong} {path}: Allow {allow:?} names the refused method");
        if methods.contains("GET") {
            assert!(allow.contains("HEAD"), "{wrong} {path}: Allow {allow:?} lacks HEAD");
        }
    }
}

#[tokio::test]
async fn head_is_served_wherever_get_is_with_the_same_headers_and_no_body() {
    let app = spawn_app().await;
    for (path, methods) in methods_by_path() {
        if !methods.contains("GET") {
            continue;
        }
        let concrete = path.replace("{id}", SOME_ID);
        let get = app.client.get(app.url(&concrete)).send().await.expect("sent");
        let head = app.client.head(app.url(&concrete)).send().await.expect("sent");
        assert_ne!(head.status(), StatusCode::NOT_FOUND, "HEAD {path}");
        assert_ne!(head.status(), StatusCode::METHOD_NOT_ALLOWED, "HEAD {path}");
        assert_eq!(head.status(), get.status(), "HEAD {path} answers as GET does");
        assert_eq!(head.headers().get("content-type"), get.headers().get("content-type"), "HEAD {path}");
        assert!(head.bytes().await.expect("a body").is_empty(), "HEAD {path} has no body");
    }
}

#[tokio::test]
async fn an_unknown_path_is_still_404_whatever_the_method() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::DELETE, Method::HEAD] {
        let response = app.client.request(method.clone(), app.url("/v1/no/such/route")).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        assert!(response.headers().get("allow").is_none(), "{method}");
    }
}
