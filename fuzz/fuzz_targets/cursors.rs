//! Fuzz target: the opaque cursors clients send back, the revocation feed's (`since`) and the
//! admin lists' (`cursor` of `/v1/admin/users` and `/v1/admin/audit`). Any text decodes without a
//! panic, and a decoded position encodes to a cursor that decodes to the same position; positions
//! made from the input's bytes go the other way round.
#![no_main]

use auth_domain::services::FeedPosition;
use auth_domain::{SessionId, UserId};
use auth_http::routes::cursors::{decode_feed_cursor, decode_list_cursor, encode_feed_cursor, encode_list_cursor};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Some(position) = decode_feed_cursor(&text) {
        assert_eq!(decode_feed_cursor(&encode_feed_cursor(position)), Some(position));
    }
    if let Ok(user_id) = decode_list_cursor::<UserId>("users", &text) {
        let again = encode_list_cursor("users", &user_id.to_string());
        assert_eq!(decode_list_cursor::<UserId>("users", &again).ok(), Some(user_id));
        // The kind tag keeps one list's cursor out of the other.
        assert!(decode_list_cursor::<i64>("audit", &text).is_err());
    }
    if let Ok(sequence) = decode_list_cursor::<i64>("audit", &text) {
        let again = encode_list_cursor("audit", &sequence.to_string());
        assert_eq!(decode_list_cursor::<i64>("audit", &again).ok(), Some(sequence));
    }

    // Every position the feed can hand out (an instant of its clock, to the microsecond, from
    // 1970 on) comes back from its cursor.
    if let Some(micros) = data.get(..8).map(|bytes| i64::from_le_bytes(bytes.try_into().expect("8 bytes"))) {
        let instant = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok();
        if let Some(instant) = instant.filter(|instant| *instant >= OffsetDateTime::UNIX_EPOCH) {
            let position = match data.get(8..24) {
                None => FeedPosition::CaughtUp(instant),
                Some(bytes) => FeedPosition::After {
                    revoked_at: instant,
                    session_id: SessionId::from_uuid(uuid::Uuid::from_slice(bytes).expect("16 bytes")),
                },
            };
            assert_eq!(decode_feed_cursor(&encode_feed_cursor(position)), Some(position));
        }
        let user_id = UserId::from_uuid(uuid::Uuid::from_u64_pair(micros as u64, micros.rotate_left(7) as u64));
        assert_eq!(
            decode_list_cursor::<UserId>("users", &encode_list_cursor("users", &user_id.to_string())).ok(),
            Some(user_id)
        );
        assert_eq!(
            decode_list_cursor::<i64>("audit", &encode_list_cursor("audit", &micros.to_string())).ok(),
            Some(micros)
        );
    }
});
