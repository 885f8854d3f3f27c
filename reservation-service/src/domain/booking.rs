//! The booking window of a schedule: holds are taken only while it is open.

use time::OffsetDateTime;

/// `[opens_at, closes_at)`: open at the opening instant, closed at the closing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingWindow {
    pub opens_at: OffsetDateTime,
    pub closes_at: OffsetDateTime,
}

impl BookingWindow {
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.opens_at <= now && now < self.closes_at
    }
}

/// When a hold taken at `now` runs out, in whole milliseconds: the column
/// keeps milliseconds, and the exact stored value identifies the hold.
pub fn hold_expiry(now: OffsetDateTime, ttl: std::time::Duration) -> OffsetDateTime {
    let expires = now + ttl;
    expires
        .replace_nanosecond(expires.millisecond() as u32 * 1_000_000)
        .unwrap_or(expires)
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    fn window() -> BookingWindow {
        BookingWindow {
            opens_at: datetime!(2030-01-01 10:00 UTC),
            closes_at: datetime!(2030-01-01 12:00 UTC),
        }
    }

    #[test]
    fn hold_expiry_is_truncated_to_whole_milliseconds() {
        let now = datetime!(2030-01-01 10:00:00.123_456_789 UTC);
        let expires = hold_expiry(now, std::time::Duration::from_secs(300));
        assert_eq!(expires, datetime!(2030-01-01 10:05:00.123 UTC));
    }

    #[test]
    fn open_from_the_opening_instant_until_just_before_closing() {
        let w = window();
        assert!(!w.is_open(w.opens_at - Duration::milliseconds(1)));
        assert!(w.is_open(w.opens_at));
        assert!(w.is_open(w.closes_at - Duration::milliseconds(1)));
        assert!(!w.is_open(w.closes_at));
    }
}
