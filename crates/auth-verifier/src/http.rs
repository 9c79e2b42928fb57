//! The one way this crate talks to the auth server: a GET whose JSON answer is read up to a size
//! limit, so that a misbehaving server cannot make us buffer without bound.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::FetchError;

/// Basic credentials for a request (the revocation feed's).
pub(crate) struct BasicAuth<'a> {
    pub(crate) user: &'a str,
    pub(crate) password: &'a str,
}

/// GETs `url` and parses a 200 answer's body as JSON; also returns the response headers.
pub(crate) async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    auth: Option<BasicAuth<'_>>,
    limit: usize,
) -> Result<(T, HeaderMap), FetchError> {
    let mut request = client.get(url).timeout(timeout).header(reqwest::header::ACCEPT, "application/json");
    if let Some(auth) = auth {
        request = request.basic_auth(auth.user, Some(auth.password));
    }
    let mut response = request.send().await.map_err(FetchError::Http)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice(&body).map_err(FetchError::Json)?;
    Ok((value, response.headers().clone()))
}

/// The `max-age` of a `Cache-Control` header, if it allows caching at all.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return Some(Duration::ZERO),
                "max-age" => max_age = argument.trim().trim_matches('"').parse().ok().map(Duration::from_secs),
                _ => {}
            }
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use reqwest::header::{CACHE_CONTROL, HeaderValue};

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn max_age_is_read_from_any_cache_control_header() {
        assert_eq!(max_age(&headers(&["public, max-age=300"])), Some(Duration::from_secs(300)));
        assert_eq!(max_age(&headers(&["public", "Max-Age=\"60\""])), Some(Duration::from_secs(60)));
        assert_eq!(max_age(&headers(&["max-age=300, no-cache"])), Some(Duration::ZERO));
        assert_eq!(max_age(&headers(&["public"])), None);
        assert_eq!(max_age(&headers(&["max-age=soon"])), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
