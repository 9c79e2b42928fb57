//! Unit tests of the profile use cases, with every port mocked.

use super::*;
use crate::services::test_support::{NOW, PortMocks, principal_in, request_context, session_of, verified_user};
use serde_json::json;

fn role(name: &str) -> Role {
    Role::parse(name).expect("the test's role is valid")
}

fn caller() -> Principal {
    principal_in(&session_of(&verified_user()))
}

fn expect_user_found_by_id(mocks: &mut PortMocks, user: User) {
    let user_id = user.id;
    mocks.users.expect_find_by_id().withf(move |id| *id == user_id).returning(move |_| Ok(Some(user.clone())));
}

fn expect_user_found_by_email(mocks: &mut PortMocks, user: User) {
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
}

#[tokio::test]
async fn the_current_user_is_read_from_the_repository_not_from_the_token() {
    let mut mocks = PortMocks::new();
    // The token says `reader`; the account has since become an admin.
    let stored = User { roles: vec![role("admin")], ..verified_user() };
    expect_user_found_by_id(&mut mocks, stored.clone());

    let user = mocks.into_service::<AccountService>().current_user(&caller()).await.expect("found");

    assert_eq!(user, stored);
}

#[tokio::test]
async fn the_current_user_of_a_deleted_account_is_gone() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_find_by_id().times(1).returning(|_| Ok(None));

    let error = mocks.into_service::<AccountService>().current_user(&caller()).await.expect_err("deleted");

    assert!(matches!(error, ProfileError::UserGone), "got {error:?}");
}

#[tokio::test]
async fn updating_the_display_name_stores_it_trimmed_and_returns_the_stored_user() {
    let mut mocks = PortMocks::new();
    let principal = caller();
    let user_id = principal.user_id;
    let updated = User { display_name: Some(DisplayName::parse("Grace").expect("valid")), ..verified_user() };
    mocks
        .users
        .expect_update_display_name()
        .withf(move |id, name, at| {
            *id == user_id && name.as_ref().map(DisplayName::as_str) == Some("Grace") && *at == NOW
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(move |event| event.kind == AuditEventKind::UserUpdated && event.user_id == Some(user_id))
        .times(1)
        .returning(|_| Ok(()));
    expect_user_found_by_id(&mut mocks, updated.clone());

    let request = UpdateProfileRequest { display_name: Some(Some("  Grace ".to_owned())) };
    let user = mocks
        .into_service::<AccountService>()
        .update_current_user(&principal, request, &request_context())
        .await
        .expect("ok");

    assert_eq!(user, updated);
}

#[tokio::test]
async fn updating_the_display_name_to_nothing_clears_it() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_update_display_name().withf(|_, name, _| name.is_none()).times(1).returning(|_, _, _| Ok(()));
    mocks.expect_audit(AuditEventKind::UserUpdated, 1);
    expect_user_found_by_id(&mut mocks, User { display_name: None, ..verified_user() });

    let request = UpdateProfileRequest { display_name: Some(None) };
    let user = mocks
        .into_service::<AccountService>()
        .update_current_user(&caller(), request, &request_context())
        .await
        .expect("ok");

    assert_eq!(user.display_name, None);
}

#[tokio::test]
async fn an_update_without_fields_changes_nothing() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_update_display_name().never();
    mocks.audit.expect_append().never();
    expect_user_found_by_id(&mut mocks, verified_user());

    let request = UpdateProfileRequest::default();
    let user = mocks
        .into_service::<AccountService>()
        .update_current_user(&caller(), request, &request_context())
        .await
        .expect("ok");

    assert_eq!(user, verified_user());
}

#[tokio::test]
async fn an_invalid_display_name_is_a_validation_error_and_changes_nothing() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_update_display_name().never();
    mocks.audit.expect_append().never();

    let request = UpdateProfileRequest { display_name: Some(Some("  ".to_owned())) };
    let error = mocks
        .into_service::<AccountService>()
        .update_current_user(&caller(), request, &request_context())
        .await
        .expect_err("invalid");

    let ProfileError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    let fields: Vec<(&str, &str)> = errors.iter().map(|error| (error.field, error.code)).collect();
    assert_eq!(fields, [("display_name", "required")]);
}

#[tokio::test]
async fn updating_a_deleted_account_is_gone() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_update_display_name().times(1).returning(|_, _, _| Err(UserRepositoryError::NotFound));
    mocks.audit.expect_append().never();

    let request = UpdateProfileRequest { display_name: Some(Some("Grace".to_owned())) };
    let error = mocks
        .into_service::<AccountService>()
        .update_current_user(&caller(), request, &request_context())
        .await
        .expect_err("gone");

    assert!(matches!(error, ProfileError::UserGone), "got {error:?}");
}

#[tokio::test]
async fn granting_a_role_to_an_unknown_email_fails_and_changes_nothing() {
    for email in ["nobody@example.com", "not an address"] {
        let mut mocks = PortMocks::new();
        mocks.users.expect_find_by_email().times(0..=1).returning(|_| Ok(None));
        mocks.users.expect_set_roles().never();
        mocks.audit.expect_append().never();

        let error = mocks.into_service::<AccountService>().grant_role(email, "admin").await.expect_err("unknown");

        assert!(matches!(error, GrantRoleError::UnknownUser), "{email}: got {error:?}");
    }
}

#[tokio::test]
async fn granting_an_invalid_role_fails_and_changes_nothing() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_find_by_email().times(0..=1).returning(|_| Ok(Some(verified_user())));
    mocks.users.expect_set_roles().never();

    let error =
        mocks.into_service::<AccountService>().grant_role("ada@example.com", "Admin").await.expect_err("invalid role");

    assert!(matches!(error, GrantRoleError::InvalidRole(_)), "got {error:?}");
}

#[tokio::test]
async fn granting_a_role_adds_it_to_the_roles_already_held() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let granted = User { roles: vec![role("admin"), role("reader")], ..user.clone() };
    expect_user_found_by_email(&mut mocks, user);
    mocks
        .users
        .expect_set_roles()
        .withf(move |id, roles, at| *id == user_id && roles == [role("admin"), role("reader")] && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::RoleGranted
                && event.user_id == Some(user_id)
                && event.detail == json!({ "role": "admin" })
        })
        .times(1)
        .returning(|_| Ok(()));
    expect_user_found_by_id(&mut mocks, granted.clone());

    let user = mocks.into_service::<AccountService>().grant_role(" Ada@Example.com", "admin").await.expect("granted");

    assert_eq!(user, granted);
}

#[tokio::test]
async fn granting_a_role_already_held_changes_nothing() {
    let mut mocks = PortMocks::new();
    expect_user_found_by_email(&mut mocks, verified_user());
    mocks.users.expect_set_roles().never();
    mocks.audit.expect_append().never();
    expect_user_found_by_id(&mut mocks, verified_user());

    let user =
        mocks.into_service::<AccountService>().grant_role("ada@example.com", "reader").await.expect("idempotent");

    assert_eq!(user.roles, [role("reader")]);
}

#[tokio::test]
async fn revoking_a_role_removes_only_that_role_and_ends_the_tokens_that_claim_it() {
    let mut mocks = PortMocks::new();
    let user = User { roles: vec![role("admin"), role("reader")], ..verified_user() };
    let user_id = user.id;
    expect_user_found_by_email(&mut mocks, user);
    mocks
        .users
        .expect_set_roles()
        .withf(move |id, roles, _| *id == user_id && roles == [role("reader")])
        .times(1)
        .returning(|_, _, _| Ok(()));
    // Every session ends (and is listed in the revocation feed), not only tokens of earlier
    // seconds: a token issued in the second of the removal must not keep the role.
    let live = vec![session_of(&verified_user())];
    let live_id = live[0].id;
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, reason, _| *id == user_id && *reason == crate::session::RevocationReason::RoleRemoved)
        .times(1)
        .returning(move |_, _, _| Ok(live.clone()));
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == live_id).times(1).returning(|_, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(|event| event.kind == AuditEventKind::RoleRevoked && event.detail == json!({ "role": "admin" }))
        .times(1)
        .returning(|_| Ok(()));
    expect_user_found_by_id(&mut mocks, verified_user());

    mocks.into_service::<AccountService>().revoke_role("ada@example.com", "admin").await.expect("revoked");
}

// delete_account

#[tokio::test]
async fn a_wrong_password_deletes_nothing_and_counts_as_a_failed_login() {
    let mut mocks = PortMocks::new();
    expect_user_found_by_id(&mut mocks, verified_user());
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "login-fail:email:ada@example.com")
        .times(1)
        .returning(|_, limit| Ok(crate::services::test_support::allowed(limit)));
    mocks.rate_limiter.expect_peek().times(1).returning(|_, limit| Ok(crate::services::test_support::allowed(limit)));
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "login-backoff:email:ada@example.com")
        .times(1)
        .returning(|_, limit| Ok(crate::services::test_support::allowed(limit)));
    mocks.hasher.expect_verify().times(1).returning(|_, _| Ok(crate::ports::PasswordCheck::Mismatch));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    mocks.users.expect_delete().never();
    mocks.sessions.expect_revoke_all_for_user().never();

    let error = mocks
        .into_service::<AccountService>()
        .delete_account(&caller(), "wrong", &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, DeleteAccountError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn a_deleted_account_has_every_token_revoked_before_the_row_goes() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let principal = caller();
    let mut order = mockall::Sequence::new();
    expect_user_found_by_id(&mut mocks, user);
    mocks.allow_every_rate_limit();
    mocks
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(crate::ports::PasswordCheck::Match { needs_rehash: false }));
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, reason, at| {
            *id == user_id && *reason == crate::session::RevocationReason::AccountDeleted && *at == NOW
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _| Ok(Vec::new()));
    mocks.revocations.expect_revoke_session().times(1).in_sequence(&mut order).returning(|_, _| Ok(()));
    mocks.users.expect_delete().withf(move |id| *id == user_id).times(1).in_sequence(&mut order).returning(|_| Ok(()));
    mocks.expect_audit(AuditEventKind::UserDeleted, 1);

    mocks
        .into_service::<AccountService>()
        .delete_account(&principal, "the password", &request_context())
        .await
        .expect("deleted");
}
