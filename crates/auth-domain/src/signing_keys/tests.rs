use std::sync::{Arc, Mutex};
use std::time::Duration;

use mockall::predicate::eq;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::ports::{MockAuditLog, MockClock, MockSigningKeyGenerator, MockSigningKeyStore};

const NOW: OffsetDateTime = datetime!(2030-06-01 12:00:00 UTC);
const LIFETIME: Duration = Duration::from_secs(15 * 60 + 30);
const LEAD: Duration = Duration::from_secs(120);

fn key(kid: &str, activates_at: OffsetDateTime) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: vec![1; 32],
        encrypted_private_key: vec![2; 64],
        created_at: activates_at - LEAD,
        activates_at,
        retired_at: None,
    }
}

fn minutes(count: i64) -> time::Duration {
    time::Duration::minutes(count)
}

fn statuses_at(keys: &[StoredSigningKey], now: OffsetDateTime) -> Vec<(String, KeyStatus)> {
    key_statuses(keys, now, LIFETIME).into_iter().map(|(key, status)| (key.kid, status)).collect()
}

#[test]
fn the_newest_active_key_is_current_and_a_later_one_pending() {
    let keys = [key("next", NOW + minutes(2)), key("old", NOW - minutes(60))];
    assert_eq!(
        statuses_at(&keys, NOW),
        [("old".to_owned(), KeyStatus::Current), ("next".to_owned(), KeyStatus::Pending)]
    );
}

#[test]
fn a_superseded_key_verifies_for_one_token_lifetime_after_its_successor_activates() {
    let keys = [key("old", NOW - minutes(60)), key("new", NOW - minutes(5))];
    let verifies_until = NOW - minutes(5) + LIFETIME;
    assert_eq!(
        statuses_at(&keys, NOW),
        [("old".to_owned(), KeyStatus::Previous { verifies_until }), ("new".to_owned(), KeyStatus::Current)]
    );
    assert_eq!(statuses_at(&keys, verifies_until)[0], ("old".to_owned(), KeyStatus::Expired));
}

#[test]
fn a_retired_key_is_skipped_when_deciding_which_key_signs() {
    let mut newest = key("newest", NOW - minutes(1));
    newest.retired_at = Some(NOW - minutes(1));
    let keys = [key("old", NOW - minutes(60)), newest];
    assert_eq!(
        statuses_at(&keys, NOW),
        [("old".to_owned(), KeyStatus::Current), ("newest".to_owned(), KeyStatus::Retired)]
    );
}

#[test]
fn only_pending_current_and_previous_keys_are_published() {
    assert!(KeyStatus::Pending.is_published());
    assert!(KeyStatus::Current.is_published());
    assert!(KeyStatus::Previous { verifies_until: NOW }.is_published());
    assert!(!KeyStatus::Expired.is_published());
    assert!(!KeyStatus::Retired.is_published());
}

struct Mocks {
    store: MockSigningKeyStore,
    generator: MockSigningKeyGenerator,
    audit: MockAuditLog,
    rotation_period: Option<Duration>,
}

impl Mocks {
    fn new() -> Self {
        Self {
            store: MockSigningKeyStore::new(),
            generator: MockSigningKeyGenerator::new(),
            audit: MockAuditLog::new(),
            rotation_period: None,
        }
    }

    fn generating(mut self, kid: &'static str) -> Self {
        self.generator
            .expect_generate()
            .times(1)
            .returning(move |created_at, activates_at| Ok(StoredSigningKey { created_at, ..key(kid, activates_at) }));
        self
    }

    fn recording_audit(mut self) -> (Self, Arc<Mutex<Vec<NewAuditEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        self.audit.expect_append().returning(move |event| {
            sink.lock().expect("not poisoned").push(event);
            Ok(())
        });
        (self, events)
    }

    fn into_service(self) -> SigningKeyService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        SigningKeyService::new(
            SigningKeyPorts {
                store: Arc::new(self.store),
                generator: Arc::new(self.generator),
                audit: Arc::new(self.audit),
                clock: Arc::new(clock),
            },
            KeyPolicy { publish_lead: LEAD, token_lifetime: LIFETIME, rotation_period: self.rotation_period },
        )
    }
}

#[tokio::test]
async fn the_first_key_is_made_when_the_store_has_none() {
    let (mut mocks, events) = Mocks::new().generating("first").recording_audit();
    let mut listed = 0;
    mocks.store.expect_list_active().times(2).returning(move || {
        listed += 1;
        Ok(if listed == 1 { Vec::new() } else { vec![key("first", NOW)] })
    });
    mocks
        .store
        .expect_insert_unless_newer()
        .withf(|key, since| key.kid == "first" && key.activates_at == NOW && since.is_none())
        .times(1)
        .returning(|_, _| Ok(true));
    let keys = mocks.into_service().keys_to_load().await.expect("keys");
    assert_eq!(keys.iter().map(|key| key.kid.as_str()).collect::<Vec<_>>(), ["first"]);
    let events = events.lock().expect("not poisoned");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, AuditEventKind::SigningKeyRotated);
}

#[tokio::test]
async fn loading_leaves_out_and_retires_keys_whose_tokens_have_all_expired() {
    let mut mocks = Mocks::new();
    let keys = vec![key("ancient", NOW - minutes(600)), key("old", NOW - minutes(60)), key("new", NOW - minutes(5))];
    mocks.store.expect_list_active().times(1).return_once(move || Ok(keys));
    mocks.store.expect_retire().with(eq("ancient"), eq(NOW)).times(1).returning(|_, _| Ok(true));
    let loaded = mocks.into_service().keys_to_load().await.expect("keys");
    assert_eq!(loaded.iter().map(|key| key.kid.as_str()).collect::<Vec<_>>(), ["old", "new"]);
}

#[tokio::test]
async fn a_rotation_publishes_the_next_key_ahead_of_its_activation() {
    let (mut mocks, events) = Mocks::new().generating("next").recording_audit();
    mocks.store.expect_list_active().returning(|| Ok(vec![key("current", NOW - minutes(60))]));
    mocks.store.expect_insert().withf(|key| key.kid == "next" && key.activates_at == NOW + LEAD).returning(|_| Ok(()));
    let view = mocks.into_service().rotate(None).await.expect("rotated");
    assert_eq!((view.kid.as_str(), view.status, view.activates_at), ("next", KeyStatus::Pending, NOW + LEAD));
    let events = events.lock().expect("not poisoned");
    assert_eq!(events[0].kind, AuditEventKind::SigningKeyRotated);
    assert_eq!(events[0].detail["kid"], "next");
}

#[tokio::test]
async fn an_immediate_rotation_signs_at_once() {
    let (mut mocks, _events) = Mocks::new().generating("now").recording_audit();
    mocks.store.expect_list_active().returning(|| Ok(vec![key("current", NOW - minutes(60))]));
    mocks.store.expect_insert().withf(|key| key.activates_at == NOW).returning(|_| Ok(()));
    let view = mocks.into_service().rotate(Some(Duration::ZERO)).await.expect("rotated");
    assert_eq!(view.activates_at, NOW);
}

#[tokio::test]
async fn a_rotation_on_an_empty_store_signs_at_once() {
    let (mut mocks, _events) = Mocks::new().generating("first").recording_audit();
    mocks.store.expect_list_active().returning(|| Ok(Vec::new()));
    mocks.store.expect_insert().withf(|key| key.activates_at == NOW).returning(|_| Ok(()));
    let view = mocks.into_service().rotate(None).await.expect("rotated");
    assert_eq!(view.activates_at, NOW);
}

#[tokio::test]
async fn automatic_rotation_waits_for_the_period_then_makes_one_key() {
    let period = Duration::from_secs(30 * 24 * 3600);
    let mut fresh = Mocks::new();
    fresh.rotation_period = Some(period);
    let recent = StoredSigningKey { created_at: NOW - minutes(60), ..key("recent", NOW - minutes(58)) };
    fresh.store.expect_list_active().return_once(move || Ok(vec![recent]));
    assert!(fresh.into_service().rotate_if_due().await.expect("checked").is_none());

    let (mut due, events) = Mocks::new().generating("scheduled").recording_audit();
    due.rotation_period = Some(period);
    let old = StoredSigningKey { created_at: NOW - period - minutes(1), ..key("old", NOW - period) };
    due.store.expect_list_active().return_once(move || Ok(vec![old]));
    due.store
        .expect_insert_unless_newer()
        .withf(move |key, since| key.activates_at == NOW + LEAD && *since == Some(NOW - period))
        .times(1)
        .returning(|_, _| Ok(true));
    let view = due.into_service().rotate_if_due().await.expect("rotated").expect("a key");
    assert_eq!(view.kid, "scheduled");
    assert_eq!(events.lock().expect("not poisoned")[0].detail["reason"], "schedule");
}

#[tokio::test]
async fn automatic_rotation_makes_nothing_when_another_replica_won() {
    let period = Duration::from_secs(3600);
    let mut mocks = Mocks::new().generating("late");
    mocks.rotation_period = Some(period);
    let old = StoredSigningKey { created_at: NOW - minutes(61), ..key("old", NOW - minutes(59)) };
    mocks.store.expect_list_active().return_once(move || Ok(vec![old]));
    mocks.store.expect_insert_unless_newer().returning(|_, _| Ok(false));
    mocks.audit.expect_append().never();
    assert!(mocks.into_service().rotate_if_due().await.expect("checked").is_none());
}

#[tokio::test]
async fn without_a_period_nothing_rotates_on_its_own() {
    let mut mocks = Mocks::new();
    mocks.store.expect_list_active().never();
    assert!(mocks.into_service().rotate_if_due().await.expect("checked").is_none());
}

#[tokio::test]
async fn the_current_key_cannot_be_retired() {
    let mut mocks = Mocks::new();
    mocks.store.expect_list_active().return_once(|| Ok(vec![key("current", NOW - minutes(5))]));
    mocks.store.expect_retire().never();
    let error = mocks.into_service().retire("current").await.expect_err("refused");
    assert!(matches!(error, RetireKeyError::CurrentKey(kid) if kid == "current"));
}

#[tokio::test]
async fn an_unknown_key_cannot_be_retired() {
    let mut mocks = Mocks::new();
    mocks.store.expect_list_active().return_once(|| Ok(vec![key("current", NOW - minutes(5))]));
    let error = mocks.into_service().retire("nope").await.expect_err("refused");
    assert!(matches!(error, RetireKeyError::UnknownKey(kid) if kid == "nope"));
}

#[tokio::test]
async fn a_previous_key_is_retired_at_once_and_audited() {
    let (mut mocks, events) = Mocks::new().recording_audit();
    mocks
        .store
        .expect_list_active()
        .return_once(|| Ok(vec![key("previous", NOW - minutes(60)), key("current", NOW - minutes(5))]));
    mocks.store.expect_retire().with(eq("previous"), eq(NOW)).times(1).returning(|_, _| Ok(true));
    mocks.into_service().retire("previous").await.expect("retired");
    let events = events.lock().expect("not poisoned");
    assert_eq!(events[0].kind, AuditEventKind::SigningKeyRetired);
    assert_eq!(events[0].detail["was"], "previous");
}

#[tokio::test]
async fn a_key_retired_meanwhile_by_someone_else_is_reported_unknown() {
    let mut mocks = Mocks::new();
    mocks.store.expect_list_active().return_once(|| Ok(vec![key("previous", NOW - minutes(60)), key("current", NOW)]));
    mocks.store.expect_retire().returning(|_, _| Ok(false));
    let error = mocks.into_service().retire("previous").await.expect_err("refused");
    assert!(matches!(error, RetireKeyError::UnknownKey(_)));
}
