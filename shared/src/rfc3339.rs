//! RFC 3339 times as the API accepts them: `time`'s parser, minus leap
//! seconds. `23:59:60` parses (on the last day of a month) as
//! `23:59:59.999999999`, an instant the client did not write; an API that
//! stores instants refuses it instead, as it refuses `24:00:00`.
//!
//! Use with `#[serde(with = "shared::rfc3339")]`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses `raw`, refusing a leap second.
pub fn parse(raw: &str) -> Result<OffsetDateTime, String> {
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| e.to_string())?;
    // The seconds sit right after `<date>T<hh>:<mm>:`; the date is 10 bytes.
    if raw.get(17..19) == Some("60") {
        return Err("leap seconds (:60) are not accepted".to_owned());
    }
    Ok(parsed)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let raw = String::deserialize(deserializer)?;
    parse(&raw).map_err(D::Error::custom)
}

pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(at, serializer)
}

/// The same for an optional time: `null` or absent is `None`. Use with
/// `#[serde(default, with = "shared::rfc3339::option")]`.
pub mod option {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(raw) => super::parse(&raw).map(Some).map_err(D::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_seconds_and_impossible_times_are_refused() {
        for raw in [
            "2027-06-30T23:59:60Z",
            "2016-12-31T23:59:60+00:00",
            "2027-06-01T24:00:00Z",
            "2027-02-30T10:00:00Z",
            "2027-06-01 10:00",
        ] {
            assert!(parse(raw).is_err(), "{raw}");
        }
        assert!(parse("2027-06-30T23:59:59.999Z").is_ok());
        assert!(parse("2027-06-30t23:59:59+02:00").is_ok());
    }
}
