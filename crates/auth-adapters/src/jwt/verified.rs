//! A bounded cache of access tokens whose signature and claims were verified, keyed by the SHA-256
//! of the exact token text (bearer tokens themselves are not kept in memory) and kept no longer
//! than the token's expiry (plus the allowed skew), as Envoy's JWT filter does.
//!
//! Why it is safe: a token is a fixed string. Once its signature verified under a key, verifying
//! the same string under the same key can only succeed again, and its `nbf` and `iat` only become
//! *more* acceptable with time; its `exp` is checked again on every hit. The cache belongs to one
//! set of verifying keys: [`super::JwtCodec::install`] keeps it only while the keys are the same,
//! so a key taken out of the ring takes its tokens out too. Revocation is not the codec's concern:
//! `Authenticator::authenticate` asks the revocation store on every request, cached token or not.
//! Only tokens that verified enter it, so a client cannot fill it with garbage; it is bounded
//! anyway, so that a flood of freshly issued tokens costs at most its capacity in memory.

use std::collections::HashMap;
use std::sync::RwLock;

use auth_domain::AccessClaims;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token's text.
type TokenDigest = [u8; 32];

/// Tokens kept at most, in all: a few hundred bytes each (the digest and the claims).
pub const CAPACITY: usize = 16 * 1024;
const SHARDS: usize = 16;

#[derive(Debug)]
struct Entry {
    claims: AccessClaims,
    /// The last second (Unix time) at which the token is still accepted: `exp` plus the skew.
    usable_until: i64,
}

/// Verified tokens, in shards so that concurrent requests seldom wait for one another.
pub struct VerifiedTokens {
    shards: Vec<RwLock<HashMap<TokenDigest, Entry>>>,
    per_shard: usize,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl VerifiedTokens {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// The shard of a digest: its first byte, uniformly spread.
    fn shard(&self, digest: &TokenDigest) -> &RwLock<HashMap<TokenDigest, Entry>> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The claims of `token` if it was verified and is still usable at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let digest: TokenDigest = Sha256::digest(token.as_bytes()).into();
        let shard = self.shard(&digest).read().unwrap_or_else(std::sync::PoisonError::into_inner);
        shard.get(&digest).filter(|entry| now <= entry.usable_until).map(|entry| entry.claims.clone())
    }

    /// Remembers that `token` verified with these claims, until `usable_until` (Unix seconds).
    /// A full shard first forgets its expired tokens, then, if still full, an arbitrary one.
    pub fn insert(&self, token: &str, claims: AccessClaims, usable_until: i64, now: i64) {
        let digest: TokenDigest = Sha256::digest(token.as_bytes()).into();
        let mut shard = self.shard(&digest).write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, entry| entry.usable_until >= now);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(digest, Entry { claims, usable_until });
    }

    /// How many tokens are kept, expired ones included until they are swept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use auth_domain::{SessionId, UserId};

    use super::*;

    fn claims(jti: &str) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: UserId::from_uuid(uuid::Uuid::now_v7()),
            aud: "a".into(),
            exp: 1_000,
            iat: 0,
            nbf: 0,
            jti: jti.into(),
            sid: SessionId::from_uuid(uuid::Uuid::now_v7()),
            roles: vec![],
            amr: vec![],
            email_verified: true,
        }
    }

    #[test]
    fn a_kept_token_is_found_until_it_expires_and_not_after() {
        let cache = VerifiedTokens::default();
        cache.insert("header.payload.signature", claims("j"), 1_030, 0);
        assert_eq!(cache.get("header.payload.signature", 1_030).map(|claims| claims.jti), Some("j".to_owned()));
        assert_eq!(cache.get("header.payload.signature", 1_031), None);
    }

    #[test]
    fn only_the_exact_token_text_hits() {
        let cache = VerifiedTokens::default();
        cache.insert("header.payload.signature", claims("j"), 1_030, 0);
        assert_eq!(cache.get("header.payload.signaturf", 0), None);
        assert_eq!(cache.get("header.payload.signature ", 0), None);
        assert_eq!(cache.get("Header.payload.signature", 0), None);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = VerifiedTokens::with_capacity(64);
        for index in 0..1_000 {
            cache.insert(&format!("token-{index}"), claims("j"), 1_030, 0);
        }
        assert!(cache.len() <= 64, "{} tokens kept", cache.len());
        // The newest is always kept.
        assert!(cache.get("token-999", 0).is_some());
    }

    /// `count` distinct tokens that all fall in one shard.
    fn tokens_of_one_shard(count: usize) -> Vec<String> {
        let shard_of = |token: &str| usize::from(Sha256::digest(token.as_bytes())[0]) % SHARDS;
        let target = shard_of("token-0");
        (0..).map(|index| format!("token-{index}")).filter(|token| shard_of(token) == target).take(count).collect()
    }

    #[test]
    fn a_full_shard_forgets_expired_tokens_before_live_ones() {
        let cache = VerifiedTokens::with_capacity(4 * SHARDS);
        let tokens = tokens_of_one_shard(5);
        for token in &tokens[..3] {
            cache.insert(token, claims("live"), 1_030, 0);
        }
        cache.insert(&tokens[3], claims("expired"), 10, 0);
        cache.insert(&tokens[4], claims("newest"), 1_030, 100);
        for token in &tokens[..3] {
            assert!(cache.get(token, 100).is_some(), "{token} was evicted");
        }
        assert!(cache.get(&tokens[4], 100).is_some());
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn no_token_text_is_kept_or_printed() {
        let cache = VerifiedTokens::default();
        cache.insert("eyJhbGciOiJFZERTQSJ9.secret-payload.sig", claims("j"), 1_030, 0);
        let printed = format!("{cache:?}");
        assert!(!printed.contains("secret-payload"), "{printed}");
        assert!(printed.contains("len: 1"), "{printed}");
    }
}
