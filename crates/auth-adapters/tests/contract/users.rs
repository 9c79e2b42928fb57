//! The contract of `UserRepository`: storing accounts, finding them, and changing one field at a time.
//!
//! The mails that its methods queue in the transaction of their change are checked in [`outbox`].

use auth_domain::ports::{MailedToken, PasswordUpdate, UserQuery, UserRepository, UserRepositoryError};
use auth_domain::user::User;
use auth_domain::{Email, PasswordHash, UserId};
use uuid::Uuid;

use crate::support::{RACE_ROUNDS, a_user, a_verification_of, an_existing_user, display_name, now, role};

/// The user as the store now holds it, which the test knows exists.
async fn stored(users: &dyn UserRepository, id: UserId) -> User {
    users.find_by_id(id).await.expect("the lookup succeeds").expect("the user is stored")
}

/// Two stored users: the one a test changes, and a bystander that must stay as it was.
async fn a_user_and_a_bystander(users: &dyn UserRepository) -> (User, User) {
    let target = an_existing_user(users).await;
    let mut bystander = a_user();
    bystander.display_name = None;
    bystander.roles = Vec::new();
    bystander.mfa_enabled = false;
    users.insert(&bystander, &a_verification_of(&bystander)).await.expect("the bystander is stored");
    (target, bystander)
}

pub async fn a_stored_user_is_found_by_id_and_by_email_as_it_was_stored(users: &dyn UserRepository) {
    let user = a_user();
    users.insert(&user, &a_verification_of(&user)).await.expect("a new user is stored");

    assert_eq!(users.find_by_id(user.id).await.expect("the lookup succeeds"), Some(user.clone()));
    // The same address typed with other case and spacing parses to the same normalised email.
    let respelled = Email::parse(&format!("  {}  ", user.email.as_str().to_uppercase())).expect("still an email");
    assert_eq!(users.find_by_email(&respelled).await.expect("the lookup succeeds"), Some(user));
}

pub async fn an_unknown_user_is_not_found(users: &dyn UserRepository) {
    an_existing_user(users).await;
    let stranger = a_user();

    assert_eq!(users.find_by_id(stranger.id).await.expect("the lookup succeeds"), None);
    assert_eq!(users.find_by_email(&stranger.email).await.expect("the lookup succeeds"), None);
}

pub async fn a_second_user_with_the_same_email_is_refused(users: &dyn UserRepository) {
    let first = an_existing_user(users).await;
    let mut second = a_user();
    second.email = Email::parse(&first.email.as_str().to_uppercase()).expect("still an email");

    let outcome = users.insert(&second, &a_verification_of(&second)).await;

    assert!(matches!(outcome, Err(UserRepositoryError::EmailTaken)), "expected EmailTaken, got {outcome:?}");
    assert_eq!(users.find_by_id(second.id).await.expect("the lookup succeeds"), None);
    assert_eq!(users.find_by_email(&first.email).await.expect("the lookup succeeds"), Some(first));
}

pub async fn of_concurrent_inserts_of_one_email_exactly_one_succeeds(users: &dyn UserRepository) {
    for round in 0..RACE_ROUNDS {
        let first = a_user();
        let contenders: Vec<User> = std::iter::once(first.clone())
            .chain((0..3).map(|_| User { id: UserId::from_uuid(Uuid::new_v4()), ..first.clone() }))
            .collect();

        let verifications: Vec<MailedToken> = contenders.iter().map(a_verification_of).collect();

        let (a, b, c, d) = tokio::join!(
            users.insert(&contenders[0], &verifications[0]),
            users.insert(&contenders[1], &verifications[1]),
            users.insert(&contenders[2], &verifications[2]),
            users.insert(&contenders[3], &verifications[3]),
        );

        let outcomes = [a, b, c, d];
        let winners: Vec<usize> = (0..4).filter(|&index| outcomes[index].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one insert must win: {outcomes:?}");
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(UserRepositoryError::EmailTaken)),
                "round {round}: a loser gets EmailTaken: {outcomes:?}"
            );
        }
        let winner = &contenders[winners[0]];
        assert_eq!(users.find_by_email(&winner.email).await.expect("the lookup succeeds"), Some(winner.clone()));
    }
}

pub async fn marking_the_email_verified_changes_only_that_and_updated_at(users: &dyn UserRepository) {
    let (user, bystander) = a_user_and_a_bystander(users).await;
    let at = now();

    users.mark_email_verified(user.id, at).await.expect("the user exists");

    assert_eq!(stored(users, user.id).await, User { email_verified: true, updated_at: at, ..user });
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn updating_the_display_name_changes_only_that_and_updated_at(users: &dyn UserRepository) {
    let (user, bystander) = a_user_and_a_bystander(users).await;
    let renamed_at = now();

    users.update_display_name(user.id, Some(display_name("Countess of Lovelace")), renamed_at).await.expect("exists");

    let renamed = User { display_name: Some(display_name("Countess of Lovelace")), updated_at: renamed_at, ..user };
    assert_eq!(stored(users, renamed.id).await, renamed);

    let cleared_at = renamed_at + time::Duration::seconds(1);
    users.update_display_name(renamed.id, None, cleared_at).await.expect("the user exists");

    assert_eq!(stored(users, renamed.id).await, User { display_name: None, updated_at: cleared_at, ..renamed });
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn updating_the_password_hash_changes_only_that_and_updated_at(users: &dyn UserRepository) {
    let (user, bystander) = a_user_and_a_bystander(users).await;
    let at = now();
    let new_hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA");

    users
        .update_password_hash(user.id, &new_hash, at, PasswordUpdate::Rehash { previous: user.password_hash.clone() })
        .await
        .expect("the user exists");

    assert_eq!(stored(users, user.id).await, User { password_hash: new_hash, updated_at: at, ..user });
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn setting_roles_replaces_them_and_changes_only_that_updated_at_and_the_credentials_version(
    users: &dyn UserRepository,
) {
    let (user, bystander) = a_user_and_a_bystander(users).await;
    let granted_at = now();
    // Sorted already, so a store that keeps roles as a sorted set passes as well as one keeping order.
    let new_roles = vec![role("admin"), role("billing:read")];

    users.set_roles(user.id, &new_roles, granted_at).await.expect("the user exists");

    let promoted = User { roles: new_roles, updated_at: granted_at, credentials_version: 1, ..user };
    assert_eq!(stored(users, promoted.id).await, promoted);

    let revoked_at = granted_at + time::Duration::seconds(1);
    users.set_roles(promoted.id, &[], revoked_at).await.expect("the user exists");

    let demoted = User { roles: Vec::new(), updated_at: revoked_at, credentials_version: 2, ..promoted };
    assert_eq!(stored(users, demoted.id).await, demoted);
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn changing_an_unknown_user_is_not_found(users: &dyn UserRepository) {
    let bystander = an_existing_user(users).await;
    let unknown = UserId::from_uuid(Uuid::new_v4());
    let at = now();

    let outcomes = [
        ("mark_email_verified", users.mark_email_verified(unknown, at).await),
        ("update_display_name", users.update_display_name(unknown, Some(display_name("Nobody")), at).await),
        (
            "update_password_hash",
            users
                .update_password_hash(
                    unknown,
                    &PasswordHash::new("$argon2id$x"),
                    at,
                    PasswordUpdate::Rehash { previous: PasswordHash::new("$argon2id$x") },
                )
                .await,
        ),
        ("set_roles", users.set_roles(unknown, &[role("admin")], at).await),
        ("set_disabled", users.set_disabled(unknown, true, at).await),
    ];

    for (operation, outcome) in outcomes {
        assert!(
            matches!(outcome, Err(UserRepositoryError::NotFound)),
            "{operation}: expected NotFound, got {outcome:?}"
        );
    }
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn a_deleted_user_is_gone_and_its_email_is_free_again(users: &dyn UserRepository) {
    let (target, bystander) = (an_existing_user(users).await, an_existing_user(users).await);

    users.delete(target.id).await.expect("the user is deleted");

    assert_eq!(users.find_by_id(target.id).await.expect("the lookup succeeds"), None);
    assert_eq!(users.find_by_email(&target.email).await.expect("the lookup succeeds"), None);
    assert_eq!(users.find_by_id(bystander.id).await.expect("the lookup succeeds"), Some(bystander));
    assert!(matches!(users.delete(target.id).await, Err(UserRepositoryError::NotFound)), "deleting twice");
    let successor = User { id: UserId::from_uuid(Uuid::now_v7()), ..target };
    users.insert(&successor, &a_verification_of(&successor)).await.expect("the address can register again");
}

pub async fn disabling_changes_only_that_updated_at_and_the_credentials_version(users: &dyn UserRepository) {
    let (target, bystander) = a_user_and_a_bystander(users).await;
    let at = now();

    users.set_disabled(target.id, true, at).await.expect("disabled");
    assert_eq!(
        stored(users, target.id).await,
        User { disabled: true, updated_at: at, credentials_version: 1, ..target.clone() }
    );
    users.set_disabled(target.id, false, at).await.expect("enabled");
    assert_eq!(
        stored(users, target.id).await,
        User { disabled: false, updated_at: at, credentials_version: 2, ..target }
    );
    assert_eq!(stored(users, bystander.id).await, bystander);
}

/// `count` stored users, with ids in the order of their index `n` and the email `{tag}{n}@example.com`.
async fn users_in_id_order(users: &dyn UserRepository, tag: &str, count: u128) -> Vec<User> {
    let base = Uuid::now_v7().as_u128();
    let mut stored_users = Vec::new();
    for n in 0..count {
        let mut user = a_user();
        user.id = UserId::from_uuid(Uuid::from_u128(base + n));
        user.email = Email::parse(&format!("{tag}{n}@example.com")).expect("still an email");
        users.insert(&user, &a_verification_of(&user)).await.expect("stored");
        stored_users.push(user);
    }
    stored_users
}

pub async fn listing_pages_through_users_in_id_order(users: &dyn UserRepository) {
    let tag = format!("list{}-", Uuid::new_v4().simple());
    let expected = users_in_id_order(users, &tag, 5).await;
    let page = |after: Option<UserId>| UserQuery { email_contains: Some(tag.clone()), after, limit: 2 };

    let first = users.list(&page(None)).await.expect("listed");
    let second = users.list(&page(first.last().map(|user| user.id))).await.expect("listed");
    let third = users.list(&page(second.last().map(|user| user.id))).await.expect("listed");
    let rest = users.list(&page(third.last().map(|user| user.id))).await.expect("listed");

    assert_eq!([first, second, third].concat(), expected);
    assert!(rest.is_empty());
}

pub async fn listing_filters_by_a_part_of_the_email_taken_literally(users: &dyn UserRepository) {
    let tag = format!("find{}-", Uuid::new_v4().simple());
    let expected = users_in_id_order(users, &tag, 2).await;
    let everyone = |text: &str| UserQuery { email_contains: Some(text.to_owned()), after: None, limit: 100 };

    assert_eq!(users.list(&everyone(&tag)).await.expect("listed"), expected);
    assert_eq!(users.list(&everyone(&format!("{tag}1"))).await.expect("listed"), expected[1..]);
    // `%` and `_` are LIKE's wildcards; here they are only characters no email of these has.
    assert!(users.list(&everyone(&format!("{tag}%"))).await.expect("listed").is_empty());
    assert!(users.list(&everyone(&format!("{tag}_"))).await.expect("listed").is_empty());
    let unfiltered = users.list(&UserQuery { email_contains: None, after: None, limit: 1000 }).await.expect("listed");
    assert!(expected.iter().all(|user| unfiltered.contains(user)));
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.users),
    tests: [
        a_stored_user_is_found_by_id_and_by_email_as_it_was_stored,
        an_unknown_user_is_not_found,
        a_second_user_with_the_same_email_is_refused,
        of_concurrent_inserts_of_one_email_exactly_one_succeeds,
        marking_the_email_verified_changes_only_that_and_updated_at,
        updating_the_display_name_changes_only_that_and_updated_at,
        updating_the_password_hash_changes_only_that_and_updated_at,
        setting_roles_replaces_them_and_changes_only_that_updated_at_and_the_credentials_version,
        changing_an_unknown_user_is_not_found,
        a_deleted_user_is_gone_and_its_email_is_free_again,
        disabling_changes_only_that_updated_at_and_the_credentials_version,
        listing_pages_through_users_in_id_order,
        listing_filters_by_a_part_of_the_email_taken_literally,
    ],
}

/// What `UserRepository` queues in the transaction of its change: each contract claims the queue
/// back through the `MailQueue` of the same store, and consumes tokens to see which were stored.
mod outbox {
    use auth_domain::mail::{MailJob, QueuedMail};
    use auth_domain::ports::{
        MailQueue, MailQueueStats, MailedToken, OneTimeTokenRepository, PasswordUpdate, TokenPurpose, UserRepository,
        UserRepositoryError,
    };
    use auth_domain::user::User;
    use auth_domain::{Mail, PasswordHash, UserId};
    use uuid::Uuid;

    use super::stored;
    use crate::support::{
        RACE_ROUNDS, a_directly_queued_mail, a_user, a_verification_of, an_existing_user, claim_every_queued_job,
        empty_the_queue, first_attempt_of, now, queued,
    };

    async fn consume_verification(tokens: &dyn OneTimeTokenRepository, verification: &MailedToken) -> Option<UserId> {
        tokens.consume(&verification.record.hash, TokenPurpose::VerifyEmail, now()).await.expect("the consumption runs")
    }

    fn a_new_password_hash() -> PasswordHash {
        PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${}", Uuid::new_v4().simple()))
    }

    pub async fn registering_a_user_stores_its_token_and_queues_exactly_its_mail(
        users: &dyn UserRepository,
        tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let user = a_user();
        let verification = a_verification_of(&user);

        users.insert(&user, &verification).await.expect("a new user is stored");

        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&verification.mail)]);
        assert_eq!(consume_verification(tokens, &verification).await, Some(user.id), "the token was stored");
    }

    pub async fn a_registration_refused_as_email_taken_stores_no_token_and_queues_nothing(
        users: &dyn UserRepository,
        tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let first = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let second = User { email: first.email.clone(), ..a_user() };
        let verification = a_verification_of(&second);

        let outcome = users.insert(&second, &verification).await;

        assert!(matches!(outcome, Err(UserRepositoryError::EmailTaken)), "expected EmailTaken, got {outcome:?}");
        assert_eq!(queue.stats().await.expect("the stats are read"), MailQueueStats::default());
        assert_eq!(claim_every_queued_job(queue).await, []);
        assert_eq!(consume_verification(tokens, &verification).await, None, "the refused token was stored");
    }

    pub async fn a_registration_whose_mail_cannot_be_queued_stores_neither_the_user_nor_its_token(
        users: &dyn UserRepository,
        tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let already_queued = a_directly_queued_mail(queue).await;
        let user = a_user();
        let mut verification = a_verification_of(&user);
        // The queue refuses a second job under an id it holds: the last step of the insert fails.
        verification.mail.id = already_queued.id;

        let outcome = users.insert(&user, &verification).await;

        assert!(outcome.is_err(), "the insert cannot succeed without queueing its mail: {outcome:?}");
        assert_eq!(users.find_by_id(user.id).await.expect("the lookup succeeds"), None, "the user was stored");
        assert_eq!(users.find_by_email(&user.email).await.expect("the lookup succeeds"), None);
        assert_eq!(consume_verification(tokens, &verification).await, None, "the token was stored");
        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&already_queued)]);
    }

    pub async fn of_concurrent_registrations_of_one_email_only_the_winners_mail_is_queued(
        users: &dyn UserRepository,
        tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        for round in 0..RACE_ROUNDS {
            let first = a_user();
            let contenders: Vec<User> = std::iter::once(first.clone())
                .chain((0..3).map(|_| User { id: UserId::from_uuid(Uuid::new_v4()), ..first.clone() }))
                .collect();
            let verifications: Vec<MailedToken> = contenders.iter().map(a_verification_of).collect();

            let (a, b, c, d) = tokio::join!(
                users.insert(&contenders[0], &verifications[0]),
                users.insert(&contenders[1], &verifications[1]),
                users.insert(&contenders[2], &verifications[2]),
                users.insert(&contenders[3], &verifications[3]),
            );

            let outcomes = [a, b, c, d];
            let winners: Vec<usize> = (0..4).filter(|&index| outcomes[index].is_ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: exactly one insert must win: {outcomes:?}");
            let winner = winners[0];
            let queued: Vec<MailJob> = claim_every_queued_job(queue).await;
            assert_eq!(
                queued,
                [first_attempt_of(&verifications[winner].mail)],
                "round {round}: only the winner's mail"
            );
            for (index, verification) in verifications.iter().enumerate() {
                let expected = (index == winner).then_some(contenders[winner].id);
                assert_eq!(consume_verification(tokens, verification).await, expected, "round {round}: token {index}");
            }
            for job in queued {
                queue.complete(job.id).await.expect("a claimed job completes");
            }
        }
    }

    pub async fn changing_the_password_queues_its_notice_with_the_new_hash(
        users: &dyn UserRepository,
        _tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let (new_hash, at) = (a_new_password_hash(), now());
        let notice = queued(Mail::PasswordChanged { to: user.email.clone() });

        users
            .update_password_hash(
                user.id,
                &new_hash,
                at,
                PasswordUpdate::NewPassword { notice: notice.clone(), keep: None },
            )
            .await
            .expect("the user exists");

        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&notice)]);
        let changed = User { password_hash: new_hash, updated_at: at, credentials_version: 1, ..user };
        assert_eq!(stored(users, changed.id).await, changed);
    }

    pub async fn upgrading_a_password_hash_without_a_notice_queues_nothing(
        users: &dyn UserRepository,
        _tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;

        users
            .update_password_hash(
                user.id,
                &a_new_password_hash(),
                now(),
                PasswordUpdate::Rehash { previous: user.password_hash.clone() },
            )
            .await
            .expect("the user exists");

        assert_eq!(queue.stats().await.expect("the stats are read"), MailQueueStats::default());
        assert_eq!(claim_every_queued_job(queue).await, []);
    }

    pub async fn changing_the_password_of_an_unknown_user_is_not_found_and_queues_nothing(
        users: &dyn UserRepository,
        _tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let bystander = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let unknown = UserId::from_uuid(Uuid::new_v4());
        let notice = queued(Mail::PasswordChanged { to: bystander.email.clone() });

        let outcome = users
            .update_password_hash(
                unknown,
                &a_new_password_hash(),
                now(),
                PasswordUpdate::NewPassword { notice, keep: None },
            )
            .await;

        assert!(matches!(outcome, Err(UserRepositoryError::NotFound)), "expected NotFound, got {outcome:?}");
        assert_eq!(queue.stats().await.expect("the stats are read"), MailQueueStats::default());
        assert_eq!(claim_every_queued_job(queue).await, []);
        assert_eq!(stored(users, bystander.id).await, bystander);
    }

    pub async fn a_password_change_whose_notice_cannot_be_queued_keeps_the_old_hash(
        users: &dyn UserRepository,
        _tokens: &dyn OneTimeTokenRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let already_queued = a_directly_queued_mail(queue).await;
        // The queue refuses a second job under an id it holds: the last step of the change fails.
        let notice = QueuedMail { id: already_queued.id, ..queued(Mail::PasswordChanged { to: user.email.clone() }) };

        let outcome = users
            .update_password_hash(
                user.id,
                &a_new_password_hash(),
                now(),
                PasswordUpdate::NewPassword { notice, keep: None },
            )
            .await;

        assert!(outcome.is_err(), "the change cannot succeed without queueing its notice: {outcome:?}");
        assert_eq!(stored(users, user.id).await, user, "the new hash was stored");
        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&already_queued)]);
    }

    contract_tests! {
        backends: {
            sqlite => crate::backends::sqlite,
            postgres => crate::backends::postgres,
        },
        ports: |fixture| (&fixture.users, &fixture.one_time_tokens, &fixture.mail_queue),
        tests: [
            registering_a_user_stores_its_token_and_queues_exactly_its_mail,
            a_registration_refused_as_email_taken_stores_no_token_and_queues_nothing,
            a_registration_whose_mail_cannot_be_queued_stores_neither_the_user_nor_its_token,
            of_concurrent_registrations_of_one_email_only_the_winners_mail_is_queued,
            changing_the_password_queues_its_notice_with_the_new_hash,
            upgrading_a_password_hash_without_a_notice_queues_nothing,
            changing_the_password_of_an_unknown_user_is_not_found_and_queues_nothing,
            a_password_change_whose_notice_cannot_be_queued_keeps_the_old_hash,
        ],
    }
}
