//! Unit tests of token revocation and introspection, with every port mocked.

use super::*;
use crate::ports::RevocationCheck;
use crate::ports::TokenRejection;
use crate::services::test_support::{NOW, PortMocks, principal_in, request_context, session_of, verified_user};
use crate::session::RefreshTokenRecord;
use crate::user::User;

const GATEWAY: ClaimedClient<'static> = ClaimedClient { id: "gateway", configured: true };

fn current_record(session: &Session, token: &RefreshToken) -> RefreshTokenRecord {
    RefreshTokenRecord { hash: token.hash(), session_id: session.id, issued_at: NOW, rotated_at: None }
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_session_and_its_access_tokens() {
    let mut mocks = PortMocks::new();
    let session = session_of(&verified_user());
    let token = RefreshToken::from_random_bytes([9; 32]);
    let found = (session.clone(), current_record(&session, &token));
    mocks.sessions.expect_find_by_refresh_token().returning(move |_| Ok(Some(found.clone())));
    mocks.sessions.expect_find().never();
    let session_id = session.id;
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, at| *id == session_id && *reason == RevocationReason::Logout && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == session_id).times(1).returning(|_, _| Ok(()));
    mocks.expect_audit(AuditEventKind::Logout, 1);

    mocks.into_service::<ClientService>().revoke_token(token.expose(), &request_context()).await.expect("revoked");
}

#[tokio::test]
async fn revoking_an_access_token_revokes_the_session_it_names() {
    let mut mocks = PortMocks::new();
    let session = session_of(&verified_user());
    let claims = principal_in(&session).claims;
    mocks.tokens.expect_verify().returning(move |_| Ok(claims.clone()));
    let stored = session.clone();
    mocks.sessions.expect_find().returning(move |_| Ok(Some(stored.clone())));
    mocks.sessions.expect_revoke().times(1).returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().times(1).returning(|_, _| Ok(()));
    mocks.expect_audit(AuditEventKind::Logout, 1);

    mocks.into_service::<ClientService>().revoke_token("a.b.c", &request_context()).await.expect("revoked");
}

#[tokio::test]
async fn revoking_an_unknown_or_dead_token_does_nothing_and_succeeds() {
    let mut mocks = PortMocks::new();
    mocks.sessions.expect_find_by_refresh_token().returning(|_| Ok(None));
    mocks.tokens.expect_verify().returning(|_| Err(TokenRejection::Expired));
    mocks.sessions.expect_revoke().never();
    mocks.audit.expect_append().never();
    let service = mocks.into_service::<ClientService>();

    service.revoke_token(RefreshToken::from_random_bytes([1; 32]).expose(), &request_context()).await.expect("ok");
    service.revoke_token("expired.access.token", &request_context()).await.expect("ok");
    service.revoke_token("", &request_context()).await.expect("ok");
}

#[tokio::test]
async fn a_live_access_token_introspects_as_its_claims_and_a_revoked_one_as_inactive() {
    let mut mocks = PortMocks::new();
    let claims = principal_in(&session_of(&verified_user())).claims;
    let signed = claims.clone();
    mocks.tokens.expect_verify().returning(move |_| Ok(signed.clone()));
    let mut revoked = false;
    mocks.revocations.expect_check_session().returning(move |_, _| {
        let answer = if revoked { RevocationCheck::Revoked } else { RevocationCheck::Live };
        revoked = true;
        Ok(answer)
    });
    let service = mocks.into_service::<ClientService>();

    assert_eq!(service.introspect("a.b.c").await.expect("answered"), Introspection::AccessToken(claims));
    assert_eq!(service.introspect("a.b.c").await.expect("answered"), Introspection::Inactive);
}

#[tokio::test]
async fn a_refresh_token_is_active_only_while_current_in_a_live_session_of_an_enabled_account() {
    let token = RefreshToken::from_random_bytes([9; 32]);
    let session = session_of(&verified_user());
    let rotated = RefreshTokenRecord { rotated_at: Some(NOW), ..current_record(&session, &token) };
    let revoked = Session { revoked_at: Some(NOW), ..session.clone() };
    let cases = [
        (session.clone(), current_record(&session, &token), verified_user(), true),
        (session.clone(), rotated, verified_user(), false),
        (revoked, current_record(&session, &token), verified_user(), false),
        (session.clone(), current_record(&session, &token), User { disabled: true, ..verified_user() }, false),
    ];
    for (session, record, user, active) in cases {
        let mut mocks = PortMocks::new();
        let found = (session.clone(), record);
        mocks.sessions.expect_find_by_refresh_token().returning(move |_| Ok(Some(found.clone())));
        mocks.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));

        let answer = mocks.into_service::<ClientService>().introspect(token.expose()).await.expect("answered");

        assert_eq!(answer != Introspection::Inactive, active, "{answer:?}");
    }
}

fn revoked(seconds_ago: i64) -> crate::ports::RevokedSession {
    crate::ports::RevokedSession {
        session_id: crate::ids::SessionId::from_uuid(uuid::Uuid::now_v7()),
        revoked_at: NOW - time::Duration::seconds(seconds_ago),
    }
}

#[tokio::test]
async fn the_first_read_of_the_feed_lists_every_revocation_whose_tokens_may_live() {
    let mut mocks = PortMocks::new();
    let listed = vec![revoked(600), revoked(5)];
    let expected = listed.clone();
    mocks
        .sessions
        .expect_revoked_since()
        // The access TTL plus the minute of margin that revocation marks are kept for.
        .withf(|since, after, _| *since == NOW - time::Duration::minutes(16) && after.is_none())
        .times(1)
        .return_once(move |_, _, _| Ok(listed));
    let service = mocks.into_service::<ClientService>();
    let feed = service.revocation_feed(None).await.expect("read");
    assert_eq!(feed.next, FeedPosition::CaughtUp(NOW));
    assert!(!feed.more);
    assert_eq!(
        feed.sessions,
        expected
            .iter()
            .map(|session| (session.session_id, session.revoked_at + time::Duration::minutes(16)))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_later_read_looks_back_by_the_overlap_from_its_cursor() {
    let mut mocks = PortMocks::new();
    let cursor = NOW - time::Duration::seconds(5);
    mocks
        .sessions
        .expect_revoked_since()
        .withf(move |since, after, _| *since == cursor - REVOCATION_FEED_OVERLAP && after.is_none())
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    let feed = mocks
        .into_service::<ClientService>()
        .revocation_feed(Some(FeedPosition::CaughtUp(cursor)))
        .await
        .expect("read");
    assert!(feed.sessions.is_empty());
    assert_eq!(feed.next, FeedPosition::CaughtUp(NOW));
}

#[tokio::test]
async fn an_old_cursor_does_not_reach_back_past_the_live_tokens() {
    let mut mocks = PortMocks::new();
    mocks
        .sessions
        .expect_revoked_since()
        .withf(|since, after, _| *since == NOW - time::Duration::minutes(16) && after.is_none())
        .times(2)
        .returning(|_, _, _| Ok(Vec::new()));
    let service = mocks.into_service::<ClientService>();
    let old = NOW - time::Duration::days(3);
    service.revocation_feed(Some(FeedPosition::CaughtUp(old))).await.expect("read");
    let stale_page = FeedPosition::After { revoked_at: old, session_id: revoked(0).session_id };
    service.revocation_feed(Some(stale_page)).await.expect("read");
}

#[tokio::test]
async fn a_cursor_at_the_earliest_instant_reads_from_the_oldest_live_revocation_without_overflowing() {
    let mut mocks = PortMocks::new();
    mocks
        .sessions
        .expect_revoked_since()
        .withf(|since, after, _| *since == NOW - time::Duration::minutes(16) && after.is_none())
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    let earliest = time::OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT);
    mocks.into_service::<ClientService>().revocation_feed(Some(FeedPosition::CaughtUp(earliest))).await.expect("read");
}

#[tokio::test]
async fn a_full_page_says_more_follow_and_the_next_read_starts_right_after_its_last_row() {
    let mut mocks = PortMocks::new();
    // A logout-all of many sessions: a whole page revoked at one instant.
    let page: Vec<_> = (0..REVOCATION_FEED_PAGE).map(|_| revoked(60)).collect();
    let last = *page.last().expect("a row");
    mocks
        .sessions
        .expect_revoked_since()
        .withf(|_, after, _| after.is_none())
        .times(1)
        .return_once(move |_, _, _| Ok(page));
    mocks
        .sessions
        .expect_revoked_since()
        .withf(move |since, after, _| *since == last.revoked_at && *after == Some(last.session_id))
        .times(1)
        .returning(|_, _, _| Ok(vec![revoked(60)]));
    let service = mocks.into_service::<ClientService>();
    let first = service.revocation_feed(None).await.expect("read");
    assert!(first.more);
    assert_eq!(first.next, FeedPosition::After { revoked_at: last.revoked_at, session_id: last.session_id });
    let second = service.revocation_feed(Some(first.next)).await.expect("read");
    assert!(!second.more);
    assert_eq!(second.sessions.len(), 1);
    assert_eq!(second.next, FeedPosition::CaughtUp(NOW));
}

const CLIENT_AUTH_KEY: &str = "client-auth-fail:ip:203.0.113.7:client:gateway";

/// Counted before the secret is compared, so that concurrent guesses cannot all pass a peek.
#[tokio::test]
async fn a_client_authentication_attempt_is_counted_before_the_check_and_a_failure_stays_counted() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == CLIENT_AUTH_KEY).times(1).returning(|_, limit| {
        Ok(crate::rate_limit::RateDecision {
            allowed: true,
            limit: limit.max,
            remaining: limit.max - 1,
            reset_after: std::time::Duration::from_secs(900),
        })
    });
    mocks.rate_limiter.expect_peek().never();
    mocks.rate_limiter.expect_undo().never();
    let service = mocks.into_service::<ClientService>();

    let refusal = service.reserve_client_auth_attempt(GATEWAY, &request_context()).await.expect("reserved");
    assert_eq!(refusal, None);
    service.settle_client_auth_attempt(GATEWAY, &request_context(), false).await.expect("settled");
}

#[tokio::test]
async fn a_refused_client_authentication_attempt_names_its_wait_and_a_success_gives_its_attempt_back() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == CLIENT_AUTH_KEY).times(1).returning(|_, limit| {
        Ok(crate::rate_limit::RateDecision {
            allowed: false,
            limit: limit.max,
            remaining: 0,
            reset_after: std::time::Duration::from_secs(60),
        })
    });
    mocks.rate_limiter.expect_undo().withf(|key, _| key == CLIENT_AUTH_KEY).times(1).returning(|_, _| Ok(()));
    let service = mocks.into_service::<ClientService>();

    let refusal = service.reserve_client_auth_attempt(GATEWAY, &request_context()).await.expect("decided");
    assert_eq!(refusal.map(|exceeded| exceeded.retry_after), Some(std::time::Duration::from_secs(60)));
    service.settle_client_auth_attempt(GATEWAY, &request_context(), true).await.expect("given back");
}

#[tokio::test]
async fn without_a_client_address_nothing_is_counted() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().never();
    mocks.rate_limiter.expect_undo().never();
    let service = mocks.into_service::<ClientService>();
    let anonymous = RequestContext { ip: None, ..request_context() };
    assert!(service.reserve_client_auth_attempt(GATEWAY, &anonymous).await.expect("checked").is_none());
    service.settle_client_auth_attempt(GATEWAY, &anonymous, false).await.expect("nothing to count");
}

#[tokio::test]
async fn failures_of_unknown_client_ids_share_one_key_per_address_whatever_the_id() {
    let mut mocks = PortMocks::new();
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "client-auth-fail:ip:203.0.113.7:unknown-client")
        .times(2)
        .returning(|_, limit| {
            Ok(crate::rate_limit::RateDecision {
                allowed: true,
                limit: limit.max,
                remaining: limit.max - 1,
                reset_after: std::time::Duration::from_secs(900),
            })
        });
    let service = mocks.into_service::<ClientService>();
    let long_id = "x".repeat(300);
    for id in ["made-up", long_id.as_str()] {
        let client = ClaimedClient { id, configured: false };
        service.reserve_client_auth_attempt(client, &request_context()).await.expect("reserved");
        service.settle_client_auth_attempt(client, &request_context(), false).await.expect("counted");
    }
}

#[test]
fn a_claimed_id_is_logged_as_eight_hex_digits_of_its_digest() {
    let digest = ClaimedClient { id: "gateway", configured: true }.id_digest();
    assert_eq!(digest.len(), 8);
    assert!(digest.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(digest, ClaimedClient { id: "gateway", configured: false }.id_digest());
    assert_ne!(digest, ClaimedClient { id: "gateway2", configured: true }.id_digest());
}
