//! Unit tests of the operator use cases, with every port mocked.

use uuid::Uuid;

use super::*;
use crate::ids::SessionId;
use crate::ports::AuditQuery;
use crate::services::test_support::{NOW, PortMocks, principal_in, request_context, session_of, verified_user};
use crate::session::Session;

/// An administrator's caller: another account than Ada's, with the `admin` role.
fn admin() -> Principal {
    let admin_user = User { id: UserId::from_uuid(Uuid::from_u128(0xAD)), ..verified_user() };
    let mut principal =
        principal_in(&Session { id: SessionId::from_uuid(Uuid::from_u128(0xAD5E)), ..session_of(&admin_user) });
    principal.roles = vec![Role::parse(ADMIN_ROLE).expect("a valid role")];
    principal.claims.roles = vec![ADMIN_ROLE.to_owned()];
    principal
}

fn user_number(n: u128) -> User {
    User { id: UserId::from_uuid(Uuid::from_u128(n)), ..verified_user() }
}

fn expect_found(mocks: &mut PortMocks, user: User) {
    mocks.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));
}

#[tokio::test]
async fn every_operator_use_case_refuses_a_caller_without_the_admin_role() {
    // No expectation is set: any port call panics.
    let service = PortMocks::new().into_service::<AdminService>();
    let reader = principal_in(&session_of(&verified_user()));
    let target = verified_user().id;
    let context = request_context();

    assert!(matches!(service.admin_list_users(&reader, None, None, None).await, Err(AdminError::Forbidden)));
    assert!(matches!(service.admin_get_user(&reader, target).await, Err(AdminError::Forbidden)));
    let update = service.admin_update_user(&reader, target, UpdateUserRequest::default(), &context).await;
    assert!(matches!(update, Err(AdminError::Forbidden)));
    assert!(matches!(service.admin_delete_user(&reader, target, &context).await, Err(AdminError::Forbidden)));
    assert!(matches!(service.admin_revoke_sessions(&reader, target, &context).await, Err(AdminError::Forbidden)));
    let audit = service.admin_audit_events(&reader, AuditFilter::default()).await;
    assert!(matches!(audit, Err(AdminError::Forbidden)));
}

#[tokio::test]
async fn a_full_page_of_users_points_at_the_next_one() {
    let mut mocks = PortMocks::new();
    let after = UserId::from_uuid(Uuid::from_u128(1));
    mocks
        .users
        .expect_list()
        .withf(move |query| {
            *query == UserQuery { email_contains: Some("example".to_owned()), after: Some(after), limit: 3 }
        })
        .times(1)
        .returning(|_| Ok(vec![user_number(2), user_number(3), user_number(4)]));

    let page = mocks
        .into_service::<AdminService>()
        .admin_list_users(&admin(), Some("  EXAMPLE "), Some(after), Some(2))
        .await
        .expect("listed");

    assert_eq!(page.users.len(), 2);
    assert_eq!(page.next_after, Some(user_number(3).id));
}

#[tokio::test]
async fn the_last_page_has_no_next_one() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_list().returning(|_| Ok(vec![user_number(2)]));

    let page = mocks.into_service::<AdminService>().admin_list_users(&admin(), None, None, None).await.expect("listed");

    assert_eq!(page.users.len(), 1);
    assert_eq!(page.next_after, None);
}

#[tokio::test]
async fn a_page_size_out_of_range_is_a_validation_error() {
    let service = PortMocks::new().into_service::<AdminService>();
    for limit in [0, MAX_PAGE_SIZE + 1] {
        let error = service.admin_list_users(&admin(), None, None, Some(limit)).await;
        assert!(matches!(&error, Err(AdminError::Validation(errors)) if errors[0].field == "limit"), "{error:?}");
    }
}

#[tokio::test]
async fn disabling_ends_every_session_at_once_and_is_audited_with_the_actor() {
    let mut mocks = PortMocks::new();
    let target = verified_user();
    let target_id = target.id;
    let sessions =
        vec![session_of(&target), Session { id: SessionId::from_uuid(Uuid::from_u128(0x5E02)), ..session_of(&target) }];
    let live = sessions.clone();
    let disabled = User { disabled: true, ..target.clone() };
    let mut lookups = 0;
    mocks.users.expect_find_by_id().returning(move |_| {
        lookups += 1;
        Ok(Some(if lookups == 1 { target.clone() } else { disabled.clone() }))
    });
    mocks
        .users
        .expect_set_disabled()
        .withf(move |id, disabled, at| *id == target_id && *disabled && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(()));
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, reason, _| *id == target_id && *reason == RevocationReason::AdminAction)
        .times(1)
        .returning(move |_, _, _| Ok(live.clone()));
    mocks.revocations.expect_revoke_session().times(2).returning(|_, _| Ok(()));
    let actor = admin().user_id.to_string();
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::UserUpdatedByAdmin
                && event.user_id == Some(target_id)
                && event.detail["actor_id"] == actor.as_str()
                && event.detail["sessions_revoked"] == 2
                && event.detail["disabled"]["to"] == true
        })
        .times(1)
        .returning(|_| Ok(()));

    let request = UpdateUserRequest { roles: None, disabled: Some(true) };
    let user = mocks
        .into_service::<AdminService>()
        .admin_update_user(&admin(), target_id, request, &request_context())
        .await
        .expect("updated");

    assert!(user.disabled);
}

#[tokio::test]
async fn removing_a_role_ends_every_session_and_granting_one_does_not() {
    let target = verified_user(); // roles: reader
    for (roles, revokes) in [(vec![], 1), (vec!["reader".to_owned(), "writer".to_owned()], 0)] {
        let mut mocks = PortMocks::new();
        expect_found(&mut mocks, target.clone());
        let target_id = target.id;
        let live = vec![session_of(&target)];
        let mut order = mockall::Sequence::new();
        mocks.users.expect_set_roles().times(1).in_sequence(&mut order).returning(|_, _, _| Ok(()));
        // Every session, not a mark by the second of issue: a token issued in the very second
        // of the removal must not keep the role.
        mocks
            .sessions
            .expect_revoke_all_for_user()
            .withf(move |id, reason, _| *id == target_id && *reason == RevocationReason::RoleRemoved)
            .times(revokes)
            .in_sequence(&mut order)
            .returning(move |_, _, _| Ok(live.clone()));
        mocks.revocations.expect_revoke_session().times(revokes).returning(|_, _| Ok(()));
        mocks.expect_audit(AuditEventKind::UserUpdatedByAdmin, 1);

        let request = UpdateUserRequest { roles: Some(roles), disabled: None };
        mocks
            .into_service::<AdminService>()
            .admin_update_user(&admin(), target.id, request, &request_context())
            .await
            .expect("updated");
    }
}

#[tokio::test]
async fn an_administrator_cannot_lock_themselves_out() {
    let me = admin();
    let my_account = User { id: me.user_id, roles: vec![Role::parse(ADMIN_ROLE).unwrap()], ..verified_user() };
    let requests = [
        UpdateUserRequest { roles: None, disabled: Some(true) },
        UpdateUserRequest { roles: Some(vec!["reader".to_owned()]), disabled: None },
        // Granting oneself a role is refused too: a token that still claims `admin` after its
        // owner lost it must not be able to give it back.
        UpdateUserRequest { roles: Some(vec![ADMIN_ROLE.to_owned(), "writer".to_owned()]), disabled: None },
    ];
    for request in requests {
        let mut mocks = PortMocks::new();
        expect_found(&mut mocks, my_account.clone());
        mocks.users.expect_set_disabled().never();
        mocks.users.expect_set_roles().never();
        let error =
            mocks.into_service::<AdminService>().admin_update_user(&me, me.user_id, request, &request_context()).await;
        assert!(matches!(error, Err(AdminError::SelfLockout)), "{error:?}");
    }
    let error =
        PortMocks::new().into_service::<AdminService>().admin_delete_user(&me, me.user_id, &request_context()).await;
    assert!(matches!(error, Err(AdminError::SelfLockout)), "{error:?}");
}

#[tokio::test]
async fn an_invalid_role_name_is_a_validation_error() {
    let service = PortMocks::new().into_service::<AdminService>();
    let request = UpdateUserRequest { roles: Some(vec!["Admin".to_owned()]), disabled: None };
    let error = service.admin_update_user(&admin(), verified_user().id, request, &request_context()).await;
    assert!(matches!(&error, Err(AdminError::Validation(errors)) if errors[0].field == "roles"), "{error:?}");
}

#[tokio::test]
async fn revoking_a_users_sessions_marks_each_and_is_audited() {
    let mut mocks = PortMocks::new();
    let target = verified_user();
    let target_id = target.id;
    expect_found(&mut mocks, target.clone());
    let live = vec![session_of(&target)];
    mocks.sessions.expect_revoke_all_for_user().times(1).returning(move |_, _, _| Ok(live.clone()));
    mocks.revocations.expect_revoke_session().times(1).returning(|_, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(move |event| event.kind == AuditEventKind::SessionRevoked && event.user_id == Some(target_id))
        .times(1)
        .returning(|_| Ok(()));

    let ended = mocks
        .into_service::<AdminService>()
        .admin_revoke_sessions(&admin(), target_id, &request_context())
        .await
        .expect("ok");

    assert_eq!(ended, 1);
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let mut mocks = PortMocks::new();
    mocks.users.expect_find_by_id().returning(|_| Ok(None));
    mocks.sessions.expect_revoke_all_for_user().never();
    let service = mocks.into_service::<AdminService>();
    let nobody = UserId::from_uuid(Uuid::from_u128(0xDEAD));

    assert!(matches!(service.admin_get_user(&admin(), nobody).await, Err(AdminError::NotFound)));
    assert!(matches!(
        service.admin_revoke_sessions(&admin(), nobody, &request_context()).await,
        Err(AdminError::NotFound)
    ));
    assert!(matches!(service.admin_delete_user(&admin(), nobody, &request_context()).await, Err(AdminError::NotFound)));
}

#[tokio::test]
async fn the_audit_log_is_read_a_page_at_a_time() {
    let mut mocks = PortMocks::new();
    let user_id = verified_user().id;
    mocks
        .audit
        .expect_query()
        .withf(move |query| {
            *query
                == AuditQuery {
                    user_id: Some(user_id),
                    event: Some("login_failed".to_owned()),
                    since: Some(NOW),
                    after: Some(7),
                    limit: 2,
                }
        })
        .times(1)
        .returning(|_| {
            let record = |seq| AuditRecord {
                seq,
                id: Uuid::from_u128(seq as u128),
                user_id: None,
                session_id: None,
                event: "login_failed".to_owned(),
                ip: None,
                user_agent: None,
                detail: serde_json::json!({}),
                created_at: NOW,
            };
            Ok(vec![record(8), record(9)])
        });
    let filter = AuditFilter {
        user_id: Some(user_id),
        event: Some("login_failed".to_owned()),
        since: Some(NOW),
        after: Some(7),
        limit: Some(1),
    };

    let page = mocks.into_service::<AdminService>().admin_audit_events(&admin(), filter).await.expect("read");

    assert_eq!(page.events.iter().map(|event| event.seq).collect::<Vec<_>>(), [8]);
    assert_eq!(page.next_after, Some(8));
}
