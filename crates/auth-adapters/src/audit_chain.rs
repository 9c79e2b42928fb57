//! The audit log's hash chain, the same for every backend, so that one verifier checks them all.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const INSTANT_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// What a row's hash covers, in the text forms every backend can reproduce from its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedFields<'a> {
    pub id: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub event: &'a str,
    /// The digest ([`personal_digest`]) of the client IP, not the IP: see [`chain_hash`].
    pub ip_digest: Option<&'a str>,
    /// The digest ([`personal_digest`]) of the user agent.
    pub user_agent_digest: Option<&'a str>,
    /// The detail as compact JSON with sorted keys (what `serde_json::Value` prints).
    pub detail: &'a str,
    /// UTC, microseconds: what both databases store exactly.
    pub created_at: OffsetDateTime,
}

/// Truncates an instant to the microsecond, the precision both databases keep.
pub fn to_microseconds(instant: OffsetDateTime) -> OffsetDateTime {
    let micros = instant.nanosecond() / 1_000 * 1_000;
    instant.replace_nanosecond(micros).expect("a truncated nanosecond is in range")
}

/// The hash of a row: its predecessor's hash and its content, with the personal fields (IP, user
/// agent) entering only through their own digests, so that erasing them later leaves the chain
/// verifiable and an erased field can be told from an altered one.
pub fn chain_hash(prev_hash: &str, fields: &ChainedFields<'_>) -> String {
    let created_at = to_microseconds(fields.created_at)
        .to_offset(time::UtcOffset::UTC)
        .format(INSTANT_FORMAT)
        .expect("every UTC instant formats");
    let content = serde_json::json!([
        fields.id,
        fields.user_id,
        fields.session_id,
        fields.event,
        fields.ip_digest,
        fields.user_agent_digest,
        fields.detail,
        created_at,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(content.to_string().as_bytes());
    hex(&hasher.finalize())
}

/// The digest of a personal field (IP, user agent) that the chain covers and that outlives the
/// field when it is erased: SHA-256, hex.
pub fn personal_digest(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// A stored row, as the verifier reads it back.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub seq: i64,
    pub id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub event: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `None` in rows written before the digests were stored; their fields cannot be erased.
    pub ip_digest: Option<String>,
    pub user_agent_digest: Option<String>,
    pub detail: String,
    pub created_at: OffsetDateTime,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit row {seq} was altered: its content no longer matches its hash")]
    Altered { seq: i64 },
    #[error("audit row {seq} was altered: its {field} no longer matches the digest stored beside it")]
    PersonalFieldAltered { seq: i64, field: &'static str },
    #[error("audit row {seq} does not follow the row before it: a row was removed or inserted before row {seq}")]
    Unlinked { seq: i64 },
}

/// What a successful verification found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Rows checked.
    pub rows: usize,
    /// Of those, rows whose IP or user agent was erased (a deleted account's), their digests intact.
    pub erased: usize,
}

/// The digest a row's hash covers for one personal field, or the break if the field and its
/// stored digest disagree. An erased field (`None` beside a digest) is not a break.
fn effective_digest(
    seq: i64,
    field: &'static str,
    value: Option<&str>,
    stored_digest: Option<&str>,
) -> Result<Option<String>, ChainBreak> {
    match (value, stored_digest) {
        (Some(value), Some(stored)) => {
            let digest = personal_digest(value);
            if digest == stored { Ok(Some(digest)) } else { Err(ChainBreak::PersonalFieldAltered { seq, field }) }
        }
        (Some(value), None) => Ok(Some(personal_digest(value))),
        (None, stored) => Ok(stored.map(str::to_owned)),
    }
}

/// Checks rows given in chain order.
///
/// # Errors
/// The first break: a row whose hash does not match its content, a personal field that does not
/// match its digest, or a row whose `prev_hash` is not its predecessor's hash. Removing the newest
/// rows leaves no trace in the chain itself.
pub fn verify(rows: impl IntoIterator<Item = StoredRow>) -> Result<ChainSummary, ChainBreak> {
    let mut previous = GENESIS_HASH.to_owned();
    let mut summary = ChainSummary::default();
    for row in rows {
        if row.prev_hash != previous {
            return Err(ChainBreak::Unlinked { seq: row.seq });
        }
        let ip_digest = effective_digest(row.seq, "ip", row.ip.as_deref(), row.ip_digest.as_deref())?;
        let user_agent_digest =
            effective_digest(row.seq, "user_agent", row.user_agent.as_deref(), row.user_agent_digest.as_deref())?;
        let fields = ChainedFields {
            id: &row.id,
            user_id: row.user_id.as_deref(),
            session_id: row.session_id.as_deref(),
            event: &row.event,
            ip_digest: ip_digest.as_deref(),
            user_agent_digest: user_agent_digest.as_deref(),
            detail: &row.detail,
            created_at: row.created_at,
        };
        if chain_hash(&row.prev_hash, &fields) != row.hash {
            return Err(ChainBreak::Altered { seq: row.seq });
        }
        let erased = (row.ip.is_none() && row.ip_digest.is_some())
            || (row.user_agent.is_none() && row.user_agent_digest.is_some());
        summary.erased += usize::from(erased);
        summary.rows += 1;
        previous = row.hash;
    }
    Ok(summary)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(ip_digest: Option<&str>) -> ChainedFields<'_> {
        ChainedFields {
            id: "01900000-0000-7000-8000-000000000001",
            user_id: Some("u"),
            session_id: None,
            event: "login_succeeded",
            ip_digest,
            user_agent_digest: None,
            detail: "{}",
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_hash_depends_on_the_predecessor_and_every_field() {
        let base = chain_hash(GENESIS_HASH, &fields(Some("10.0.0.1")));
        assert_eq!(base.len(), 64);
        assert_ne!(base, chain_hash(&"1".repeat(64), &fields(Some("10.0.0.1"))));
        assert_ne!(base, chain_hash(GENESIS_HASH, &fields(Some("10.0.0.2"))));
        assert_ne!(base, chain_hash(GENESIS_HASH, &ChainedFields { event: "logout", ..fields(Some("10.0.0.1")) }));
    }

    const IP: &str = "10.0.0.1";

    fn chain_of(count: usize) -> Vec<StoredRow> {
        let mut previous = GENESIS_HASH.to_owned();
        let ip_digest = personal_digest(IP);
        (0..count)
            .map(|n| {
                let id = format!("id-{n}");
                let base = ChainedFields { id: &id, ..fields(Some(&ip_digest)) };
                let hash = chain_hash(&previous, &base);
                let row = StoredRow {
                    seq: i64::try_from(n).expect("small") + 1,
                    id: id.clone(),
                    user_id: base.user_id.map(str::to_owned),
                    session_id: None,
                    event: base.event.to_owned(),
                    ip: Some(IP.to_owned()),
                    user_agent: None,
                    ip_digest: Some(ip_digest.clone()),
                    user_agent_digest: None,
                    detail: base.detail.to_owned(),
                    created_at: base.created_at,
                    prev_hash: previous.clone(),
                    hash: hash.clone(),
                };
                previous = hash;
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_a_tampered_one_names_the_row() {
        assert_eq!(verify(chain_of(4)), Ok(ChainSummary { rows: 4, erased: 0 }));
        let mut altered = chain_of(4);
        altered[2].event = "logout".to_owned();
        assert_eq!(verify(altered), Err(ChainBreak::Altered { seq: 3 }));
        let mut removed = chain_of(4);
        removed.remove(1);
        assert_eq!(verify(removed), Err(ChainBreak::Unlinked { seq: 3 }));
    }

    #[test]
    fn an_erased_field_is_told_from_an_altered_one() {
        let mut erased = chain_of(3);
        erased[1].ip = None;
        assert_eq!(verify(erased), Ok(ChainSummary { rows: 3, erased: 1 }));

        let mut altered = chain_of(3);
        altered[1].ip = Some("10.9.9.9".into());
        assert_eq!(verify(altered), Err(ChainBreak::PersonalFieldAltered { seq: 2, field: "ip" }));

        let mut erased_and_digest_forged = chain_of(3);
        erased_and_digest_forged[1].ip = None;
        erased_and_digest_forged[1].ip_digest = Some(personal_digest("10.9.9.9"));
        assert_eq!(verify(erased_and_digest_forged), Err(ChainBreak::Altered { seq: 2 }));
    }

    #[test]
    fn rows_from_before_the_digest_columns_still_verify() {
        let mut legacy = chain_of(2);
        for row in &mut legacy {
            row.ip_digest = None;
        }
        assert_eq!(verify(legacy), Ok(ChainSummary { rows: 2, erased: 0 }));
    }

    #[test]
    fn sub_microsecond_differences_do_not_change_the_hash() {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_500);
        let truncated = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_000);
        assert_eq!(
            chain_hash(GENESIS_HASH, &ChainedFields { created_at: at, ..fields(None) }),
            chain_hash(GENESIS_HASH, &ChainedFields { created_at: truncated, ..fields(None) })
        );
    }
}
