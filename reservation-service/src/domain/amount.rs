//! Money amounts: integers in the smallest currency unit.

use serde_json::Number;

use super::Invalid;

/// A top-up the caller asked for: a positive integer no larger than the
/// configured maximum. Parsed from the raw JSON number so that `1.5` and
/// out-of-range values get a clear `INVALID_AMOUNT`, not a generic JSON
/// error; `1e3` and `1000.0` are the integer 1000, as JSON Schema reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeAmount(i64);

impl ChargeAmount {
    pub fn parse(raw: &Number, max: i64) -> Result<Self, Invalid> {
        let out_of_range = || {
            Invalid::new(format!(
                "amount must be an integer between 1 and {max} (smallest currency unit)"
            ))
        };
        // 100.0 is the integer 100, as JSON Schema reads it; 100.5 is not.
        let value = shared::json::as_integer(raw).ok_or_else(out_of_range)?;
        match i64::try_from(value) {
            Ok(value) if (1..=max).contains(&value) => Ok(Self(value)),
            _ => Err(out_of_range()),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ChargeAmount, Invalid> {
        let number: Number = serde_json::from_str(json).unwrap();
        ChargeAmount::parse(&number, 1_000)
    }

    #[test]
    fn accepts_positive_integers_up_to_the_maximum() {
        assert_eq!(parse("1").unwrap().get(), 1);
        assert_eq!(parse("1000").unwrap().get(), 1000);
        assert_eq!(parse("1e3").unwrap().get(), 1000);
        assert_eq!(parse("999.0").unwrap().get(), 999);
    }

    #[test]
    fn refuses_zero_negative_too_large_and_fractions() {
        for raw in [
            "0",
            "-5",
            "1001",
            "1.5",
            "1e4",
            "18446744073709551615",
            "1e300",
        ] {
            assert!(parse(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn the_message_names_the_bounds() {
        assert!(
            parse("0")
                .unwrap_err()
                .to_string()
                .contains("between 1 and 1000")
        );
    }
}
