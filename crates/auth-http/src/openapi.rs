//! The OpenAPI 3.1 document of the service, generated from the code: each handler's
//! `#[utoipa::path]`, the schemas derived on the request and response types, and the responses
//! every route of a kind shares (added here, from facts of the operation, so that they cannot be
//! forgotten on one route).
//!
//! The server serves it at `/openapi.json` (and Swagger UI at `/docs`); `auth-http openapi`
//! prints it, `cargo xtask openapi` writes it to `docs/openapi.json`, and a test fails when that
//! copy is stale. None of them starts a server.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi as _};

use crate::error::PROBLEM_JSON;
use crate::routes::RoutePaths;

/// The name of the security scheme of the routes that take a Bearer access token.
pub const BEARER_AUTH: &str = "bearer_auth";
/// The name of the security scheme of the introspection endpoint: HTTP Basic.
pub const INTROSPECTION_CLIENT: &str = "introspection_client";

const DESCRIPTION: &str = "\
A JWT authentication service: registration with email verification, login, rotating refresh \
tokens with reuse detection, logout that takes effect at once, and the public keys that verify \
its access tokens.

Conventions of every route:

- JSON in and out. A malformed body, a wrong content type, an unknown field or a body over 16 KiB \
gets a 400, 415 or 413 problem document.
- Every error is an RFC 9457 problem document (`application/problem+json`, schema `Problem`). \
Clients branch on its `code`; each operation lists the codes it can answer with.
- Every response carries `X-Request-Id`: the request's own when it is 1 to 128 characters of \
`[A-Za-z0-9._-]`, else a new one. Problem documents repeat it as `request_id`.
- Every response carries `X-Content-Type-Options: nosniff`; everything under `/v1/` also \
`Cache-Control: no-store`.
- A request whose headers exceed 16 KiB gets 431 `headers_too_large`; a path or method that no \
route serves gets 404 `not_found`.
- Protected routes take `Authorization: Bearer <access token>`; a missing or refused token gets \
401 with `WWW-Authenticate: Bearer`.";

/// The document's fixed parts; the operations come from [`RoutePaths`].
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "authd",
        version = env!("CARGO_PKG_VERSION"),
        description = DESCRIPTION,
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "auth", description = "Register, verify, log in, refresh, log out, reset a password, and the gateway check."),
        (name = "users", description = "The caller's own account and sessions."),
        (name = "mfa", description = "The caller's second factor: TOTP and recovery codes."),
        (name = "admin", description = "Operators: manage accounts and read the audit log (role `admin`)."),
        (name = "keys", description = "The public keys that verify access tokens, and the discovery document."),
        (name = "oauth", description = "OAuth 2.0: the token endpoint (password and refresh_token grants), revocation (RFC 7009) and introspection (RFC 7662). Errors are RFC 6749 JSON, not problem documents."),
        (name = "operations", description = "Liveness and readiness, for the platform. Prometheus metrics are served on the management address AUTH_METRICS_LISTEN only, never on this one."),
        (name = "docs", description = "This document, and a page that renders it."),
    ),
)]
struct Document;

/// The OpenAPI document of every route the service serves.
pub fn document() -> OpenApi {
    let mut document = Document::openapi();
    document.merge(RoutePaths::openapi());
    BearerAuth.modify(&mut document);
    SharedResponses.modify(&mut document);
    document
}

/// The document as `/openapi.json` serves it and `docs/openapi.json` keeps it: pretty JSON and a
/// final newline.
///
/// # Panics
/// Never: the document is plain data, which always serializes.
pub fn to_json() -> String {
    let mut json = serde_json::to_string_pretty(&document()).expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// The `bearer_auth` scheme: an access token from login or refresh, a JWT.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, document: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token from login or refresh (`typ: at+jwt`, EdDSA), in `Authorization: Bearer`.",
            ))
            .build();
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER_AUTH, SecurityScheme::Http(scheme));
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some("A resource server's id and secret from AUTH_INTROSPECTION_CLIENTS."))
            .build();
        components.add_security_scheme(INTROSPECTION_CLIENT, SecurityScheme::Http(basic));
    }
}

/// The responses every operation of a kind can give, whatever its handler does:
///
/// - with a JSON request body: 400 `malformed_json` / `invalid_body`, 413, 415 (the JSON
///   extractor's errors, `error::json_error`);
/// - with `bearer_auth`: 401 `missing_token` / `invalid_token` (the `Authenticated` extractor);
/// - under `/v1/`: 503 `service_unavailable` and 500 `internal_error` (a backing service failed);
/// - and the headers of each 429 and 503.
///
/// A status the handler already documents keeps its description, and gains these codes.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, document: &mut OpenApi) {
        for (path, item) in &mut document.paths.paths {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten();
            for operation in operations {
                add_shared_responses(path, operation);
            }
        }
    }
}

fn add_shared_responses(path: &str, operation: &mut Operation) {
    let takes_json = operation.request_body.as_ref().is_some_and(|body| match body {
        RefOr::T(RequestBody { content, .. }) => content.contains_key("application/json"),
        RefOr::Ref(_) => false,
    });
    let bearer = SecurityRequirement::new(BEARER_AUTH, Vec::<String>::new());
    let takes_bearer = operation.security.iter().flatten().any(|requirement| *requirement == bearer);
    let responses = &mut operation.responses.responses;
    if takes_json {
        add_problem(
            responses,
            400,
            "- `malformed_json`: the body is not JSON.\n- `invalid_body`: the body does not match the schema (a missing or unknown field, a wrong type); `detail` names the field.",
        );
        add_problem(responses, 413, "- `payload_too_large`: the body is larger than 16 KiB.");
        add_problem(responses, 415, "- `unsupported_media_type`: the body is not `application/json`.");
    }
    if takes_bearer {
        add_problem(
            responses,
            401,
            "- `missing_token`: no Bearer token was sent (`WWW-Authenticate: Bearer realm=\"authd\"`).\n- `invalid_token`: the token is malformed, expired, badly signed, or its session or account has ended (`WWW-Authenticate: Bearer realm=\"authd\", error=\"invalid_token\"`).",
        );
    }
    if path.starts_with("/v1/") {
        add_problem(
            responses,
            503,
            "- `service_unavailable`: the database or the cache does not answer; retry after `Retry-After`.",
        );
        add_problem(responses, 500, "- `internal_error`: something went wrong on our side; the body says no more.");
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        match status.as_str() {
            "401" if takes_bearer => {
                add_header(
                    response,
                    "WWW-Authenticate",
                    Type::String,
                    "`Bearer realm=\"authd\"`, with `error=\"invalid_token\"` when a token was refused (RFC 6750 §3.1).",
                );
            }
            "429" => {
                add_header(response, "Retry-After", Type::Integer, "Seconds to wait before trying again.");
                add_header(
                    response,
                    "RateLimit-Limit",
                    Type::Integer,
                    "The number of requests the limit allows in its window.",
                );
                add_header(response, "RateLimit-Remaining", Type::Integer, "Requests left in the window: 0.");
                add_header(response, "RateLimit-Reset", Type::Integer, "Seconds until the window resets.");
            }
            "503" if path.starts_with("/v1/") => {
                add_header(response, "Retry-After", Type::Integer, "Seconds to wait before trying again.");
            }
            _ => {}
        }
    }
}

/// Adds a problem response, or adds `codes` to the description of the one already there.
fn add_problem(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>, status: u16, codes: &str) {
    match responses.get_mut(&status.to_string()) {
        Some(RefOr::T(response)) => {
            response.description.push('\n');
            response.description.push_str(codes);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(codes)
                .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
                .build();
            responses.insert(status.to_string(), RefOr::T(response));
        }
    }
}

fn add_header(response: &mut Response, name: &str, schema_type: Type, description: &str) {
    let header = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(schema_type)))
        .description(Some(description))
        .build();
    response.headers.entry(name.to_owned()).or_insert(RefOr::T(header));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_package_version() {
        let document = serde_json::to_value(document()).expect("serializes");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(document["components"]["securitySchemes"][BEARER_AUTH]["scheme"], "bearer");
    }

    #[test]
    fn a_json_route_gains_the_body_errors_after_its_own() {
        let document = serde_json::to_value(document()).expect("serializes");
        let register = &document["paths"]["/v1/auth/register"]["post"]["responses"];
        let bad_request = register["400"]["description"].as_str().expect("a 400");
        assert!(bad_request.starts_with("- `validation_failed`"), "{bad_request}");
        assert!(bad_request.contains("`malformed_json`"), "{bad_request}");
        assert!(register["415"]["description"].as_str().is_some_and(|text| text.contains("unsupported_media_type")));
        assert!(register["429"]["headers"]["Retry-After"].is_object());
        let me = &document["paths"]["/v1/users/me"]["get"]["responses"];
        assert!(me["401"]["headers"]["WWW-Authenticate"].is_object());
        assert!(me.get("415").is_none(), "a route without a body has no 415");
        assert!(document["paths"]["/healthz"]["get"]["responses"].get("503").is_none());
    }
}
