//! Test data shared by the contracts: instants as the stores keep them, unique values, and users.
//!
//! Every value that a store indexes (emails, token hashes, key ids, rate-limit keys) is unique per
//! call, so the contracts hold even on a backend whose tests share one database.

use auth_domain::ports::UserRepository;
use auth_domain::user::{DisplayName, Role, User};
use auth_domain::{Email, PasswordHash, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// The current instant, truncated to the microsecond: the finest precision SQLite and PostgreSQL
/// keep, so that what a test stores compares equal to what it reads back.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).expect("a truncated nanosecond is in range")
}

/// A text unique to this call, starting with `prefix`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// A token hash no other call returns.
pub fn random_token_hash() -> TokenHash {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(bytes)
}

pub fn role(name: &str) -> Role {
    Role::parse(name).expect("the test's role names are valid")
}

pub fn display_name(name: &str) -> DisplayName {
    DisplayName::parse(name).expect("the test's display names are valid")
}

/// A user not yet stored, with a unique email, created a day ago, and with every field set to
/// something other than its default, so that a store dropping a field is caught.
pub fn a_user() -> User {
    let created_at = now() - time::Duration::days(1);
    User {
        id: UserId::from_uuid(Uuid::new_v4()),
        email: Email::parse(&format!("{}@example.com", unique("ada"))).expect("the test's emails are valid"),
        email_verified: false,
        display_name: Some(display_name("Ada Lovelace")),
        roles: vec![role("user")],
        mfa_enabled: true,
        disabled: false,
        password_hash: PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${}", unique("hash"))),
        created_at,
        updated_at: created_at,
    }
}

/// A stored user, for the ports whose records belong to one.
pub async fn an_existing_user(users: &dyn UserRepository) -> User {
    let user = a_user();
    users.insert(&user).await.expect("a new user with a unique email is stored");
    user
}

/// How often a concurrency contract runs its race. One race may come out right by luck; measured
/// on SQLite, a check-then-write store loses one of these within about ten rounds.
pub const RACE_ROUNDS: usize = 50;
