//! [`Claims`]: what a verified access token says about its bearer.

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// The claims of an access token that passed every check of
/// [`Verifier::verify`](crate::Verifier::verify).
///
/// Every claim is required: a token without `sid`, `roles` or `amr` is refused as
/// [`BadClaims`](crate::VerifyError::BadClaims) rather than read with defaults, so that a token of
/// another shape is never mistaken for ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    iss: String,
    sub: Uuid,
    #[serde(deserialize_with = "one_or_many")]
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    sid: Uuid,
    roles: Vec<String>,
    amr: Vec<String>,
    email_verified: bool,
}

impl Claims {
    /// The user the token was issued to (`sub`).
    pub fn user_id(&self) -> Uuid {
        self.sub
    }

    /// The login session the token belongs to (`sid`); revocations name it.
    pub fn session_id(&self) -> Uuid {
        self.sid
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

    /// The audiences (`aud`); a single string in the token is one element here.
    pub fn audiences(&self) -> &[String] {
        &self.aud
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

/// RFC 7519 allows `aud` as one string or an array of them; our issuer sends a string.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims_json(aud: serde_json::Value) -> serde_json::Value {
        json!({
            "iss": "https://auth.example.com", "sub": "0191d2a4-6a5e-7c1b-9a53-5e1c2b3d4e5f",
            "aud": aud, "exp": 2, "iat": 1, "nbf": 1, "jti": "j",
            "sid": "0191d2a4-6a5e-7c1b-9a53-5e1c2b3d4e60", "roles": ["admin"], "amr": ["pwd"],
            "email_verified": true,
        })
    }

    #[test]
    fn an_audience_may_be_one_string_or_an_array() {
        let one: Claims = serde_json::from_value(claims_json(json!("authd"))).unwrap();
        assert_eq!(one.audiences(), ["authd"]);
        let many: Claims = serde_json::from_value(claims_json(json!(["authd", "other"]))).unwrap();
        assert_eq!(many.audiences(), ["authd", "other"]);
        assert!(one.has_role("admin"));
        assert!(!one.has_role("Admin"));
    }

    #[test]
    fn a_token_without_a_session_or_with_a_non_uuid_subject_is_not_ours() {
        let mut without_sid = claims_json(json!("authd"));
        without_sid.as_object_mut().unwrap().remove("sid");
        assert!(serde_json::from_value::<Claims>(without_sid).is_err());
        let mut odd_sub = claims_json(json!("authd"));
        odd_sub["sub"] = json!("alice");
        assert!(serde_json::from_value::<Claims>(odd_sub).is_err());
    }
}
