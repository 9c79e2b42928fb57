//! The contract of `SessionRepository`: sessions, rotation of their refresh tokens, revocation, listing.
//!
//! Every contract also takes a `UserRepository`, only to store the users the sessions belong to:
//! a relational backend's foreign keys refuse a session of an unknown user. The sign-in notice
//! that `create` may queue with the session is checked in [`outbox`].

use std::collections::HashSet;

use auth_domain::ports::{
    PasswordUpdate, Rotation, RotationOutcome, SessionCreation, SessionRepository, UserRepository,
};
use auth_domain::session::RevocationReason;
use auth_domain::{RefreshTokenRecord, Session, SessionId, TokenHash, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{RACE_ROUNDS, an_existing_user, now, random_token_hash};

/// A live session of `user_id` created at `created_at`, 30 days long and 7 days idle, not stored.
fn a_session(user_id: UserId, created_at: OffsetDateTime) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::new_v4()),
        user_id,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + Duration::days(30),
        idle_expires_at: created_at + Duration::days(7),
        revoked_at: None,
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("contract-tests/1.0".to_owned()),
        // Not the default, so that a store dropping it is caught.
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        // A new account's version.
        credentials_version: 0,
    }
}

/// The first refresh token of `session`, issued when it was created.
fn a_first_token_of(session: &Session) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: random_token_hash(),
        session_id: session.id,
        issued_at: session.created_at,
        rotated_at: None,
    }
}

/// Stores `session`, without a sign-in notice, with a first refresh token issued when it was
/// created; returns that token.
async fn create(sessions: &dyn SessionRepository, session: &Session) -> RefreshTokenRecord {
    let first_token = a_first_token_of(session);
    let created = sessions.create(session, &first_token, None).await.expect("a new session is stored");
    assert_eq!(created, SessionCreation::Created);
    first_token
}

/// A stored session of a new user, created an hour ago, with its first refresh token.
async fn an_existing_session(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) -> (Session, RefreshTokenRecord) {
    let user = an_existing_user(users).await;
    let session = a_session(user.id, now() - Duration::hours(1));
    let first_token = create(sessions, &session).await;
    (session, first_token)
}

fn rotation_of(session: &Session, parent: &TokenHash, now: OffsetDateTime) -> Rotation {
    Rotation {
        session_id: session.id,
        parent: parent.clone(),
        successor: random_token_hash(),
        now,
        idle_expires_at: now + Duration::days(7),
    }
}

async fn found(sessions: &dyn SessionRepository, id: SessionId) -> Session {
    sessions.find(id).await.expect("the lookup succeeds").expect("the session is stored")
}

async fn found_by_token(sessions: &dyn SessionRepository, hash: &TokenHash) -> (Session, RefreshTokenRecord) {
    sessions.find_by_refresh_token(hash).await.expect("the lookup succeeds").expect("the token is stored")
}

pub async fn a_created_session_is_found_by_id_and_by_its_refresh_token(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let session = a_session(user.id, now());

    let first_token = create(sessions, &session).await;

    assert_eq!(found(sessions, session.id).await, session);
    assert_eq!(found_by_token(sessions, &first_token.hash).await, (session, first_token));
}

pub async fn an_unknown_session_or_refresh_token_is_not_found(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    an_existing_session(sessions, users).await;

    assert_eq!(sessions.find(SessionId::from_uuid(Uuid::new_v4())).await.expect("the lookup succeeds"), None);
    assert_eq!(sessions.find_by_refresh_token(&random_token_hash()).await.expect("the lookup succeeds"), None);
}

pub async fn rotating_stores_the_successor_and_marks_the_parent_rotated(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let (session, parent) = an_existing_session(sessions, users).await;
    let rotation = rotation_of(&session, &parent.hash, now());

    let outcome = sessions.rotate(&rotation).await.expect("the rotation succeeds");

    assert_eq!(outcome, RotationOutcome::Rotated);
    let moved = Session { last_used_at: rotation.now, idle_expires_at: rotation.idle_expires_at, ..session.clone() };
    assert_eq!(found(sessions, session.id).await, moved);
    let successor = RefreshTokenRecord {
        hash: rotation.successor.clone(),
        session_id: session.id,
        issued_at: rotation.now,
        rotated_at: None,
    };
    assert_eq!(found_by_token(sessions, &rotation.successor).await, (moved.clone(), successor));
    // The parent stays findable, so that its reuse can be recognised, but is marked rotated.
    let rotated_parent = RefreshTokenRecord { rotated_at: Some(rotation.now), ..parent.clone() };
    assert_eq!(found_by_token(sessions, &parent.hash).await, (moved, rotated_parent));
}

pub async fn a_second_rotation_of_the_same_parent_is_refused_with_the_first_instant_and_changes_nothing(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let (session, parent) = an_existing_session(sessions, users).await;
    let first = rotation_of(&session, &parent.hash, now());
    assert_eq!(sessions.rotate(&first).await.expect("the first rotation succeeds"), RotationOutcome::Rotated);
    let after_first = found(sessions, session.id).await;

    let second = rotation_of(&session, &parent.hash, first.now + Duration::seconds(5));
    let outcome = sessions.rotate(&second).await.expect("the second rotation is refused, not failed");

    assert_eq!(outcome, RotationOutcome::AlreadyRotated { rotated_at: first.now });
    assert_eq!(sessions.find_by_refresh_token(&second.successor).await.expect("the lookup succeeds"), None);
    assert_eq!(found(sessions, session.id).await, after_first, "the refused rotation moved the session");
    assert_eq!(found_by_token(sessions, &parent.hash).await.1.rotated_at, Some(first.now));
    assert_eq!(found_by_token(sessions, &first.successor).await.1.rotated_at, None);

    // A retry carries the very same successor (it is derived from the parent): refused alike.
    let retry = Rotation { now: first.now + Duration::seconds(1), ..first.clone() };
    assert_eq!(
        sessions.rotate(&retry).await.expect("a retry is refused, not failed"),
        RotationOutcome::AlreadyRotated { rotated_at: first.now }
    );
    assert_eq!(found_by_token(sessions, &first.successor).await.1.issued_at, first.now);
}

pub async fn of_concurrent_rotations_of_one_parent_exactly_one_wins(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    for round in 0..RACE_ROUNDS {
        let (session, parent) = an_existing_session(sessions, users).await;
        let start = now();
        // Like the service does, every contender presents the same successor, derived from the
        // parent; only the instants differ, so the winner can be told apart.
        let successor = random_token_hash();
        let contenders: Vec<Rotation> = (0..4)
            .map(|contender| Rotation {
                successor: successor.clone(),
                ..rotation_of(&session, &parent.hash, start + Duration::milliseconds(contender))
            })
            .collect();

        let (a, b, c, d) = tokio::join!(
            sessions.rotate(&contenders[0]),
            sessions.rotate(&contenders[1]),
            sessions.rotate(&contenders[2]),
            sessions.rotate(&contenders[3]),
        );

        let outcomes: Vec<RotationOutcome> = [a, b, c, d]
            .into_iter()
            .map(|outcome| outcome.expect("a losing rotation is refused, not failed"))
            .collect();
        let winners: Vec<usize> = (0..4).filter(|&index| outcomes[index] == RotationOutcome::Rotated).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one rotation must win: {outcomes:?}");
        let winner = &contenders[winners[0]];
        for outcome in &outcomes {
            assert!(
                *outcome == RotationOutcome::Rotated
                    || *outcome == RotationOutcome::AlreadyRotated { rotated_at: winner.now },
                "round {round}: a loser must report the winner's instant: {outcomes:?}"
            );
        }
        let (stored, current) = found_by_token(sessions, &successor).await;
        assert_eq!((stored.last_used_at, current.issued_at, current.rotated_at), (winner.now, winner.now, None));
        assert_eq!(found_by_token(sessions, &parent.hash).await.1.rotated_at, Some(winner.now));
    }
}

pub async fn revoking_a_session_reports_whether_it_was_live(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let (session, _) = an_existing_session(sessions, users).await;
    let (bystander, _) = an_existing_session(sessions, users).await;
    let at = now();

    assert!(sessions.revoke(session.id, RevocationReason::Logout, at).await.expect("the revocation succeeds"));
    assert_eq!(found(sessions, session.id).await, Session { revoked_at: Some(at), ..session.clone() });

    let later = at + Duration::seconds(1);
    assert!(!sessions.revoke(session.id, RevocationReason::AdminAction, later).await.expect("the revocation succeeds"));
    assert_eq!(found(sessions, session.id).await.revoked_at, Some(at), "a second revocation moved the instant");

    let unknown = SessionId::from_uuid(Uuid::new_v4());
    assert!(!sessions.revoke(unknown, RevocationReason::Logout, at).await.expect("the revocation succeeds"));
    assert_eq!(found(sessions, bystander.id).await, bystander);
}

pub async fn revoking_all_of_a_users_sessions_returns_exactly_the_live_ones_of_that_user(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let other_user = an_existing_user(users).await;
    let start = now();
    let first = a_session(user.id, start - Duration::hours(3));
    let second = a_session(user.id, start - Duration::hours(2));
    let already_revoked = a_session(user.id, start - Duration::hours(1));
    let someone_elses = a_session(other_user.id, start - Duration::hours(1));
    for session in [&first, &second, &already_revoked, &someone_elses] {
        create(sessions, session).await;
    }
    let revoked_before = start - Duration::minutes(30);
    assert!(sessions.revoke(already_revoked.id, RevocationReason::Logout, revoked_before).await.expect("revokes"));

    let revoked = sessions.revoke_all_for_user(user.id, RevocationReason::LogoutAll, start).await.expect("revokes");

    let revoked_ids: HashSet<SessionId> = revoked.iter().map(|session| session.id).collect();
    assert_eq!(revoked.len(), 2, "each revoked session is returned once: {revoked:?}");
    assert_eq!(revoked_ids, HashSet::from([first.id, second.id]));
    for session in &revoked {
        assert_eq!(session.user_id, user.id);
    }
    assert_eq!(found(sessions, first.id).await.revoked_at, Some(start));
    assert_eq!(found(sessions, second.id).await.revoked_at, Some(start));
    assert_eq!(found(sessions, already_revoked.id).await.revoked_at, Some(revoked_before));
    assert_eq!(found(sessions, someone_elses.id).await, someone_elses);

    let again = sessions.revoke_all_for_user(user.id, RevocationReason::LogoutAll, start).await.expect("revokes");
    assert_eq!(again, Vec::new(), "nothing was left to revoke");
}

pub async fn the_active_sessions_of_a_user_exclude_revoked_and_expired_ones_newest_first(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let other_user = an_existing_user(users).await;
    let now = now();
    let session_of = |created_ago: Duration| a_session(user.id, now - created_ago);

    let newest = session_of(Duration::minutes(1));
    let middle = session_of(Duration::hours(2));
    let oldest = Session { idle_expires_at: now + Duration::days(1), ..session_of(Duration::days(3)) };
    let revoked = session_of(Duration::hours(1));
    let past_its_absolute_end = Session {
        expires_at: now - Duration::days(1),
        idle_expires_at: now + Duration::days(1),
        ..session_of(Duration::days(31))
    };
    let ending_absolutely_now = Session { expires_at: now, ..session_of(Duration::days(30)) };
    let idle_too_long = Session { idle_expires_at: now - Duration::seconds(1), ..session_of(Duration::hours(10)) };
    let ending_idle_now = Session { idle_expires_at: now, ..session_of(Duration::hours(9)) };
    let someone_elses = a_session(other_user.id, now - Duration::minutes(5));

    // Stored in an order that is neither the expected one nor its reverse.
    for session in [
        &middle,
        &revoked,
        &past_its_absolute_end,
        &oldest,
        &ending_absolutely_now,
        &idle_too_long,
        &newest,
        &ending_idle_now,
        &someone_elses,
    ] {
        create(sessions, session).await;
    }
    assert!(sessions.revoke(revoked.id, RevocationReason::RevokedByUser, now).await.expect("revokes"));

    let active = sessions.list_active_for_user(user.id, now).await.expect("the listing succeeds");

    let names = |list: &[Session]| -> Vec<String> {
        let name_of = |session: &Session| {
            [
                (&newest, "newest"),
                (&middle, "middle"),
                (&oldest, "oldest"),
                (&revoked, "revoked"),
                (&past_its_absolute_end, "past_its_absolute_end"),
                (&ending_absolutely_now, "ending_absolutely_now"),
                (&idle_too_long, "idle_too_long"),
                (&ending_idle_now, "ending_idle_now"),
                (&someone_elses, "someone_elses"),
            ]
            .into_iter()
            .find(|(candidate, _)| candidate.id == session.id)
            .map_or_else(|| session.id.to_string(), |(_, name)| name.to_owned())
        };
        list.iter().map(name_of).collect()
    };
    assert_eq!(names(&active), ["newest", "middle", "oldest"]);
    assert_eq!(active, vec![newest, middle, oldest]);
}

pub async fn a_deleted_users_sessions_and_refresh_tokens_go_with_it(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let session = a_session(user.id, now());
    let first_token = create(sessions, &session).await;

    users.delete(user.id).await.expect("the user is deleted");

    assert_eq!(sessions.find(session.id).await.expect("the lookup succeeds"), None);
    assert_eq!(sessions.find_by_refresh_token(&first_token.hash).await.expect("the lookup succeeds"), None);
}

/// The feed rows of these sessions among every revocation since `since`.
async fn feed_of(
    sessions: &dyn SessionRepository,
    since: OffsetDateTime,
    ids: &[SessionId],
) -> Vec<(SessionId, OffsetDateTime)> {
    let listed = sessions.revoked_since(since, None, 100_000).await.expect("the feed is read");
    let instants: Vec<OffsetDateTime> = listed.iter().map(|row| row.revoked_at).collect();
    assert!(instants.is_sorted(), "oldest first");
    listed.into_iter().filter(|row| ids.contains(&row.session_id)).map(|row| (row.session_id, row.revoked_at)).collect()
}

pub async fn every_revocation_reaches_the_feed_even_after_the_account_is_deleted(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let start = now() - Duration::minutes(10);
    let (alone, _) = an_existing_session(sessions, users).await;
    let user = an_existing_user(users).await;
    let (first, second, kept) = (a_session(user.id, start), a_session(user.id, start), a_session(user.id, start));
    for session in [&first, &second, &kept] {
        create(sessions, session).await;
    }
    let (untouched, _) = an_existing_session(sessions, users).await;
    let ids = [alone.id, first.id, second.id, kept.id, untouched.id];

    let logout = start + Duration::minutes(1);
    assert!(sessions.revoke(alone.id, RevocationReason::Logout, logout).await.expect("revokes"));
    // A second revocation of the same session neither repeats it nor moves it.
    assert!(
        !sessions.revoke(alone.id, RevocationReason::AdminAction, logout + Duration::minutes(1)).await.expect("ok")
    );
    let password_change = start + Duration::minutes(2);
    sessions
        .revoke_all_for_user_except(user.id, kept.id, RevocationReason::PasswordChanged, password_change)
        .await
        .expect("revokes");
    let deletion = start + Duration::minutes(3);
    sessions.revoke_all_for_user(user.id, RevocationReason::AccountDeleted, deletion).await.expect("revokes");
    users.delete(user.id).await.expect("the user is deleted");

    let mut expected_changes = vec![(first.id, password_change), (second.id, password_change)];
    expected_changes.sort_by_key(|(id, _)| id.to_string());
    let feed = feed_of(sessions, start, &ids).await;
    assert_eq!(feed.len(), 4, "{feed:?}");
    assert_eq!(feed[0], (alone.id, logout));
    let mut changes = feed[1..3].to_vec();
    changes.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(changes, expected_changes);
    assert_eq!(feed[3], (kept.id, deletion));

    assert_eq!(feed_of(sessions, password_change, &ids).await.len(), 3, "since is inclusive");

    // Paging through rows of one instant: strictly after a row, by session id, none twice.
    let mut paged = Vec::new();
    let mut position: Option<(OffsetDateTime, SessionId)> = None;
    loop {
        let (since, after) = position.map_or((password_change, None), |(at, id)| (at, Some(id)));
        let page = sessions.revoked_since(since, after, 1).await.expect("the feed is read");
        let Some(row) = page.first() else { break };
        if ids.contains(&row.session_id) {
            paged.push(row.session_id);
        }
        position = Some((row.revoked_at, row.session_id));
    }
    let mut expected_order = vec![first.id, second.id];
    expected_order.sort_by_key(|id| id.as_uuid());
    expected_order.push(kept.id);
    assert_eq!(paged, expected_order);
    assert_eq!(feed_of(sessions, deletion + Duration::seconds(1), &ids).await, []);
}

/// The account's credentials version as stored.
async fn version_of(users: &dyn UserRepository, user_id: UserId) -> i64 {
    users.find_by_id(user_id).await.expect("the lookup succeeds").expect("the user exists").credentials_version
}

pub async fn a_session_is_opened_only_on_the_accounts_current_credentials_version(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    assert_eq!(version_of(users, user.id).await, 0);
    // A role change completed while the login was in flight: the version it read is stale.
    users.set_roles(user.id, &[], now()).await.expect("the user exists");
    assert_eq!(version_of(users, user.id).await, 1, "a change of roles moves the version on");
    let stale = a_session(user.id, now());

    let outcome = sessions.create(&stale, &a_first_token_of(&stale), None).await.expect("answered");

    assert_eq!(outcome, SessionCreation::CredentialsChanged);
    assert_eq!(sessions.find(stale.id).await.expect("the lookup succeeds"), None, "nothing is stored");
    let current = Session { credentials_version: 1, ..a_session(user.id, now()) };
    create(sessions, &current).await;
    assert_eq!(found(sessions, current.id).await.credentials_version, 1);
}

pub async fn no_session_is_opened_for_a_disabled_or_deleted_account(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    users.set_disabled(user.id, true, now()).await.expect("the user exists");
    let version = version_of(users, user.id).await;
    let session = Session { credentials_version: version, ..a_session(user.id, now()) };
    let outcome = sessions.create(&session, &a_first_token_of(&session), None).await.expect("answered");
    assert_eq!(outcome, SessionCreation::CredentialsChanged, "disabled");

    users.delete(user.id).await.expect("deleted");
    let outcome = sessions.create(&session, &a_first_token_of(&session), None).await.expect("answered");
    assert_eq!(outcome, SessionCreation::CredentialsChanged, "deleted");
}

pub async fn a_new_password_moves_the_version_on_and_the_callers_session_with_it(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let (kept, other) = (a_session(user.id, now()), a_session(user.id, now()));
    create(sessions, &kept).await;
    create(sessions, &other).await;
    let notice = crate::support::queued(auth_domain::Mail::PasswordChanged { to: user.email.clone() });

    let update = PasswordUpdate::NewPassword { notice, keep: Some(kept.id) };
    users.update_password_hash(user.id, &user.password_hash, now(), update).await.expect("stored");

    assert_eq!(version_of(users, user.id).await, 1);
    assert_eq!(found(sessions, kept.id).await.credentials_version, 1, "the caller's session stays current");
    assert_eq!(found(sessions, other.id).await.credentials_version, 0, "the others are behind: refresh refuses them");
}

pub async fn a_rehash_never_puts_back_a_password_replaced_meanwhile(
    sessions: &dyn SessionRepository,
    users: &dyn UserRepository,
) {
    let _ = sessions;
    let user = an_existing_user(users).await;
    let reset = auth_domain::PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$cmVzZXQ$reset");
    let notice = crate::support::queued(auth_domain::Mail::PasswordChanged { to: user.email.clone() });
    users
        .update_password_hash(user.id, &reset, now(), PasswordUpdate::NewPassword { notice, keep: None })
        .await
        .expect("reset");

    // The login that read the old hash finishes, and upgrades what it read.
    let upgraded = auth_domain::PasswordHash::new("$argon2id$v=19$m=65536,t=3,p=1$b2xk$upgraded");
    let rehash = PasswordUpdate::Rehash { previous: user.password_hash.clone() };
    users.update_password_hash(user.id, &upgraded, now(), rehash).await.expect("answered");

    let stored = users.find_by_id(user.id).await.expect("the lookup succeeds").expect("the user exists");
    assert_eq!(stored.password_hash, reset, "the reset's password stays");
    assert_eq!(stored.credentials_version, 1, "a rehash is no credential change");
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.sessions, &fixture.users),
    tests: [
        a_deleted_users_sessions_and_refresh_tokens_go_with_it,
        a_created_session_is_found_by_id_and_by_its_refresh_token,
        an_unknown_session_or_refresh_token_is_not_found,
        rotating_stores_the_successor_and_marks_the_parent_rotated,
        a_second_rotation_of_the_same_parent_is_refused_with_the_first_instant_and_changes_nothing,
        of_concurrent_rotations_of_one_parent_exactly_one_wins,
        revoking_a_session_reports_whether_it_was_live,
        revoking_all_of_a_users_sessions_returns_exactly_the_live_ones_of_that_user,
        the_active_sessions_of_a_user_exclude_revoked_and_expired_ones_newest_first,
        every_revocation_reaches_the_feed_even_after_the_account_is_deleted,
        a_session_is_opened_only_on_the_accounts_current_credentials_version,
        no_session_is_opened_for_a_disabled_or_deleted_account,
        a_new_password_moves_the_version_on_and_the_callers_session_with_it,
        a_rehash_never_puts_back_a_password_replaced_meanwhile,
    ],
}

/// What `create` queues in the transaction that stores the session: each contract claims the
/// queue back through the `MailQueue` of the same store.
mod outbox {
    use auth_domain::mail::QueuedMail;
    use auth_domain::ports::{MailQueue, MailQueueStats, SessionCreation, SessionRepository, UserRepository};
    use auth_domain::user::User;
    use auth_domain::{Mail, Session};

    use super::{a_first_token_of, a_session, found, found_by_token};
    use crate::support::{
        a_directly_queued_mail, an_existing_user, claim_every_queued_job, empty_the_queue, first_attempt_of, now,
        queued,
    };

    /// The notice of a sign-in to `session` of `user`, from its address and device.
    fn a_sign_in_notice(user: &User, session: &Session) -> QueuedMail {
        queued(Mail::NewSignIn {
            to: user.email.clone(),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            at: session.created_at,
        })
    }

    pub async fn creating_a_session_with_a_sign_in_notice_queues_exactly_that_notice(
        sessions: &dyn SessionRepository,
        users: &dyn UserRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let session = a_session(user.id, now());
        let (first_token, notice) = (a_first_token_of(&session), a_sign_in_notice(&user, &session));

        let created = sessions.create(&session, &first_token, Some(notice.clone())).await.expect("stored");
        assert_eq!(created, SessionCreation::Created);

        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&notice)]);
        assert_eq!(found_by_token(sessions, &first_token.hash).await, (session, first_token));
    }

    pub async fn creating_a_session_without_a_notice_queues_nothing(
        sessions: &dyn SessionRepository,
        users: &dyn UserRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let session = a_session(user.id, now());

        let created = sessions.create(&session, &a_first_token_of(&session), None).await.expect("stored");
        assert_eq!(created, SessionCreation::Created);

        assert_eq!(queue.stats().await.expect("the stats are read"), MailQueueStats::default());
        assert_eq!(claim_every_queued_job(queue).await, []);
        assert_eq!(found(sessions, session.id).await, session);
    }

    pub async fn a_session_whose_notice_cannot_be_queued_is_not_stored(
        sessions: &dyn SessionRepository,
        users: &dyn UserRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let already_queued = a_directly_queued_mail(queue).await;
        let session = a_session(user.id, now());
        let first_token = a_first_token_of(&session);
        // The queue refuses a second job under an id it holds: the last step of the creation fails.
        let notice = QueuedMail { id: already_queued.id, ..a_sign_in_notice(&user, &session) };

        let outcome = sessions.create(&session, &first_token, Some(notice)).await;

        assert!(outcome.is_err(), "the creation cannot succeed without queueing its notice: {outcome:?}");
        assert_eq!(sessions.find(session.id).await.expect("the lookup succeeds"), None, "the session was stored");
        assert_eq!(sessions.find_by_refresh_token(&first_token.hash).await.expect("the lookup succeeds"), None);
        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&already_queued)]);
    }

    contract_tests! {
        backends: {
            sqlite => crate::backends::sqlite,
            postgres => crate::backends::postgres,
        },
        ports: |fixture| (&fixture.sessions, &fixture.users, &fixture.mail_queue),
        tests: [
            creating_a_session_with_a_sign_in_notice_queues_exactly_that_notice,
            creating_a_session_without_a_notice_queues_nothing,
            a_session_whose_notice_cannot_be_queued_is_not_stored,
        ],
    }
}
