//! A reservation's status as stored, and as its owner sees it.

use serde::Serialize;
use time::OffsetDateTime;

/// The `reservations.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredReservationStatus {
    Held,
    Confirmed,
    Expired,
    Released,
}

impl StoredReservationStatus {
    pub fn from_db(raw: &str) -> Option<Self> {
        match raw {
            "HELD" => Some(Self::Held),
            "CONFIRMED" => Some(Self::Confirmed),
            "EXPIRED" => Some(Self::Expired),
            "RELEASED" => Some(Self::Released),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Released,
}

impl ReservationStatus {
    /// A hold whose time has passed reads `expired` before the worker marks it.
    pub fn derive(
        stored: StoredReservationStatus,
        hold_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Self {
        match stored {
            StoredReservationStatus::Held if hold_expires_at < now => Self::Expired,
            StoredReservationStatus::Held => Self::Held,
            StoredReservationStatus::Confirmed => Self::Confirmed,
            StoredReservationStatus::Expired => Self::Expired,
            StoredReservationStatus::Released => Self::Released,
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
    fn a_held_reservation_past_its_expiry_reads_expired() {
        let status = ReservationStatus::derive(
            StoredReservationStatus::Held,
            NOW - Duration::seconds(1),
            NOW,
        );
        assert_eq!(status, ReservationStatus::Expired);
    }

    #[test]
    fn a_running_hold_reads_held_and_final_states_stay() {
        let later = NOW + Duration::seconds(60);
        assert_eq!(
            ReservationStatus::derive(StoredReservationStatus::Held, later, NOW),
            ReservationStatus::Held
        );
        let earlier = NOW - Duration::seconds(60);
        assert_eq!(
            ReservationStatus::derive(StoredReservationStatus::Confirmed, earlier, NOW),
            ReservationStatus::Confirmed
        );
        assert_eq!(
            ReservationStatus::derive(StoredReservationStatus::Released, later, NOW),
            ReservationStatus::Released
        );
    }
}
