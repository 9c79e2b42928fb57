//! [`AccessClaims`]: what an access token says about its bearer, in the token's own spelling.

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::ids::{SessionId, UserId};

/// The claims of an access token, as the contract lists them.
///
/// `Aud` is how `aud` is held. The issuer writes exactly one audience, as a string: the default,
/// `String`, is its form, and `aud` goes on the wire as that string. A verifier reads what
/// RFC 7519 allows, one string or an array, as [`Audiences`] (`auth-verifier`'s `Claims`).
///
/// Every claim is required: a token without `sid`, `roles` or `amr` fails to deserialise rather
/// than being read with defaults, so that a token of another shape is never mistaken for ours.
/// Claims not listed here are ignored by this type; the issuer, which writes every claim itself,
/// refuses them where it decodes (`auth-adapters`' JWT codec), while a verifier in another
/// service keeps accepting tokens of an issuer that has learnt a new claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims<Aud = String> {
    pub iss: String,
    pub sub: UserId,
    pub aud: Aud,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: SessionId,
    pub roles: Vec<String>,
    pub amr: Vec<String>,
    pub email_verified: bool,
}

/// The accessors `auth-verifier`'s users call; the fields are public as well.
impl<Aud> AccessClaims<Aud> {
    /// The user the token was issued to (`sub`).
    pub fn user_id(&self) -> Uuid {
        self.sub.as_uuid()
    }

    /// The login session the token belongs to (`sid`); revocations name it.
    pub fn session_id(&self) -> Uuid {
        self.sid.as_uuid()
    }

    /// The user's roles when the token was issued (`roles`).
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Whether `roles` contains `role` (exact, case-sensitive match).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    /// How the user authenticated (`amr`, e.g. `["pwd"]` or `["pwd", "otp"]`).
    pub fn authentication_methods(&self) -> &[String] {
        &self.amr
    }

    /// Whether the user's email address was verified when the token was issued.
    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// The expiry (`exp`), in seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }

    /// The issue time (`iat`), in seconds since the Unix epoch.
    pub fn issued_at(&self) -> i64 {
        self.iat
    }

    /// The start of validity (`nbf`), in seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.nbf
    }

    /// The token's unique identifier (`jti`).
    pub fn token_id(&self) -> &str {
        &self.jti
    }
}

impl AccessClaims<String> {
    /// The audiences (`aud`): the issuer's one.
    pub fn audiences(&self) -> &[String] {
        std::slice::from_ref(&self.aud)
    }
}

impl AccessClaims<Audiences> {
    /// The audiences (`aud`); a single string in the token is one element here.
    pub fn audiences(&self) -> &[String] {
        self.aud.as_slice()
    }
}

/// `aud` as a verifier reads it: RFC 7519 allows one string or an array of them (our issuer sends
/// a string). Serialised as an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Audiences(Vec<String>);

impl Audiences {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for Audiences {
    fn from(audiences: Vec<String>) -> Self {
        Self(audiences)
    }
}

impl<'de> Deserialize<'de> for Audiences {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(Self(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issued() -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example.com".into(),
            sub: UserId::from_uuid(Uuid::from_u128(1)),
            aud: "authd".into(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            sid: SessionId::from_uuid(Uuid::from_u128(2)),
            roles: vec!["admin".into()],
            amr: vec!["pwd".into()],
            email_verified: true,
        }
    }

    #[test]
    fn the_issuer_writes_every_claim_in_order_with_aud_as_a_string() {
        // The bytes of every token signed so far: field order, names and the string `aud`.
        assert_eq!(
            serde_json::to_string(&issued()).unwrap(),
            r#"{"iss":"https://auth.example.com","sub":"00000000-0000-0000-0000-000000000001","aud":"authd","exp":2,"iat":1,"nbf":1,"jti":"j","sid":"00000000-0000-0000-0000-000000000002","roles":["admin"],"amr":["pwd"],"email_verified":true}"#
        );
    }

    #[test]
    fn a_verifier_reads_what_the_issuer_wrote_and_writes_aud_as_an_array() {
        let text = serde_json::to_string(&issued()).unwrap();
        let read: AccessClaims<Audiences> = serde_json::from_str(&text).unwrap();
        assert_eq!(read.audiences(), issued().audiences());
        assert_eq!((read.user_id(), read.session_id()), (Uuid::from_u128(1), Uuid::from_u128(2)));
        let mut expected = serde_json::to_value(issued()).unwrap();
        expected["aud"] = json!(["authd"]);
        assert_eq!(serde_json::to_value(&read).unwrap(), expected);
    }

    #[test]
    fn claims_of_a_newer_issuer_are_ignored_and_missing_ones_refused() {
        let mut newer = serde_json::to_value(issued()).unwrap();
        newer["scope"] = json!("read");
        assert_eq!(serde_json::from_value::<AccessClaims>(newer.clone()).unwrap(), issued());
        newer.as_object_mut().unwrap().remove("amr");
        assert!(serde_json::from_value::<AccessClaims>(newer).is_err());
    }
}
