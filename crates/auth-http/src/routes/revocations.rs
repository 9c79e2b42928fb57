//! The revocation feed: what a resource server that verifies our tokens itself polls, so that a
//! logout reaches it within seconds instead of at the token's expiry.

use actix_web::{HttpRequest, HttpResponse, web};
use auth_domain::SessionId;
use auth_domain::services::ClientService;
use auth_domain::services::FeedPosition;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::no_store;
use super::oauth::authenticate_client;
use crate::error::{ApiError, Problem};
use crate::extractors::ClientContext;

/// A cursor is an instant (caught up to it), or an instant and a session id (paging: the row after
/// it); this prefix marks the ones we handed out.
const CURSOR_PREFIX: &str = "rev1:";

/// The feed's cursor for `position`: `rev1:` and microseconds since 1970 (and the session id when
/// paging), base64url. Public (as `routes::cursors`) for the fuzz targets.
pub fn encode_cursor(position: FeedPosition) -> String {
    let micros = |instant: OffsetDateTime| instant.unix_timestamp_nanos() / 1_000;
    let text = match position {
        FeedPosition::CaughtUp(instant) => format!("{CURSOR_PREFIX}{}", micros(instant)),
        FeedPosition::After { revoked_at, session_id } => {
            format!("{CURSOR_PREFIX}{}:{session_id}", micros(revoked_at))
        }
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// The position of a cursor that [`encode_cursor`] made; `None` for anything else, including an
/// instant before 1970 or beyond what a date can hold.
pub fn decode_cursor(cursor: &str) -> Option<FeedPosition> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let position = text.strip_prefix(CURSOR_PREFIX)?;
    let (micros, session_id) = match position.split_once(':') {
        Some((micros, session_id)) => (micros, Some(session_id.parse::<SessionId>().ok()?)),
        None => (position, None),
    };
    let micros: i128 = micros.parse().ok()?;
    let instant = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?;
    // The feed hands out only instants of its own clock: one before 1970 is forged.
    if instant < OffsetDateTime::UNIX_EPOCH {
        return None;
    }
    Some(match session_id {
        None => FeedPosition::CaughtUp(instant),
        Some(session_id) => FeedPosition::After { revoked_at: instant, session_id },
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer; omitted, every revocation whose tokens may still be
    /// live is listed.
    since: Option<String>,
}

/// One revoked session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessionEntry {
    /// The session id: the `sid` claim of its access tokens.
    sid: String,
    /// Until when its tokens could be live (a JWT NumericDate); refuse them until then.
    exp: i64,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationFeedResponse {
    sessions: Vec<RevokedSessionEntry>,
    /// Pass as `since` on the next poll.
    cursor: String,
    /// The page was full: read again with `cursor` at once; the list is complete only when this
    /// is false.
    more: bool,
}

/// Revoked sessions (the revocation feed)
///
/// For resource servers that verify access tokens themselves, with HTTP Basic credentials from
/// AUTH_INTROSPECTION_CLIENTS: every session revoked since the cursor whose tokens may still be
/// live, by any path (logout, logout-all, password change or reset, disabling or deleting the
/// account, refresh-token reuse). A session may be listed again on the next poll; treat the list
/// as a set.
#[utoipa::path(
    get,
    path = "/v1/revocations",
    tag = "oauth",
    params(FeedQuery),
    security(("introspection_client" = [])),
    responses(
        (status = 200, description = "The revocations since the cursor, and the next cursor.", body = RevocationFeedResponse),
        (status = 400, description = "- `invalid_cursor`: `since` is not a cursor this feed handed out.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "- `invalid_client`: no or wrong HTTP Basic credentials (`WWW-Authenticate: Basic`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many failed authentications of this configured client id, or of unknown client ids together, from this address (AUTH_RATE_CLIENT_AUTH, 10 per 15 minutes by default); retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `service_unavailable`: the database does not answer; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn feed(
    request: HttpRequest,
    service: web::Data<ClientService>,
    client: ClientContext,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    authenticate_client(&request, &service, &client).await?;
    let since = match query.since.as_deref() {
        None => None,
        Some(cursor) => Some(
            decode_cursor(cursor)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this feed handed out"))?,
        ),
    };
    let feed = service.revocation_feed(since).await.map_err(|error| ApiError::infrastructure(&error))?;
    Ok(no_store(HttpResponse::Ok()).json(RevocationFeedResponse {
        sessions: feed
            .sessions
            .into_iter()
            .map(|(session_id, exp)| RevokedSessionEntry { sid: session_id.to_string(), exp: exp.unix_timestamp() })
            .collect(),
        cursor: encode_cursor(feed.next),
        more: feed.more,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_to_the_microsecond() {
        let instant = OffsetDateTime::from_unix_timestamp_nanos(1_764_434_115_123_456_000).expect("in range");
        let caught_up = FeedPosition::CaughtUp(instant);
        assert_eq!(decode_cursor(&encode_cursor(caught_up)), Some(caught_up));
        let session_id: SessionId = "0190b5a2-7c3e-7000-8000-000000000001".parse().expect("a session id");
        let paging = FeedPosition::After { revoked_at: instant, session_id };
        assert_eq!(decode_cursor(&encode_cursor(paging)), Some(paging));
    }

    #[test]
    fn a_foreign_cursor_is_refused() {
        for cursor in [
            "",
            "abc",
            &URL_SAFE_NO_PAD.encode("rev1:x"),
            &URL_SAFE_NO_PAD.encode("users:12"),
            &URL_SAFE_NO_PAD.encode("rev1:12:not-a-session"),
        ] {
            assert_eq!(decode_cursor(cursor), None, "{cursor}");
        }
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(format!("rev1:{}", i128::MAX))), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(format!("rev1:{}", i64::MIN))), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("rev1:-1")), None);
    }
}
