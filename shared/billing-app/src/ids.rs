//! Identifiers that arrive from outside, validated on construction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An identifier that is empty, too long, or has characters outside `A-Z a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}: use 1 to {max} characters among A-Z, a-z, 0-9, '.', '_', ':' and '-'")]
pub struct IdError {
    /// What was being parsed.
    pub kind: &'static str,
    /// The value refused.
    pub value: String,
    /// The maximum length.
    pub max: usize,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates an identifier.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = (1..=$max).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError { kind: $kind, value: s.to_owned(), max: $max })
                }
            }

            /// The identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
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
    };
}

id_type!(
    /// A platform account.
    AccountId, "account id", 64
);
id_type!(
    /// One usage session (a run of one resource), chosen by the reporting service.
    SessionId, "session id", 128
);
id_type!(
    /// A usage event's unique id: the key of exactly-once processing (room for `deletion:<session>`).
    EventId, "event id", 140
);
id_type!(
    /// The resource a session ran on (a VM id, a volume id), for the usage detail.
    ResourceId, "resource id", 128
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated_with_a_message_naming_the_kind() {
        assert!(AccountId::parse("acct_42-x").is_ok());
        let err = AccountId::parse("a b").expect_err("space");
        assert_eq!(
            err.to_string().split(':').next(),
            Some("`a b` is not a valid account id")
        );
        assert!(EventId::parse("").is_err());
        assert!(SessionId::parse(&"s".repeat(129)).is_err());
        assert!(
            AccountId::parse("ACCOUNT#x").is_err(),
            "no key separators from outside"
        );
    }
}
