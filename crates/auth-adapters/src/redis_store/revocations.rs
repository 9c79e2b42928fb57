//! [`RedisRevocationStore`]: the revocation cache on Redis, in one hash, so that it can tell when
//! it lost its marks.
//!
//! Every mark lives in one hash (`{prefix}revoked`: session id → the Unix second until which it
//! is remembered) beside the field `complete`, which a restore from the database sets. Redis loses
//! a key whole: a restart without persistence, an eviction under `maxmemory` (whatever the policy)
//! or a flush takes the marks and the `complete` field together, and the next check answers
//! [`RevocationCheck::Incomplete`] instead of believing a revoked token. Expired marks are removed
//! by [`RevocationStore::forget_expired`], which the server calls once a minute.

use std::sync::LazyLock;

use async_trait::async_trait;
use auth_domain::ports::{RevocationCheck, RevocationStore};
use auth_domain::{InfrastructureError, SessionId};
use redis::Script;
use time::OffsetDateTime;

use super::RedisStore;

/// Marks per restore command: a few kilobytes of arguments each.
const RESTORE_CHUNK: usize = 500;

/// Revoked sessions on Redis, in one hash with its completeness flag.
#[derive(Debug, Clone)]
pub struct RedisRevocationStore {
    store: RedisStore,
}

impl RedisRevocationStore {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    /// The one key of the cache.
    pub fn key(&self) -> String {
        format!("{}revoked", self.store.prefix())
    }
}

/// `until` as a whole Unix second, rounded up, so that a mark never lapses before it.
fn until_second(until: OffsetDateTime) -> i64 {
    let second = until.unix_timestamp();
    if until.nanosecond() > 0 { second.saturating_add(1) } else { second }
}

/// Sets the mark `ARGV[1]` to the second `ARGV[2]` unless a later one is there.
static REVOKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
",
    )
});

/// 1 when session `ARGV[1]` is marked past second `ARGV[2]`, else 0 when the hash is complete,
/// else -1. One round trip.
static CHECK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local values = redis.call('HMGET', KEYS[1], 'complete', ARGV[1])
if values[2] and tonumber(values[2]) > tonumber(ARGV[2]) then
  return 1
end
if not values[1] then
  return -1
end
return 0
",
    )
});

/// One chunk of a restore: `ARGV[1]` is the restore's token (the field `restoring` holds it, so
/// that a hash lost in the middle of a restore is not called complete with only the later part of
/// the record in it), `ARGV[2]` is `first`, `last` or
/// `middle`, then session/second pairs. The first chunk claims the restore with its token; the
/// last sets `complete` only if the token is still there (nothing was lost in between), and
/// answers 0 otherwise.
static RESTORE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[2] == 'first' or ARGV[2] == 'only' then
  redis.call('HSET', KEYS[1], 'restoring', ARGV[1])
elseif redis.call('HGET', KEYS[1], 'restoring') ~= ARGV[1] then
  return 0
end
for i = 3, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if (not current) or tonumber(current) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[2] == 'last' or ARGV[2] == 'only' then
  redis.call('HSET', KEYS[1], 'complete', '1')
  redis.call('HDEL', KEYS[1], 'restoring')
end
return 1
",
    )
});

/// Removes the marks whose second is at or before `ARGV[1]`.
static FORGET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local all = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #all, 2 do
  local field = all[i]
  if field ~= 'complete' and field ~= 'restoring' and tonumber(all[i + 1]) <= tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], field)
    removed = removed + 1
  end
end
return removed
",
    )
});

#[async_trait]
impl RevocationStore for RedisRevocationStore {
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError> {
        // Past `until` every token of the session has expired already: nothing is left to refuse.
        if until <= OffsetDateTime::now_utc() {
            return Ok(());
        }
        let key = self.key();
        let (session, second) = (session_id.to_string(), until_second(until));
        let _: i64 = self
            .store
            .run("revoke session", |mut connection| async move {
                REVOKE_SCRIPT.key(key).arg(session).arg(second).invoke_async(&mut connection).await
            })
            .await?;
        Ok(())
    }

    async fn check_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<RevocationCheck, InfrastructureError> {
        let key = self.key();
        let (session, second) = (session_id.to_string(), now.unix_timestamp());
        let found: i64 = self
            .store
            .run("check session", |mut connection| async move {
                CHECK_SCRIPT.key(key).arg(session).arg(second).invoke_async(&mut connection).await
            })
            .await?;
        match found {
            1 => Ok(RevocationCheck::Revoked),
            0 => Ok(RevocationCheck::Live),
            -1 => Ok(RevocationCheck::Incomplete),
            other => Err(self.store.unexpected_reply("check session", format!("{other}"))),
        }
    }

    async fn restore(&self, revoked: &[(SessionId, OffsetDateTime)]) -> Result<(), InfrastructureError> {
        let token = uuid::Uuid::new_v4().to_string();
        let chunks: Vec<&[(SessionId, OffsetDateTime)]> =
            if revoked.is_empty() { vec![&[]] } else { revoked.chunks(RESTORE_CHUNK).collect() };
        let count = chunks.len();
        for (index, chunk) in chunks.into_iter().enumerate() {
            let part = match (index == 0, index + 1 == count) {
                (true, true) => "only",
                (true, false) => "first",
                (false, true) => "last",
                (false, false) => "middle",
            };
            let mut arguments = vec![token.clone(), part.to_owned()];
            for (session_id, until) in chunk {
                arguments.push(session_id.to_string());
                arguments.push(until_second(*until).to_string());
            }
            let key = self.key();
            let applied: i64 = self
                .store
                .run("restore revocations", |mut connection| async move {
                    RESTORE_SCRIPT.key(key).arg(arguments).invoke_async(&mut connection).await
                })
                .await?;
            if applied != 1 {
                return Err(InfrastructureError::unavailable(
                    "the revocation cache was lost in the middle of its restore; it stays incomplete",
                ));
            }
        }
        Ok(())
    }

    async fn forget_expired(&self, now: OffsetDateTime) -> Result<(), InfrastructureError> {
        let key = self.key();
        let second = now.unix_timestamp();
        let _removed: i64 = self
            .store
            .run("forget expired revocations", |mut connection| async move {
                FORGET_SCRIPT.key(key).arg(second).invoke_async(&mut connection).await
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_rounded_up_to_the_next_second() {
        let whole = OffsetDateTime::from_unix_timestamp(100).expect("an instant");
        assert_eq!(until_second(whole), 100);
        assert_eq!(until_second(whole + time::Duration::milliseconds(1)), 101);
    }
}
