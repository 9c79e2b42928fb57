//! [`Claims`]: what a verified access token says about its bearer.

use auth_claims::{AccessClaims, Audiences};

/// The claims of an access token that passed every check of
/// [`Verifier::verify`](crate::Verifier::verify): `auth-claims`' [`AccessClaims`], the type the
/// issuer signs, with `aud` read as one string or an array ([`Audiences`]).
///
/// Every claim is required: a token without `sid`, `roles` or `amr` is refused as
/// [`BadClaims`](crate::VerifyError::BadClaims) rather than read with defaults, so that a token of
/// another shape is never mistaken for ours. A claim this version does not know is ignored, so
/// that an issuer that learns a new claim does not lock out the services already deployed.
pub type Claims = AccessClaims<Audiences>;

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
