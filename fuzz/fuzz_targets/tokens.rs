//! Fuzz target: tokens. Any text given to the JWT codec's `verify` is refused without a panic
//! unless it carries a real signature, and a signed token is accepted only with the header and
//! claims the codec promises; `RefreshToken`, `OneTimeToken` and `MfaToken` accept only the
//! canonical base64url text of 32 bytes.
//!
//! The first byte picks the mode: raw text; or `HEADER\nPAYLOAD\nSIGNATURE`, each part
//! base64url-encoded here, with `$KID0`, `$KID1`, `$KID2` in the header replaced by the key ids of
//! the ring (EdDSA, ES256, RS256), signed with the EdDSA key or left with the fuzzed signature.
//! Key ids are random per run, so the seeds could not name them otherwise.
#![no_main]

use std::sync::LazyLock;

use auth_adapters::jwt::{JwtCodec, MAX_CLOCK_SKEW_SECONDS};
use auth_adapters::keys::{MasterKey, SigningAlgorithm, generate_signing_key};
use auth_domain::ports::{AccessTokenCodec, StoredSigningKey};
use auth_domain::tokens::{MfaToken, OneTimeToken, RefreshToken, TokenHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "authd";

struct Ring {
    codec: JwtCodec,
    /// EdDSA, ES256, RS256.
    keys: Vec<StoredSigningKey>,
    /// The private half of the EdDSA key, to sign what the fuzzer wrote.
    eddsa: EncodingKey,
}

/// One ring for the whole run, holding a key of each algorithm, as a ring mid-rotation does.
static RING: LazyLock<Ring> = LazyLock::new(|| {
    let master_key = MasterKey::generate();
    let now = OffsetDateTime::now_utc();
    let keys: Vec<StoredSigningKey> = [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256, SigningAlgorithm::Rs256]
        .into_iter()
        .map(|algorithm| generate_signing_key(algorithm, &master_key, now, now))
        .collect();
    let codec = JwtCodec::new(ISSUER, AUDIENCE);
    codec.install(&keys, &master_key).expect("generated keys install");
    let der = master_key.open(keys[0].kid.as_bytes(), &keys[0].encrypted_private_key).expect("the key opens");
    Ring { codec, keys, eddsa: EncodingKey::from_ed_der(&der) }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match mode % 3 {
        0 => {
            // Nothing the fuzzer writes is signed by keys generated for this run.
            assert!(RING.codec.verify(&text).is_err(), "an unsigned token verified: {text:?}");
            opaque_tokens(&text);
        }
        mode => {
            let mut parts = text.splitn(3, '\n');
            let (header, payload, signature) =
                (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let mut header = header.to_owned();
            for (index, key) in RING.keys.iter().enumerate() {
                header = header.replace(&format!("$KID{index}"), &key.kid);
            }
            let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(&header), URL_SAFE_NO_PAD.encode(payload));
            if mode == 1 {
                let signature =
                    jsonwebtoken::crypto::sign(message.as_bytes(), &RING.eddsa, Algorithm::EdDSA).expect("signs");
                let token = format!("{message}.{signature}");
                if let Ok(claims) = RING.codec.verify(&token) {
                    accepted_as_promised(&token, &claims);
                }
                // The cache answers as the full check did.
                assert_eq!(RING.codec.verify(&token).is_ok(), RING.codec.verify_uncached(&token).is_ok());
            } else {
                let token = format!("{message}.{signature}");
                assert!(RING.codec.verify(&token).is_err(), "a token with a made-up signature verified: {token:?}");
            }
        }
    }
});

/// What `verify` promises of a token it accepts: our issuer and audience, the EdDSA key's `kid`
/// and algorithm, the access-token type, and times within the skew.
fn accepted_as_promised(token: &str, claims: &auth_domain::AccessClaims) {
    let header = jsonwebtoken::decode_header(token).expect("an accepted token has a header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(RING.keys[0].kid.as_str()));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let skew = MAX_CLOCK_SKEW_SECONDS as i64;
    assert!(claims.exp >= now - skew, "an expired token was accepted: {claims:?}");
    assert!(claims.nbf <= now + skew, "a token not yet valid was accepted: {claims:?}");
    assert!(claims.iat <= now + skew, "a token issued in the future was accepted: {claims:?}");
}

/// The opaque tokens share one rule: the same text is accepted by all three or by none, and an
/// accepted text is the one encoding of its 32 bytes.
fn opaque_tokens(text: &str) {
    let refresh = RefreshToken::parse(text);
    let one_time = OneTimeToken::parse(text);
    let mfa = MfaToken::parse(text);
    assert_eq!(refresh.is_some(), one_time.is_some());
    assert_eq!(refresh.is_some(), mfa.is_some());
    let Some(refresh) = refresh else { return };
    assert_eq!(refresh.expose(), text);
    assert_eq!(refresh.hash(), TokenHash::of(text));
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text)
        .expect("an accepted token is base64url")
        .try_into()
        .expect("an accepted token holds 32 bytes");
    // Were a second text of the same bytes accepted, one token would have two hashes.
    assert_eq!(RefreshToken::from_random_bytes(bytes).expose(), text);
    assert!(!format!("{refresh:?}").contains(text), "a token printed itself");
}
