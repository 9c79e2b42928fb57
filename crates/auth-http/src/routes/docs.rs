//! The API's own description: the OpenAPI document at `/openapi.json` and Swagger UI at `/docs`,
//! every file of which the binary itself serves (no CDN: the page works offline and loads nothing
//! from another origin).

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use utoipa_swagger_ui::Config;

use crate::error::ApiError;

/// The route of Swagger UI's files (scripts, styles, icons, and its initializer).
pub const ASSETS: &str = "/docs/{file:.*}";

/// The page at `/docs`. Its URLs are relative, so that it also works behind a proxy that mounts
/// the service under a path prefix; it has no inline script.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>authd API</title>
    <link rel="stylesheet" type="text/css" href="docs/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="docs/index.css">
    <link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="docs/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"#;

/// The page may load scripts, styles, images and the document from this origin only. Swagger UI
/// applies inline styles (headless Chromium shows them blocked without `'unsafe-inline'`) and its
/// stylesheet has `data:` images; it needs no inline script and no eval.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                           frame-ancestors 'none'";

/// The document, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(crate::openapi::to_json);

/// What Swagger UI's initializer is told: the document, relative to `/docs`; and no online
/// validator, whose badge would be fetched from another origin.
static SWAGGER_UI_CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new(["openapi.json"]).validator_url("none")));

/// The OpenAPI document
///
/// The OpenAPI 3.1 document of this service, generated from its code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json")),
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

/// Browsable API documentation
///
/// Swagger UI, rendering `/openapi.json`; its scripts and styles are served from `/docs/`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    responses((status = 200, description = "The Swagger UI page.", body = String, content_type = "text/html; charset=utf-8")),
)]
pub async fn swagger_ui() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(PAGE)
}

/// One of Swagger UI's files, from the copy built into the binary.
pub async fn swagger_ui_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = file.into_inner();
    if file.is_empty() {
        // `/docs/`: the page lives at `/docs`, where its relative URLs resolve.
        return Ok(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "../docs")).finish());
    }
    // Swagger UI's own index page would point at the petstore example; ours is the page.
    if file == "index.html" {
        return Err(ApiError::not_found("no such file"));
    }
    match utoipa_swagger_ui::serve(&file, SWAGGER_UI_CONFIG.clone()) {
        Ok(Some(asset)) => {
            let mut response = HttpResponse::Ok();
            response.content_type(asset.content_type);
            if asset.gzpipped {
                response.insert_header(header::ContentEncoding::Gzip);
            }
            // The files are compiled in: serve them without copying.
            let body = match asset.bytes {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            };
            Ok(response.body(body))
        }
        Ok(None) => Err(ApiError::not_found("no such file")),
        Err(error) => {
            tracing::error!(error = %error, docs.file = %file, "cannot serve a Swagger UI file");
            Err(ApiError::internal())
        }
    }
}
