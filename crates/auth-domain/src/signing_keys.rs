//! The life of a signing key, and the use cases that move keys through it.
//!
//! A key is first *pending*: published in the JWKS but not signing, so that verifiers' caches hold
//! it before the first token it signs reaches them. It becomes *current* when it activates (the
//! newest active key signs). When a newer key activates it becomes *previous*: it signs nothing
//! more but keeps verifying, and stays published, until every token it signed has expired. Then it
//! is *expired* and is retired. An operator may also *retire* any key but the current one at once
//! (a leaked key): its tokens are refused from then on.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::audit::{AuditDetail, AuditEventKind, NewAuditEvent};
use crate::error::InfrastructureError;
use crate::ports::{AuditLog, Clock, SigningKeyGenerator, SigningKeyStore, StoredSigningKey};

/// Where a key stands at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, signs from its `activates_at`.
    Pending,
    /// Signs every new token.
    Current,
    /// Signs nothing more; verifies, and stays published, until `verifies_until`.
    Previous { verifies_until: OffsetDateTime },
    /// Every token it signed has expired: no longer published, retired at the next housekeeping.
    Expired,
    /// Taken out: verifies nothing.
    Retired,
}

impl KeyStatus {
    /// Whether the key belongs in the JWKS and may verify a token.
    pub fn is_published(self) -> bool {
        matches!(self, Self::Pending | Self::Current | Self::Previous { .. })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Current => "current",
            Self::Previous { .. } => "previous",
            Self::Expired => "expired",
            Self::Retired => "retired",
        }
    }
}

/// The status of each of `keys` at `now`, in their order of activation, for tokens that live at
/// most `token_lifetime` (the access-token TTL plus the clock skew verifiers tolerate).
pub fn key_statuses(
    keys: &[StoredSigningKey],
    now: OffsetDateTime,
    token_lifetime: Duration,
) -> Vec<(StoredSigningKey, KeyStatus)> {
    let mut keys = keys.to_vec();
    keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
    let is_retired = |key: &StoredSigningKey| key.retired_at.is_some_and(|retired_at| retired_at <= now);
    let live: Vec<&StoredSigningKey> = keys.iter().filter(|key| !is_retired(key)).collect();
    let current = live.iter().rposition(|key| key.activates_at <= now);
    let statuses: Vec<KeyStatus> = keys
        .iter()
        .map(|key| {
            if is_retired(key) {
                return KeyStatus::Retired;
            }
            let position = live.iter().position(|candidate| candidate.kid == key.kid);
            match (position, current) {
                (Some(position), Some(current)) if position == current => KeyStatus::Current,
                (Some(position), Some(current)) if position < current => {
                    // It stopped signing when the next key in line activated.
                    let superseded_at = live[position + 1].activates_at;
                    let verifies_until = superseded_at + token_lifetime;
                    if verifies_until <= now { KeyStatus::Expired } else { KeyStatus::Previous { verifies_until } }
                }
                _ => KeyStatus::Pending,
            }
        })
        .collect();
    keys.into_iter().zip(statuses).collect()
}

/// How keys are rotated.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// How long a new key is published before it signs: at least the time replicas take to reload
    /// their keys plus how long verifiers may cache the JWKS.
    pub publish_lead: Duration,
    /// The longest a token lives: the access-token TTL plus the clock skew verifiers tolerate.
    pub token_lifetime: Duration,
    /// Automatic rotation: a new key when the newest one is this old.
    pub rotation_period: Option<Duration>,
}

/// A key as `keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    pub created_at: OffsetDateTime,
    pub activates_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
    pub status: KeyStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RetireKeyError {
    #[error("no signing key that is not retired has the id {0}")]
    UnknownKey(String),
    #[error("{0} is the current signing key: rotate first (`keys rotate`), then retire it")]
    CurrentKey(String),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// The ports the key use cases need.
#[derive(Clone)]
pub struct SigningKeyPorts {
    pub store: Arc<dyn SigningKeyStore>,
    pub generator: Arc<dyn SigningKeyGenerator>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SigningKeyPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyPorts")
    }
}

/// The signing-key use cases: first key, rotation (by hand or on a schedule), retirement, and
/// the set of keys a process should load.
#[derive(Debug, Clone)]
pub struct SigningKeyService {
    ports: SigningKeyPorts,
    policy: KeyPolicy,
}

impl SigningKeyService {
    pub fn new(ports: SigningKeyPorts, policy: KeyPolicy) -> Self {
        Self { ports, policy }
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Every key, retired ones included, with its status now.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list(&self) -> Result<Vec<KeyView>, InfrastructureError> {
        let keys = self.ports.store.list_all().await?;
        Ok(key_statuses(&keys, self.ports.clock.now(), self.policy.token_lifetime)
            .into_iter()
            .map(|(key, status)| KeyView {
                kid: key.kid,
                algorithm: key.algorithm,
                created_at: key.created_at,
                activates_at: key.activates_at,
                retired_at: key.retired_at,
                status,
            })
            .collect())
    }

    /// The keys to load: every published one. Makes the first key when there is none, and
    /// retires the keys whose tokens have all expired, so that the store keeps few live keys.
    ///
    /// # Errors
    /// When the store or the generator fails.
    pub async fn keys_to_load(&self) -> Result<Vec<StoredSigningKey>, InfrastructureError> {
        let now = self.ports.clock.now();
        let mut keys = self.ports.store.list_active().await?;
        if keys.is_empty() {
            let first = self.ports.generator.generate(now, now).await?;
            let kid = first.kid.clone();
            if self.ports.store.insert_unless_newer(first, None).await? {
                self.audit_rotation(&kid, now, now, "first key").await?;
            }
            keys = self.ports.store.list_active().await?;
        }
        let mut published = Vec::with_capacity(keys.len());
        for (key, status) in key_statuses(&keys, now, self.policy.token_lifetime) {
            if status.is_published() {
                published.push(key);
            } else if status == KeyStatus::Expired {
                // Housekeeping only: whichever replica gets here first stamps it.
                self.ports.store.retire(&key.kid, now).await?;
            }
        }
        Ok(published)
    }

    /// Makes a new key that is published now and signs after `activate_after` (the policy's
    /// publish lead when `None`); the current key keeps signing until then and verifying after.
    ///
    /// # Errors
    /// When the store or the generator fails.
    pub async fn rotate(&self, activate_after: Option<Duration>) -> Result<KeyView, InfrastructureError> {
        let now = self.ports.clock.now();
        // With no key at all there is nothing to keep signing meanwhile.
        let nothing_signs = self.ports.store.list_active().await?.is_empty();
        let activate_after =
            if nothing_signs { Duration::ZERO } else { activate_after.unwrap_or(self.policy.publish_lead) };
        let activates_at = now + activate_after;
        let key = self.ports.generator.generate(now, activates_at).await?;
        let view = Self::pending_view(&key);
        self.ports.store.insert(key).await?;
        self.audit_rotation(&view.kid, activates_at, now, "operator").await?;
        Ok(view)
    }

    /// The automatic rotation: a new key when the newest one is older than the rotation period.
    /// Safe to call from every replica at once: the store inserts one key per period.
    ///
    /// # Errors
    /// When the store or the generator fails.
    pub async fn rotate_if_due(&self) -> Result<Option<KeyView>, InfrastructureError> {
        let Some(period) = self.policy.rotation_period else {
            return Ok(None);
        };
        let now = self.ports.clock.now();
        let due_before = now - period;
        let keys = self.ports.store.list_active().await?;
        if keys.iter().any(|key| key.created_at >= due_before) {
            return Ok(None);
        }
        let activates_at = now + self.policy.publish_lead;
        let key = self.ports.generator.generate(now, activates_at).await?;
        let view = Self::pending_view(&key);
        // A key created since `due_before` means that another replica rotated meanwhile.
        if !self.ports.store.insert_unless_newer(key, Some(due_before)).await? {
            return Ok(None);
        }
        self.audit_rotation(&view.kid, activates_at, now, "schedule").await?;
        Ok(Some(view))
    }

    /// Takes a key that is not current out at once: it leaves the JWKS and its tokens are
    /// refused as soon as each process reloads its keys.
    ///
    /// # Errors
    /// [`RetireKeyError::UnknownKey`] for an unknown or already retired key,
    /// [`RetireKeyError::CurrentKey`] for the key that signs now.
    pub async fn retire(&self, kid: &str) -> Result<(), RetireKeyError> {
        let now = self.ports.clock.now();
        let keys = self.ports.store.list_active().await?;
        let statuses = key_statuses(&keys, now, self.policy.token_lifetime);
        let (_, status) = statuses
            .iter()
            .find(|(key, _)| key.kid == kid)
            .ok_or_else(|| RetireKeyError::UnknownKey(kid.to_owned()))?;
        if *status == KeyStatus::Current {
            return Err(RetireKeyError::CurrentKey(kid.to_owned()));
        }
        if !self.ports.store.retire(kid, now).await? {
            return Err(RetireKeyError::UnknownKey(kid.to_owned()));
        }
        self.ports
            .audit
            .append(NewAuditEvent {
                kind: AuditEventKind::SigningKeyRetired,
                user_id: None,
                session_id: None,
                ip: None,
                user_agent: None,
                detail: AuditDetail::KeyRetired { kid: kid.to_owned(), was: status.as_str() }.to_json(),
                created_at: now,
            })
            .await?;
        Ok(())
    }

    fn pending_view(key: &StoredSigningKey) -> KeyView {
        KeyView {
            kid: key.kid.clone(),
            algorithm: key.algorithm.clone(),
            created_at: key.created_at,
            activates_at: key.activates_at,
            retired_at: None,
            status: KeyStatus::Pending,
        }
    }

    async fn audit_rotation(
        &self,
        kid: &str,
        activates_at: OffsetDateTime,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), InfrastructureError> {
        self.ports
            .audit
            .append(NewAuditEvent {
                kind: AuditEventKind::SigningKeyRotated,
                user_id: None,
                session_id: None,
                ip: None,
                user_agent: None,
                detail: AuditDetail::KeyRotated {
                    kid: kid.to_owned(),
                    activates_at: activates_at.unix_timestamp(),
                    reason: reason.to_owned(),
                }
                .to_json(),
                created_at: now,
            })
            .await
    }
}

#[cfg(test)]
mod tests;
