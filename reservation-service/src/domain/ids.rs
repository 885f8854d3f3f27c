//! Numeric ids of the things this service owns. They are positive: `0` in a
//! path or body is refused as bad input before any query runs.

use std::fmt;

use super::Invalid;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            pub fn new(raw: u64) -> Result<Self, Invalid> {
                if raw == 0 {
                    Err(Invalid::new(concat!($what, " must be a positive integer")))
                } else {
                    Ok(Self(raw))
                }
            }

            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

entity_id!(ConcertId, "concert id");
entity_id!(ScheduleId, "schedule id");
entity_id!(SeatId, "seat id");
entity_id!(ReservationId, "reservation id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_not_an_id() {
        let err = SeatId::new(0).unwrap_err();
        assert_eq!(err.to_string(), "seat id must be a positive integer");
        assert_eq!(SeatId::new(7).unwrap().get(), 7);
    }
}
