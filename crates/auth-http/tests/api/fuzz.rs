//! Property-based fuzzing of request decoding: arbitrary bodies to every JSON route get an answer
//! below 500, and the server keeps serving, through the whole application. The coverage-guided
//! fuzzing of the parsers behind these bodies is `fuzz/fuzz_targets/request_bodies.rs`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app_with;

const ROUTES: &[&str] = &[
    "/v1/auth/register",
    "/v1/auth/verify-email",
    "/v1/auth/verify-email/resend",
    "/v1/auth/login",
    "/v1/auth/refresh",
];
const FIELDS: &[&str] = &["email", "password", "display_name", "token", "refresh_token", "extra"];

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like ours, with every field of any type; arbitrary JSON; arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let shaped = prop::collection::btree_map(prop::sample::select(FIELDS), json_value(), 0..4).prop_map(|fields| {
        let object: serde_json::Map<String, Value> =
            fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect();
        serde_json::to_vec(&Value::Object(object)).expect("serialises")
    });
    prop_oneof![
        4 => shaped,
        2 => json_value().prop_map(|value| serde_json::to_vec(&value).expect("serialises")),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_body_gets_a_server_error() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LOGIN_EMAIL", "off"),
        ("AUTH_RATE_LOGIN_IP", "off"),
        ("AUTH_RATE_REGISTER_IP", "off"),
        ("AUTH_RATE_EMAIL_SEND", "off"),
    ])
    .await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&(prop::sample::select(ROUTES), body()), |(route, body)| {
            let status = handle.block_on(async {
                app.client
                    .post(app.url(route))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the server answers")
                    .status()
            });
            prop_assert!(status.as_u16() < 500, "{route} answered {status} to {:?}", String::from_utf8_lossy(&body));
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("sent").status(), StatusCode::OK);
}
