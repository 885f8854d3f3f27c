//! Integers in request bodies as JSON Schema means them: `2`, `2.0` and
//! `2e0` are the same integer, and a client (or generator) that writes one
//! of the latter sends a valid request. serde would refuse all but the
//! first for an integer field. Use with
//! `#[serde(deserialize_with = "shared::json::integer")]`
//! (or `optional_integer` for an `Option`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

/// The integer a JSON number stands for, if it stands for one.
pub fn as_integer(number: &Number) -> Option<i128> {
    if let Some(v) = number.as_i64() {
        return Some(i128::from(v));
    }
    if let Some(v) = number.as_u64() {
        return Some(i128::from(v));
    }
    let v = number.as_f64()?;
    // Beyond 2^53 a float no longer says which integer it meant.
    (v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0).then_some(v as i128)
}

pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let number = Number::deserialize(deserializer)?;
    as_integer(&number)
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| D::Error::custom(format!("expected an integer in range, got {number}")))
}

pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    match Option::<Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => as_integer(&number)
            .and_then(|v| T::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an integer in range, got {number}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "integer")]
        n: u32,
        #[serde(default, deserialize_with = "optional_integer")]
        m: Option<u8>,
    }

    #[test]
    fn integral_numbers_in_any_spelling_are_integers() {
        for raw in [
            r#"{"n": 7}"#,
            r#"{"n": 7.0}"#,
            r#"{"n": 7e0}"#,
            r#"{"n": 0.7e1}"#,
        ] {
            let probe: Probe = serde_json::from_str(raw).unwrap();
            assert_eq!(probe.n, 7, "{raw}");
        }
        let probe: Probe = serde_json::from_str(r#"{"n": 1, "m": 3.0}"#).unwrap();
        assert_eq!(probe.m, Some(3));
        let probe: Probe = serde_json::from_str(r#"{"n": 1, "m": null}"#).unwrap();
        assert_eq!(probe.m, None);
    }

    #[test]
    fn fractions_and_out_of_range_values_are_refused() {
        for raw in [
            r#"{"n": 7.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1e20}"#,
            r#"{"n": "7"}"#,
        ] {
            assert!(serde_json::from_str::<Probe>(raw).is_err(), "{raw}");
        }
        assert!(serde_json::from_str::<Probe>(r#"{"n": 1, "m": 300}"#).is_err());
    }
}
