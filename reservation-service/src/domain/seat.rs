//! A seat's status as stored, and as clients see it: a hold that has run out
//! is free even before the expiry worker has swept it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `seats.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredSeatStatus {
    Available,
    Held,
    Sold,
}

impl StoredSeatStatus {
    pub fn from_db(raw: &str) -> Option<Self> {
        match raw {
            "AVAILABLE" => Some(Self::Available),
            "HELD" => Some(Self::Held),
            "SOLD" => Some(Self::Sold),
            _ => None,
        }
    }
}

/// What a client sees, and what `?status=` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    /// A hold counts until the instant it expires (`hold_expires_at > now`),
    /// matching the SQL that takes a seat when `hold_expires_at < NOW(3)`
    /// and sells it only while `hold_expires_at > NOW(3)`.
    pub fn derive(
        stored: StoredSeatStatus,
        hold_expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        match stored {
            StoredSeatStatus::Available => Self::Available,
            StoredSeatStatus::Sold => Self::Sold,
            StoredSeatStatus::Held => match hold_expires_at {
                Some(expires) if expires < now => Self::Available,
                _ => Self::Held,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2030-01-01 10:00 UTC);

    #[test]
    fn an_expired_hold_reads_available() {
        let expired = Some(NOW - Duration::milliseconds(1));
        assert_eq!(
            SeatStatus::derive(StoredSeatStatus::Held, expired, NOW),
            SeatStatus::Available
        );
    }

    #[test]
    fn a_running_hold_reads_held() {
        let running = Some(NOW + Duration::seconds(30));
        assert_eq!(
            SeatStatus::derive(StoredSeatStatus::Held, running, NOW),
            SeatStatus::Held
        );
    }

    #[test]
    fn sold_and_available_are_what_they_say() {
        assert_eq!(
            SeatStatus::derive(StoredSeatStatus::Sold, None, NOW),
            SeatStatus::Sold
        );
        assert_eq!(
            SeatStatus::derive(StoredSeatStatus::Available, None, NOW),
            SeatStatus::Available
        );
    }

    #[test]
    fn parses_the_stored_values() {
        assert_eq!(
            StoredSeatStatus::from_db("HELD"),
            Some(StoredSeatStatus::Held)
        );
        assert_eq!(StoredSeatStatus::from_db("held"), None);
    }
}
