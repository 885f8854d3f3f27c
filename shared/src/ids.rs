//! Identifiers that arrive from outside (headers, paths, bodies), parsed once.
//!
//! Both kinds share one alphabet so they can be embedded in Redis keys and
//! queue tokens without escaping: they never contain `{`, `}`, `:` or `.`.

use std::fmt;

use serde::{Deserialize, Serialize};

const MAX_ID_LEN: usize = 64;

fn is_valid_id(raw: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An identifier that does not fit the 1–64 `[A-Za-z0-9_-]` alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")]
pub struct InvalidId {
    pub what: &'static str,
}

macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                if is_valid_id(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(InvalidId { what: $what })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                if is_valid_id(&raw) {
                    Ok(Self(raw))
                } else {
                    Err(InvalidId { what: $what })
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_ID_LEN))
                    .pattern(Some("^[A-Za-z0-9_-]+$"))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

checked_id!(
    /// The caller's identity as forwarded by the gateway in `X-User-Id`.
    UserId,
    "user id"
);

checked_id!(
    /// The name of a waiting line; one per sale.
    QueueId,
    "queue id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(UserId::parse("user_42-A").is_ok());
        assert!(QueueId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        for raw in ["", "a b", "q:{x}", "dot.ted", "ü", &"a".repeat(65)] {
            assert!(UserId::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn deserialising_validates() {
        let parsed: Result<QueueId, _> = serde_json::from_str("\"bad id\"");
        assert!(parsed.is_err());
        let parsed: QueueId = serde_json::from_str("\"tour-2027\"").unwrap();
        assert_eq!(parsed.as_str(), "tour-2027");
    }
}
