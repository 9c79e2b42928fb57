//! Builders for the use-case tests: mocks of every port, a fixed clock, sample users.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::{
    AccountService, AdminService, AuthPolicy, AuthPorts, Authenticator, ClientService, LoginService, MfaService,
    PasswordService, Principal, RegistrationService, RequestContext, RevocationService, SessionService,
};
use crate::audit::AuditEventKind;
use crate::email::Email;
use crate::ids::{MailJobId, SessionId, UserId};
use crate::mail::{Mail, QueuedMail};
use crate::password::PasswordHash;
use crate::ports::{
    MockAccessTokenCodec, MockAuditLog, MockBackgroundTasks, MockBreachedPasswords, MockClock, MockIdGenerator,
    MockMailQueue, MockOneTimeTokenRepository, MockPasswordHasher, MockRandomSource, MockRateLimiter,
    MockRevocationStore, MockSecondFactorRepository, MockSessionRepository, MockUserRepository, NoBreachedPasswords,
};
use crate::rate_limit::{RateDecision, RateLimit, RateLimitExceeded};
use crate::session::Session;
use crate::tokens::{AccessClaims, AccessToken, RefreshSecret, TOKEN_BYTES};
use crate::user::{DisplayName, Role, User};

/// The instant every test runs at, unless it replaces the clock.
pub(super) const NOW: OffsetDateTime = datetime!(2030-06-01 12:00:00 UTC);
/// What the random source always answers, so that the tokens a use case makes can be predicted.
pub(super) const RANDOM_BYTES: [u8; TOKEN_BYTES] = [7; TOKEN_BYTES];
pub(super) const ISSUER: &str = "https://auth.example.test";
/// A password the default policy accepts.
pub(super) const STRONG_PASSWORD: &str = "violet-otter-sings-at-dawn";
/// The client IP of [`request_context`].
pub(super) const CLIENT_IP: &str = "203.0.113.7";
/// The user agent of [`request_context`].
pub(super) const CLIENT_USER_AGENT: &str = "unit-test/1.0";
/// What the codec mock answers when asked to sign.
pub(super) const SIGNED_ACCESS_TOKEN: &str = "header.claims.signature";

/// One mock per port of [`AuthPorts`]. Tests add the calls they expect; any other call panics.
pub(super) struct PortMocks {
    pub(super) users: MockUserRepository,
    pub(super) sessions: MockSessionRepository,
    pub(super) one_time_tokens: MockOneTimeTokenRepository,
    pub(super) audit: MockAuditLog,
    pub(super) revocations: MockRevocationStore,
    pub(super) rate_limiter: MockRateLimiter,
    pub(super) mail_queue: MockMailQueue,
    pub(super) second_factors: MockSecondFactorRepository,
    pub(super) hasher: MockPasswordHasher,
    /// `None`: no breached-password list, as when none is configured.
    pub(super) breached_passwords: Option<MockBreachedPasswords>,
    pub(super) tokens: MockAccessTokenCodec,
    pub(super) clock: MockClock,
    pub(super) ids: MockIdGenerator,
    pub(super) random: MockRandomSource,
    /// Expects no handed-off work unless a test says otherwise.
    pub(super) tasks: MockBackgroundTasks,
}

impl PortMocks {
    /// Mocks that expect no call, except to the clock (always [`NOW`]), the id generator (the
    /// sequence of [`generated_id`]) and the random source (always [`RANDOM_BYTES`]).
    pub(super) fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        let mut ids = MockIdGenerator::new();
        let next = AtomicU64::new(0);
        ids.expect_new_id().returning(move || generated_id(next.fetch_add(1, Ordering::Relaxed)));
        let mut random = MockRandomSource::new();
        random.expect_token_bytes().return_const(RANDOM_BYTES);
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            one_time_tokens: MockOneTimeTokenRepository::new(),
            audit: MockAuditLog::new(),
            revocations: MockRevocationStore::new(),
            rate_limiter: MockRateLimiter::new(),
            mail_queue: MockMailQueue::new(),
            second_factors: MockSecondFactorRepository::new(),
            hasher: MockPasswordHasher::new(),
            breached_passwords: None,
            tokens: MockAccessTokenCodec::new(),
            clock,
            ids,
            random,
            tasks: MockBackgroundTasks::new(),
        }
    }

    /// Lets every rate-limited event through, for tests about something else. Mockall uses the
    /// first matching expectation, so a test that checks one limit must not call this.
    pub(super) fn allow_every_rate_limit(&mut self) {
        self.rate_limiter.expect_hit().returning(|_, limit| Ok(allowed(limit)));
        self.rate_limiter.expect_peek().returning(|_, limit| Ok(allowed(limit)));
        self.rate_limiter.expect_reset().returning(|_| Ok(()));
        self.rate_limiter.expect_blocked_for().returning(|_| Ok(None));
        self.rate_limiter.expect_block().returning(|_, _| Ok(()));
        self.rate_limiter.expect_claim_block().returning(|_, _| Ok(None));
        self.rate_limiter.expect_undo().returning(|_, _| Ok(()));
    }

    /// Expects exactly `times` audit events of `kind`; an event of a kind no test expects panics.
    pub(super) fn expect_audit(&mut self, kind: AuditEventKind, times: usize) {
        self.audit.expect_append().withf(move |event| event.kind == kind).times(times).returning(|_| Ok(()));
    }

    /// Lets the codec sign any claims as [`SIGNED_ACCESS_TOKEN`].
    pub(super) fn accept_signing(&mut self) {
        self.tokens.expect_sign().returning(|_| Ok(AccessToken::new(SIGNED_ACCESS_TOKEN.to_owned())));
    }

    /// Expects no mail to be queued, neither on its own nor with a replaced one-time token. Mails
    /// queued with other changes show in the arguments of those calls, which tests check there.
    pub(super) fn expect_no_mail_queued(&mut self) {
        self.mail_queue.expect_enqueue().never();
        self.one_time_tokens.expect_replace().never();
    }

    /// Expects the login of `user` to look up their live sessions, once, at [`NOW`], and finds
    /// `live`; a login that opens a session compares them with its device before queueing the
    /// "new sign-in" notice.
    pub(super) fn expect_live_sessions(&mut self, user: &User, live: Vec<Session>) {
        let user_id = user.id;
        self.sessions
            .expect_list_active_for_user()
            .withf(move |id, now| *id == user_id && *now == NOW)
            .times(1)
            .returning(move |_, _| Ok(live.clone()));
    }

    /// The area's service over these mocks, with the default policy. Each area takes only the
    /// ports it uses; the others are dropped unused.
    pub(super) fn into_service<S: Area>(self) -> S {
        self.into_service_with_policy(|_| {})
    }

    /// The area's service over these mocks, with the default policy as changed by `adjust`.
    pub(super) fn into_service_with_policy<S: Area>(self, adjust: impl FnOnce(&mut AuthPolicy)) -> S {
        let ports = AuthPorts {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            one_time_tokens: Arc::new(self.one_time_tokens),
            audit: Arc::new(self.audit),
            revocations: Arc::new(self.revocations),
            rate_limiter: Arc::new(self.rate_limiter),
            mail_queue: Arc::new(self.mail_queue),
            second_factors: Arc::new(self.second_factors),
            hasher: Arc::new(self.hasher),
            breached_passwords: match self.breached_passwords {
                Some(mock) => Arc::new(mock),
                None => Arc::new(NoBreachedPasswords),
            },
            tokens: Arc::new(self.tokens),
            clock: Arc::new(self.clock),
            ids: Arc::new(self.ids),
            random: Arc::new(self.random),
            tasks: Arc::new(self.tasks),
        };
        let mut policy = AuthPolicy::with_defaults(ISSUER, refresh_secret());
        adjust(&mut policy);
        S::build(&ports, &Arc::new(policy))
    }
}

/// A service the tests build from [`PortMocks`].
pub(super) trait Area {
    fn build(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self;
}

macro_rules! areas {
    ($($area:ty),+) => {$(
        impl Area for $area {
            fn build(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
                <$area>::new(ports, policy)
            }
        }
    )+};
}

areas!(
    AccountService,
    AdminService,
    Authenticator,
    ClientService,
    LoginService,
    MfaService,
    PasswordService,
    RegistrationService,
    RevocationService,
    SessionService
);

/// A value a mock was called with, kept for the test to assert on after the call: a mismatch
/// then shows both values, where a failed `withf` only says that no expectation matched.
#[derive(Debug)]
pub(super) struct Captured<T>(Arc<Mutex<Option<T>>>);

impl<T> Clone for Captured<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> Captured<T> {
    pub(super) fn new() -> Self {
        Self(Arc::new(Mutex::new(None)))
    }

    /// Keeps `value`, replacing any kept before.
    pub(super) fn keep(&self, value: T) {
        *self.0.lock().expect("no test thread panicked") = Some(value);
    }

    /// The value kept last; panics when the mock was never called.
    pub(super) fn value(&self) -> T {
        self.0.lock().expect("no test thread panicked").clone().expect("the mock was called")
    }
}

/// The `n`th identifier (from 0) the id generator of [`PortMocks::new`] hands out.
pub(super) fn generated_id(n: u64) -> Uuid {
    Uuid::from_u128(0x1000 + u128::from(n))
}

/// `mail` as a use case queues it when it is the `n`th call (from 0) to the id generator.
pub(super) fn queued_mail(n: u64, mail: Mail) -> QueuedMail {
    QueuedMail { id: MailJobId::from_uuid(generated_id(n)), mail, queued_at: NOW }
}

/// The server secret of the policy the service is built with.
pub(super) fn refresh_secret() -> RefreshSecret {
    RefreshSecret::new(b"refresh-secret-of-the-unit-tests".to_vec())
}

pub(super) fn allowed(limit: RateLimit) -> RateDecision {
    RateDecision { allowed: true, limit: limit.max, remaining: limit.max - 1, reset_after: limit.window }
}

/// A refusal; the use case must pass on its figures as [`refusal`].
pub(super) fn refused() -> RateDecision {
    RateDecision { allowed: false, limit: 10, remaining: 0, reset_after: Duration::from_secs(42) }
}

/// The error a use case must return for [`refused`].
pub(super) fn refusal() -> RateLimitExceeded {
    RateLimitExceeded { limit: 10, retry_after: Duration::from_secs(42) }
}

/// The caller's address and agent.
pub(super) fn request_context() -> RequestContext {
    RequestContext {
        ip: Some(CLIENT_IP.parse().expect("a sample address")),
        user_agent: Some(CLIENT_USER_AGENT.to_owned()),
    }
}

/// A verified, enabled account of `ada@example.com` with the role `reader`.
pub(super) fn verified_user() -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(0xA1)),
        email: Email::parse("ada@example.com").expect("the sample address is valid"),
        email_verified: true,
        display_name: Some(DisplayName::parse("Ada").expect("the sample name is valid")),
        roles: vec![Role::parse("reader").expect("the sample role is valid")],
        mfa_enabled: false,
        disabled: false,
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$stored"),
        credentials_version: 3,
        created_at: NOW - time::Duration::days(90),
        updated_at: NOW - time::Duration::days(90),
    }
}

/// A live session of `user`, opened yesterday and refreshed an hour ago, from the device of
/// [`request_context`].
pub(super) fn session_of(user: &User) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(0x5E)),
        user_id: user.id,
        created_at: NOW - time::Duration::days(1),
        last_used_at: NOW - time::Duration::hours(1),
        expires_at: NOW + time::Duration::days(29),
        idle_expires_at: NOW + time::Duration::days(6) + time::Duration::hours(23),
        revoked_at: None,
        ip: Some(CLIENT_IP.to_owned()),
        user_agent: Some(CLIENT_USER_AGENT.to_owned()),
        amr: vec!["pwd".to_owned()],
        credentials_version: 3,
    }
}

/// The caller of a request whose access token was issued in `session`.
pub(super) fn principal_in(session: &Session) -> Principal {
    let claims = AccessClaims {
        iss: ISSUER.to_owned(),
        sub: session.user_id,
        aud: "authd".to_owned(),
        exp: (NOW + time::Duration::minutes(15)).unix_timestamp(),
        iat: NOW.unix_timestamp(),
        nbf: NOW.unix_timestamp(),
        jti: "the-token-id".to_owned(),
        sid: session.id,
        roles: vec!["reader".to_owned()],
        amr: vec!["pwd".to_owned()],
        email_verified: true,
    };
    let roles = claims.roles.iter().map(|role| Role::parse(role).expect("a sample role")).collect();
    Principal { user_id: session.user_id, session_id: session.id, roles, claims }
}
