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
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
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
    let digest_of = |field: Option<&str>| field.map(|value| hex(&Sha256::digest(value.as_bytes())));
    let created_at = to_microseconds(fields.created_at)
        .to_offset(time::UtcOffset::UTC)
        .format(INSTANT_FORMAT)
        .expect("every UTC instant formats");
    let content = serde_json::json!([
        fields.id,
        fields.user_id,
        fields.session_id,
        fields.event,
        digest_of(fields.ip),
        digest_of(fields.user_agent),
        fields.detail,
        created_at,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(content.to_string().as_bytes());
    hex(&hasher.finalize())
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
    #[error("audit row {seq} does not follow the row before it: a row was removed or inserted before row {seq}")]
    Unlinked { seq: i64 },
}

/// Checks rows given in chain order; returns how many were checked.
///
/// # Errors
/// The first break: a row whose hash does not match its content, or whose `prev_hash` is not its
/// predecessor's hash. Removing the newest rows leaves no trace in the chain itself.
pub fn verify(rows: impl IntoIterator<Item = StoredRow>) -> Result<usize, ChainBreak> {
    let mut previous = GENESIS_HASH.to_owned();
    let mut checked = 0;
    for row in rows {
        if row.prev_hash != previous {
            return Err(ChainBreak::Unlinked { seq: row.seq });
        }
        let fields = ChainedFields {
            id: &row.id,
            user_id: row.user_id.as_deref(),
            session_id: row.session_id.as_deref(),
            event: &row.event,
            ip: row.ip.as_deref(),
            user_agent: row.user_agent.as_deref(),
            detail: &row.detail,
            created_at: row.created_at,
        };
        if chain_hash(&row.prev_hash, &fields) != row.hash {
            return Err(ChainBreak::Altered { seq: row.seq });
        }
        previous = row.hash;
        checked += 1;
    }
    Ok(checked)
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

    fn fields(ip: Option<&str>) -> ChainedFields<'_> {
        ChainedFields {
            id: "01900000-0000-7000-8000-000000000001",
            user_id: Some("u"),
            session_id: None,
            event: "login_succeeded",
            ip,
            user_agent: None,
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

    fn chain_of(count: usize) -> Vec<StoredRow> {
        let mut previous = GENESIS_HASH.to_owned();
        (0..count)
            .map(|n| {
                let id = format!("id-{n}");
                let base = ChainedFields { id: &id, ..fields(Some("10.0.0.1")) };
                let hash = chain_hash(&previous, &base);
                let row = StoredRow {
                    seq: i64::try_from(n).expect("small") + 1,
                    id: id.clone(),
                    user_id: base.user_id.map(str::to_owned),
                    session_id: None,
                    event: base.event.to_owned(),
                    ip: base.ip.map(str::to_owned),
                    user_agent: None,
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
        assert_eq!(verify(chain_of(4)), Ok(4));
        let mut altered = chain_of(4);
        altered[2].event = "logout".to_owned();
        assert_eq!(verify(altered), Err(ChainBreak::Altered { seq: 3 }));
        let mut removed = chain_of(4);
        removed.remove(1);
        assert_eq!(verify(removed), Err(ChainBreak::Unlinked { seq: 3 }));
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
