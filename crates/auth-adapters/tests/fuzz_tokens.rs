//! Property-based fuzzing of access-token verification: whatever bytes arrive in a Bearer header,
//! the verifier answers with a refusal, never a panic, and never accepts a token it did not sign.
//!
//! proptest runs inside the ordinary test suite, so every `cargo test` tries a few thousand inputs;
//! the coverage-guided fuzzing of the same codec is `fuzz/fuzz_targets/tokens.rs` (`fuzz/run`).

use auth_adapters::jwt::JwtCodec;
use auth_adapters::keys::{MasterKey, SigningAlgorithm, generate_signing_key};
use auth_domain::ports::AccessTokenCodec;
use auth_domain::{AccessClaims, SessionId, UserId};
use proptest::prelude::*;
use time::OffsetDateTime;

fn codec() -> (JwtCodec, String, AccessClaims) {
    let master_key = MasterKey::generate();
    let now = OffsetDateTime::now_utc();
    let key = generate_signing_key(SigningAlgorithm::EdDsa, &master_key, now, now);
    let codec = JwtCodec::new("https://auth.example.com", "authd");
    codec.install(std::slice::from_ref(&key), &master_key).expect("installs");
    let claims = AccessClaims {
        iss: "https://auth.example.com".into(),
        sub: UserId::from_uuid(uuid::Uuid::now_v7()),
        aud: "authd".into(),
        exp: now.unix_timestamp() + 900,
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        jti: "jti".into(),
        sid: SessionId::from_uuid(uuid::Uuid::now_v7()),
        roles: vec!["admin".into()],
        amr: vec!["pwd".into()],
        email_verified: true,
    };
    let token = codec.sign(&claims).expect("signs").expose().to_owned();
    (codec, token, claims)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_is_refused(token in "\\PC{0,600}") {
        let (codec, _, _) = codec();
        prop_assert!(codec.verify(&token).is_err());
    }

    #[test]
    fn arbitrary_three_part_tokens_are_refused(
        header in "[A-Za-z0-9_=+/-]{0,120}",
        payload in "[A-Za-z0-9_=+/-]{0,400}",
        signature in "[A-Za-z0-9_=+/-]{0,120}",
    ) {
        let (codec, _, _) = codec();
        let token = [header, payload, signature].join(".");
        prop_assert!(codec.verify(&token).is_err());
    }

    #[test]
    fn a_mutated_token_is_refused_or_means_exactly_what_was_signed(position in 0usize..4096, replacement in any::<u8>()) {
        let (codec, token, claims) = codec();
        let mut bytes = token.into_bytes();
        let index = position % bytes.len();
        prop_assume!(bytes[index] != replacement);
        bytes[index] = replacement;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        // A change the base64 decoder ignores (padding bits of the last character) may still
        // verify; anything that verifies must carry the very claims that were signed.
        if let Ok(verified) = codec.verify(&mutated) {
            prop_assert_eq!(verified, claims);
        }
    }
}
