//! Traces leave over OTLP: the shipped binary, pointed at a small OTLP/HTTP receiver run by the
//! test, exports a request's span as the child of the caller's `traceparent`, with the port calls
//! made while serving it as its children.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::PASSWORD;
use crate::processes::start_replica;

/// One exported span, as OTLP/JSON spells it.
#[derive(Debug, Clone)]
struct ExportedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Value,
}

/// Accepts OTLP/HTTP JSON exports on a local port and keeps every span.
struct OtlpReceiver {
    port: u16,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
}

impl OtlpReceiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    // One request per connection is enough: each answer says `close`.
                    let body = read_http_body(&mut stream).await;
                    if let Some(export) = body.and_then(|body| serde_json::from_slice::<Value>(&body).ok()) {
                        kept.lock().expect("not poisoned").extend(spans_of(&export));
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { port, spans }
    }

    fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().expect("not poisoned").clone()
    }
}

/// The body of one HTTP/1.1 request with a Content-Length.
async fn read_http_body(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_lowercase();
    let length: usize = head.lines().find_map(|line| line.strip_prefix("content-length:"))?.trim().parse().ok()?;
    while buffer.len() < header_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(buffer[header_end..header_end + length].to_vec())
}

fn spans_of(export: &Value) -> Vec<ExportedSpan> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    export["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|resource| resource["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
        .map(|span| ExportedSpan {
            name: text(&span["name"]),
            trace_id: text(&span["traceId"]).to_lowercase(),
            span_id: text(&span["spanId"]).to_lowercase(),
            parent_span_id: text(&span["parentSpanId"]).to_lowercase(),
            attributes: span["attributes"].clone(),
        })
        .collect()
}

fn attribute<'a>(span: &'a ExportedSpan, key: &str) -> Option<&'a Value> {
    span.attributes.as_array()?.iter().find(|attribute| attribute["key"] == key).map(|attribute| &attribute["value"])
}

#[tokio::test]
async fn a_requests_spans_reach_an_otlp_receiver_parented_to_the_callers_trace() {
    let receiver = OtlpReceiver::start().await;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let master_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([9u8; 32])
    };
    let environment: Vec<(String, String)> = vec![
        ("AUTH_LISTEN".into(), "127.0.0.1:0".into()),
        ("AUTH_DATABASE_URL".into(), format!("sqlite://{}", folder.path().join("auth.db").display())),
        ("AUTH_MAIL_OUTBOX".into(), folder.path().join("outbox").display().to_string()),
        ("AUTH_MASTER_KEY".into(), master_key),
        ("AUTH_LOG_FORMAT".into(), "json".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://127.0.0.1:{}", receiver.port)),
        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/json".into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("OTEL_SERVICE_NAME".into(), "auth-http-under-test".into()),
    ];
    let replica = start_replica(&environment);
    let client = reqwest::Client::new();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span_id = "00f067aa0ba902b7";
    let registered = client
        .post(format!("{}/v1/auth/register", replica.address))
        .header("traceparent", format!("00-{trace_id}-{caller_span_id}-01"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(registered.status(), reqwest::StatusCode::ACCEPTED);

    let deadline = Instant::now() + Duration::from_secs(20);
    let (server, children) = loop {
        let spans = receiver.spans();
        let server = spans.iter().find(|span| span.trace_id == trace_id && span.parent_span_id == caller_span_id);
        if let Some(server) = server {
            let children: Vec<ExportedSpan> =
                spans.iter().filter(|span| span.parent_span_id == server.span_id).cloned().collect();
            if children.iter().any(|span| span.name == "password.hash")
                && children.iter().any(|span| span.name == "sqlite")
            {
                break (server.clone(), children);
            }
        }
        assert!(Instant::now() < deadline, "the spans did not arrive: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(server.name, "POST /v1/auth/register");
    assert_eq!(
        attribute(&server, "http.route").and_then(|value| value["stringValue"].as_str()),
        Some("/v1/auth/register")
    );
    // OTLP/JSON writes 64-bit integers as strings.
    let status = attribute(&server, "http.response.status_code").and_then(|value| value["intValue"].as_str());
    assert_eq!(status, Some("202"));
    for child in &children {
        assert_eq!(child.trace_id, trace_id, "{child:?} is in the caller's trace");
    }
    // Nothing personal leaves in a span: the email and the password appear in no attribute.
    let exported = format!("{:?}", receiver.spans());
    assert!(!exported.contains("ada@example.com") && !exported.contains(PASSWORD));
}
