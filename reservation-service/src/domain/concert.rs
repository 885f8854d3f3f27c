//! A concert as an admin submits it, checked once: title, queue and every
//! schedule's window, size and price.

use shared::ids::QueueId;
use time::{OffsetDateTime, UtcOffset};

use super::Invalid;
use super::booking::BookingWindow;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SCHEDULES: usize = 50;
pub const MAX_SEATS_PER_SCHEDULE: i64 = 100_000;
pub const MAX_PRICE: i64 = 1_000_000_000;

/// A schedule as submitted, before checking.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub starts_at: OffsetDateTime,
    pub booking_opens_at: OffsetDateTime,
    pub booking_closes_at: OffsetDateTime,
    pub seat_count: i64,
    pub price: i64,
}

#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub starts_at: OffsetDateTime,
    pub window: BookingWindow,
    pub seat_count: u32,
    pub price: i64,
}

#[derive(Debug, Clone)]
pub struct NewConcert {
    pub title: String,
    pub queue_id: QueueId,
    pub schedules: Vec<NewSchedule>,
}

impl NewConcert {
    pub fn parse(
        title: &str,
        queue_id: &str,
        schedules: Vec<ScheduleInput>,
    ) -> Result<Self, Invalid> {
        // The length counts as sent (what the published schema can say);
        // white space around the title is then dropped.
        let sent_chars = title.chars().count();
        let title = title.trim();
        if title.is_empty() || sent_chars > MAX_TITLE_CHARS {
            return Err(Invalid::new(format!(
                "title must be 1-{MAX_TITLE_CHARS} characters"
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(Invalid::new("title must not contain control characters"));
        }
        if !title.chars().any(is_visible) {
            return Err(Invalid::new("title must contain a visible character"));
        }
        let queue_id =
            QueueId::parse(queue_id).map_err(|e| Invalid::new(format!("queue_id: {e}")))?;
        if schedules.is_empty() || schedules.len() > MAX_SCHEDULES {
            return Err(Invalid::new(format!(
                "schedules must list 1-{MAX_SCHEDULES} schedules"
            )));
        }
        let schedules = schedules
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                NewSchedule::parse(s).map_err(|e| Invalid::new(format!("schedules[{i}]: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            title: title.to_owned(),
            queue_id,
            schedules,
        })
    }
}

impl NewSchedule {
    fn parse(input: ScheduleInput) -> Result<Self, Invalid> {
        let starts_at = storable_instant(input.starts_at, "starts_at")?;
        let opens_at = storable_instant(input.booking_opens_at, "booking_opens_at")?;
        let closes_at = storable_instant(input.booking_closes_at, "booking_closes_at")?;
        if opens_at >= closes_at {
            return Err(Invalid::new(
                "booking_opens_at must be before booking_closes_at",
            ));
        }
        let seat_count = u32::try_from(input.seat_count)
            .ok()
            .filter(|n| (1..=MAX_SEATS_PER_SCHEDULE).contains(&i64::from(*n)))
            .ok_or_else(|| {
                Invalid::new(format!(
                    "seat_count must be between 1 and {MAX_SEATS_PER_SCHEDULE}"
                ))
            })?;
        if !(1..=MAX_PRICE).contains(&input.price) {
            return Err(Invalid::new(format!(
                "price must be between 1 and {MAX_PRICE}"
            )));
        }
        Ok(Self {
            starts_at,
            window: BookingWindow {
                opens_at,
                closes_at,
            },
            seat_count,
            price: input.price,
        })
    }
}

/// Whether a character shows: not white space, and not one of the
/// zero-width or formatting characters that render as nothing (a title of
/// only those looks empty in every listing).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

/// UTC, at the millisecond precision of `DATETIME(3)` (MySQL would round
/// and MariaDB truncate finer digits; truncating here makes both store, and
/// the response echo, the same instant), within `DATETIME`'s range.
fn storable_instant(at: OffsetDateTime, field: &str) -> Result<OffsetDateTime, Invalid> {
    let out_of_range = || Invalid::new(format!("{field} must be between the years 1970 and 9999"));
    // An instant late on 9999-12-31 with a negative offset lies past the
    // last representable UTC year, where the plain conversion panics.
    let utc = at
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(out_of_range)?;
    if !(1970..=9999).contains(&utc.year()) {
        return Err(out_of_range());
    }
    let millis = utc.millisecond();
    utc.replace_millisecond(millis)
        .map_err(|_| Invalid::new(format!("{field} is not a valid instant")))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn schedule() -> ScheduleInput {
        ScheduleInput {
            starts_at: datetime!(2030-06-01 19:00 UTC),
            booking_opens_at: datetime!(2030-05-01 10:00 UTC),
            booking_closes_at: datetime!(2030-06-01 18:00 UTC),
            seat_count: 100,
            price: 50_000,
        }
    }

    fn parse_with(edit: impl FnOnce(&mut ScheduleInput)) -> Result<NewConcert, Invalid> {
        let mut s = schedule();
        edit(&mut s);
        NewConcert::parse("Tour", "tour-2030", vec![s])
    }

    #[test]
    fn a_well_formed_concert_parses() {
        let concert = parse_with(|_| {}).unwrap();
        assert_eq!(concert.title, "Tour");
        assert_eq!(concert.schedules[0].seat_count, 100);
    }

    #[test]
    fn title_must_be_present_and_short() {
        assert!(NewConcert::parse("  ", "q", vec![schedule()]).is_err());
        assert!(NewConcert::parse(&"x".repeat(201), "q", vec![schedule()]).is_err());
        assert!(NewConcert::parse(&"é".repeat(200), "q", vec![schedule()]).is_ok());
    }

    #[test]
    fn a_title_of_invisible_characters_is_refused() {
        for invisible in [
            "\u{200B}",
            "\u{200B}\u{FEFF} \u{2060}",
            "\u{3164}",
            "\u{00AD}\u{00AD}",
        ] {
            let err = NewConcert::parse(invisible, "q", vec![schedule()]).unwrap_err();
            assert!(err.to_string().contains("visible"), "{invisible:?}: {err}");
        }
        assert!(NewConcert::parse("Tour\u{200B}2027", "q", vec![schedule()]).is_ok());
    }

    #[test]
    fn queue_id_uses_the_shared_alphabet() {
        let err = NewConcert::parse("Tour", "bad queue", vec![schedule()]).unwrap_err();
        assert!(err.to_string().starts_with("queue_id"), "{err}");
    }

    #[test]
    fn schedule_count_is_bounded() {
        assert!(NewConcert::parse("Tour", "q", vec![]).is_err());
        assert!(NewConcert::parse("Tour", "q", vec![schedule(); 51]).is_err());
        assert!(NewConcert::parse("Tour", "q", vec![schedule(); 50]).is_ok());
    }

    #[test]
    fn the_window_must_open_before_it_closes() {
        let err = parse_with(|s| s.booking_closes_at = s.booking_opens_at).unwrap_err();
        assert!(err.to_string().contains("schedules[0]"), "{err}");
    }

    #[test]
    fn seat_count_and_price_are_bounded() {
        for bad in [0, -1, 100_001, i64::MAX] {
            assert!(parse_with(|s| s.seat_count = bad).is_err(), "{bad} seats");
        }
        for bad in [0, -1, 1_000_000_001] {
            assert!(parse_with(|s| s.price = bad).is_err(), "price {bad}");
        }
        assert!(parse_with(|s| s.seat_count = 100_000).is_ok());
    }

    #[test]
    fn instants_are_stored_in_utc_at_millisecond_precision() {
        let concert = parse_with(|s| {
            s.booking_opens_at = datetime!(2030-05-01 12:00:00.123456789 +02:00);
        })
        .unwrap();
        assert_eq!(
            concert.schedules[0].window.opens_at,
            datetime!(2030-05-01 10:00:00.123 UTC)
        );
    }

    #[test]
    fn instants_outside_datetime_range_are_refused() {
        assert!(parse_with(|s| s.starts_at = datetime!(1900-01-01 0:00 UTC)).is_err());
        let past_the_last_utc_year = datetime!(9999-12-31 23:30 -01:00);
        assert!(parse_with(|s| s.starts_at = past_the_last_utc_year).is_err());
    }
}
