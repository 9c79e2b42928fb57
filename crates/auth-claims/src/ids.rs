//! Typed identifiers, so a session id can never be passed where a user id is expected.

/// Declares a UUID newtype: `Copy`, ordered, hashed, shown and parsed as the UUID's text, and
/// serialised as the bare UUID (`#[serde(transparent)]`), as tokens and rows carry it.
///
/// Exported for `auth-domain`'s own identifiers, so that every id of the service has one
/// definition of what an id is. The invoking crate must depend on `serde` (serde's derive names
/// it).
#[doc(hidden)]
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            $crate::__private::Serialize, $crate::__private::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($crate::__private::Uuid);

        impl $name {
            pub const fn from_uuid(uuid: $crate::__private::Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> $crate::__private::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::__private::uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::__private::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a user account (a token's `sub`).
    UserId
);
uuid_id!(
    /// Identifies a session: one login, and the family of refresh tokens rotated from it (a
    /// token's `sid`; revocations name it).
    SessionId
);
