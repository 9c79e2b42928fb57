//! The revoked sessions, learnt by polling the auth server's revocation feed, and how fresh that
//! knowledge is.
//!
//! Freshness is measured from the moment a successful poll was *sent*: the server answered with
//! everything revoked before it received the request, so a list "fresh as of" that instant is
//! complete up to it. `verify` refuses to trust a list older than `max_staleness`, which bounds
//! how long a revoked session's tokens can still be accepted, however slow or dead the feed is.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use uuid::Uuid;

use crate::config::RevocationFeed;
use crate::error::{FetchError, VerifyError};
use crate::http::{self, BasicAuth};

/// A feed answer larger than this is refused (about 200,000 revoked sessions).
const MAX_FEED_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct FeedPage {
    sessions: Vec<FeedEntry>,
    cursor: String,
    /// The page was full: more follow at once.
    #[serde(default)]
    more: bool,
}

/// The most pages one poll follows (5,000 sessions each on authd) before it lets the next poll
/// go on; the list is not called fresh until the last page is read.
const MAX_PAGES_PER_POLL: usize = 200;
/// How long polling pauses after the feed refused our credentials: a configuration error that
/// polling faster cannot mend, and whose failures count against our address on the server.
const PAUSE_AFTER_REFUSAL: Duration = Duration::from_secs(300);
/// How long polling pauses after the server throttled our address.
const PAUSE_AFTER_THROTTLE: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct FeedEntry {
    sid: String,
    exp: i64,
}

#[derive(Default)]
struct RevocationState {
    /// Revoked session → the last `exp` of its tokens, after which the entry is useless.
    revoked: HashMap<Uuid, i64>,
    cursor: Option<String>,
    /// When the last successful poll was sent.
    fresh_as_of: Option<Instant>,
    /// Whether the last poll failed, to log a failure once rather than at every poll.
    failing: bool,
    /// No poll before this (after a refusal or a throttle).
    paused_until: Option<Instant>,
}

/// The revoked sessions and the feed they come from.
pub(crate) struct RevocationList {
    client: reqwest::Client,
    url: Url,
    feed: RevocationFeed,
    max_staleness: Duration,
    fail_open: bool,
    leeway_seconds: i64,
    request_timeout: Duration,
    state: RwLock<RevocationState>,
}

impl std::fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("RevocationList")
            .field("feed", &self.feed)
            .field("max_staleness", &self.max_staleness)
            .field("fail_open", &self.fail_open)
            .field("revoked_sessions", &state.revoked.len())
            .field("fresh_as_of", &state.fresh_as_of)
            .finish()
    }
}

pub(crate) struct RevocationSettings {
    pub(crate) client: reqwest::Client,
    pub(crate) url: Url,
    pub(crate) feed: RevocationFeed,
    pub(crate) max_staleness: Duration,
    pub(crate) fail_open: bool,
    pub(crate) leeway_seconds: i64,
    pub(crate) request_timeout: Duration,
}

impl RevocationList {
    pub(crate) fn new(settings: RevocationSettings) -> Self {
        Self {
            client: settings.client,
            url: settings.url,
            feed: settings.feed,
            max_staleness: settings.max_staleness,
            fail_open: settings.fail_open,
            leeway_seconds: settings.leeway_seconds,
            request_timeout: settings.request_timeout,
            state: RwLock::new(RevocationState::default()),
        }
    }

    /// Whether a token of session `sid` may be accepted at `now` (Unix seconds).
    ///
    /// # Errors
    /// `RevocationFeedStale` when the list is older than the bound (unless failing open), and
    /// `Revoked` when the session is listed.
    pub(crate) fn check(&self, sid: Uuid, now: i64) -> Result<(), VerifyError> {
        if !self.fail_open && !self.is_fresh() {
            return Err(VerifyError::RevocationFeedStale);
        }
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.revoked.get(&sid) {
            Some(&until) if until.saturating_add(self.leeway_seconds) >= now => Err(VerifyError::Revoked),
            _ => Ok(()),
        }
    }

    /// Polls the feed once, from the last cursor, following its pages until it is caught up, and
    /// records the result; a failure is logged (once per outage) and leaves the list as it was,
    /// ageing.
    pub(crate) async fn poll(&self) {
        let paused = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).paused_until;
        if paused.is_some_and(|until| Instant::now() < until) {
            return;
        }
        match self.poll_once().await {
            Ok(()) => {}
            Err(FetchError::Status(status @ (400 | 410))) if self.take_cursor() => {
                // The server no longer knows our cursor (its state was reset, say): start again
                // from the full list of live revocations, which merging makes safe.
                tracing::warn!(revocations.url = %self.url, http.status = status,
                    "the revocation feed refused our cursor; reading the full list again");
                if let Err(error) = self.poll_once().await {
                    self.record_failure(&error);
                }
            }
            Err(error) => self.record_failure(&error),
        }
        self.prune(crate::verifier::unix_now());
    }

    async fn poll_once(&self) -> Result<(), FetchError> {
        let sent_at = Instant::now();
        for _ in 0..MAX_PAGES_PER_POLL {
            if !self.read_page().await? {
                let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Polls are sequential, but keep the newest instant should that ever change.
                state.fresh_as_of = Some(state.fresh_as_of.map_or(sent_at, |previous| previous.max(sent_at)));
                if state.failing {
                    tracing::info!(revocations.url = %self.url, "the revocation feed answers again");
                    state.failing = false;
                }
                return Ok(());
            }
        }
        // A backlog longer than this: the next poll goes on from the cursor; meanwhile the list
        // ages, and fails closed past the bound, rather than being called complete.
        tracing::warn!(revocations.url = %self.url, "the revocation feed has a long backlog; still reading it");
        Ok(())
    }

    /// Reads one page from the cursor into the list; returns whether more pages follow.
    async fn read_page(&self) -> Result<bool, FetchError> {
        let mut url = self.url.clone();
        let cursor = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).cursor.clone();
        if let Some(cursor) = &cursor {
            url.query_pairs_mut().append_pair("since", cursor);
        }
        let auth = BasicAuth { user: self.feed.client_id(), password: self.feed.client_secret() };
        let (page, _) =
            http::get_json::<FeedPage>(&self.client, url, self.request_timeout, Some(auth), MAX_FEED_BYTES).await?;
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut added = 0_usize;
        for entry in page.sessions {
            let Ok(sid) = Uuid::parse_str(&entry.sid) else {
                tracing::warn!(revocations.url = %self.url, "the revocation feed lists a session id that is not a UUID");
                continue;
            };
            let until = state.revoked.entry(sid).or_insert(entry.exp);
            *until = (*until).max(entry.exp);
            added += 1;
        }
        state.cursor = Some(page.cursor);
        if added > 0 {
            tracing::debug!(revocations.new = added, revocations.total = state.revoked.len(), "revocations received");
        }
        Ok(page.more)
    }

    fn take_cursor(&self) -> bool {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner).cursor.take().is_some()
    }

    fn record_failure(&self, error: &FetchError) {
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match error {
            FetchError::Status(401) => {
                state.paused_until = Some(Instant::now() + PAUSE_AFTER_REFUSAL);
                tracing::error!(revocations.url = %self.url, revocations.client = %self.feed.client_id(),
                    pause_s = PAUSE_AFTER_REFUSAL.as_secs(),
                    "the revocation feed refused our client credentials; check them (tokens are refused meanwhile)");
            }
            FetchError::Status(429) => state.paused_until = Some(Instant::now() + PAUSE_AFTER_THROTTLE),
            _ => {}
        }
        if !state.failing {
            state.failing = true;
            tracing::warn!(revocations.url = %self.url, error = %error, error.cause = ?std::error::Error::source(error),
                revocations.max_staleness_ms = self.max_staleness.as_millis() as u64,
                "the revocation feed cannot be polled; tokens will be refused once the list is stale unless failing open");
        }
    }

    /// Whether the list is within the staleness bound now.
    pub(crate) fn is_fresh(&self) -> bool {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.fresh_as_of.is_some_and(|as_of| as_of.elapsed() <= self.max_staleness)
    }

    /// Forgets sessions whose tokens have all expired (beyond the leeway): they are refused as
    /// expired anyway.
    fn prune(&self, now: i64) {
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.revoked.retain(|_, until| until.saturating_add(self.leeway_seconds) >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(fail_open: bool) -> RevocationList {
        RevocationList::new(RevocationSettings {
            client: reqwest::Client::new(),
            url: Url::parse("http://127.0.0.1:9/v1/revocations").unwrap(),
            feed: RevocationFeed::new("http://127.0.0.1:9/v1/revocations", "rs", "secret"),
            max_staleness: Duration::from_secs(5),
            fail_open,
            leeway_seconds: 30,
            request_timeout: Duration::from_secs(1),
        })
    }

    fn with(list: &RevocationList, entries: &[(Uuid, i64)], fresh: bool) {
        let mut state = list.state.write().unwrap();
        state.revoked.extend(entries.iter().copied());
        state.fresh_as_of = fresh.then(Instant::now);
    }

    #[test]
    fn a_listed_session_is_refused_until_its_last_token_expires_plus_the_leeway() {
        let list = list(false);
        let sid = Uuid::new_v4();
        with(&list, &[(sid, 1000)], true);
        assert_eq!(list.check(sid, 1000), Err(VerifyError::Revoked));
        assert_eq!(list.check(sid, 1030), Err(VerifyError::Revoked));
        assert_eq!(list.check(Uuid::new_v4(), 1000), Ok(()));
        list.prune(1030);
        assert_eq!(list.state.read().unwrap().revoked.len(), 1);
        list.prune(1031);
        assert!(list.state.read().unwrap().revoked.is_empty());
    }

    #[test]
    fn a_list_never_fetched_is_stale_and_fails_closed_unless_told_otherwise() {
        let closed = list(false);
        assert_eq!(closed.check(Uuid::new_v4(), 0), Err(VerifyError::RevocationFeedStale));
        let open = list(true);
        let sid = Uuid::new_v4();
        with(&open, &[(sid, 1000)], false);
        assert_eq!(open.check(Uuid::new_v4(), 0), Ok(()));
        // Failing open still refuses what the last list knew.
        assert_eq!(open.check(sid, 0), Err(VerifyError::Revoked));
    }
}
