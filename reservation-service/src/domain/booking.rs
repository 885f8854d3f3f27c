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
    fn open_from_the_opening_instant_until_just_before_closing() {
        let w = window();
        assert!(!w.is_open(w.opens_at - Duration::milliseconds(1)));
        assert!(w.is_open(w.opens_at));
        assert!(w.is_open(w.closes_at - Duration::milliseconds(1)));
        assert!(!w.is_open(w.closes_at));
    }
}
