//! The contract of `UserRepository`: storing accounts, finding them, and changing one field at a time.

use auth_domain::ports::{UserRepository, UserRepositoryError};
use auth_domain::user::User;
use auth_domain::{Email, PasswordHash, UserId};
use uuid::Uuid;

use crate::support::{RACE_ROUNDS, a_user, an_existing_user, display_name, now, role};

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
    users.insert(&bystander).await.expect("the bystander is stored");
    (target, bystander)
}

pub async fn a_stored_user_is_found_by_id_and_by_email_as_it_was_stored(users: &dyn UserRepository) {
    let user = a_user();
    users.insert(&user).await.expect("a new user is stored");

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

    let outcome = users.insert(&second).await;

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

        let (a, b, c, d) = tokio::join!(
            users.insert(&contenders[0]),
            users.insert(&contenders[1]),
            users.insert(&contenders[2]),
            users.insert(&contenders[3]),
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

    users.update_password_hash(user.id, &new_hash, at).await.expect("the user exists");

    assert_eq!(stored(users, user.id).await, User { password_hash: new_hash, updated_at: at, ..user });
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn setting_roles_replaces_them_and_changes_only_that_and_updated_at(users: &dyn UserRepository) {
    let (user, bystander) = a_user_and_a_bystander(users).await;
    let granted_at = now();
    // Sorted already, so a store that keeps roles as a sorted set passes as well as one keeping order.
    let new_roles = vec![role("admin"), role("billing:read")];

    users.set_roles(user.id, &new_roles, granted_at).await.expect("the user exists");

    let promoted = User { roles: new_roles, updated_at: granted_at, ..user };
    assert_eq!(stored(users, promoted.id).await, promoted);

    let revoked_at = granted_at + time::Duration::seconds(1);
    users.set_roles(promoted.id, &[], revoked_at).await.expect("the user exists");

    assert_eq!(stored(users, promoted.id).await, User { roles: Vec::new(), updated_at: revoked_at, ..promoted });
    assert_eq!(stored(users, bystander.id).await, bystander);
}

pub async fn changing_an_unknown_user_is_not_found(users: &dyn UserRepository) {
    let bystander = an_existing_user(users).await;
    let unknown = UserId::from_uuid(Uuid::new_v4());
    let at = now();

    let outcomes = [
        ("mark_email_verified", users.mark_email_verified(unknown, at).await),
        ("update_display_name", users.update_display_name(unknown, Some(display_name("Nobody")), at).await),
        ("update_password_hash", users.update_password_hash(unknown, &PasswordHash::new("$argon2id$x"), at).await),
        ("set_roles", users.set_roles(unknown, &[role("admin")], at).await),
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
    users.insert(&successor).await.expect("the address can register again");
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
        setting_roles_replaces_them_and_changes_only_that_and_updated_at,
        changing_an_unknown_user_is_not_found,
        a_deleted_user_is_gone_and_its_email_is_free_again,
    ],
}
