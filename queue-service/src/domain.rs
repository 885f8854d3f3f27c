//! Queue rules that need neither HTTP nor Redis: config bounds, the wait
//! estimate and the polling cadence.

use serde::{Deserialize, Serialize};
use shared::queue::Millis;

/// Polling more often than the scheduler ticks tells the client nothing new.
const MIN_POLL_MS: u64 = 1_000;
/// Even far back in a huge line, a client hears from us at least this often.
const MAX_POLL_MS: u64 = 30_000;
/// A heartbeat interval of a third of the TTL tolerates two lost polls.
const POLLS_PER_HEARTBEAT_TTL: u64 = 3;
/// Guards the estimate against a division by zero. A valid config never
/// comes near it: its guaranteed rate is at least 1 / 86,400 per second.
const MIN_RATE_PER_SECOND: f64 = 1e-6;
const MAX_ESTIMATE_SECONDS: u64 = 7 * 24 * 3600;

/// How a queue admits users. Set by `PUT /v1/admin/queues/{queue_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Most users active (allowed to book) at once.
    pub max_active: u32,
    /// Most users promoted per second, averaged over time.
    pub admit_per_second: u32,
    /// How long a promoted user stays active.
    pub active_ttl_seconds: u32,
    /// Silence after which a waiting or active user is evicted.
    pub heartbeat_ttl_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQueueConfig(pub String);

impl QueueConfig {
    pub fn validate(&self) -> Result<(), InvalidQueueConfig> {
        let bounded = |name: &str, value: u32, max: u32| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(InvalidQueueConfig(format!(
                    "{name} must be between 1 and {max}"
                )))
            }
        };
        bounded("max_active", self.max_active, 1_000_000)?;
        // Above about `eviction_batch` per tick (10,000/s by default) this is
        // a ceiling, not a pace, when buyers do not finish: slots whose window
        // ran out are swept at most that many per tick, and a slot frees only
        // when swept. The scheduler setting is per replica, so it is not
        // checked here; see the README's configuration section.
        bounded("admit_per_second", self.admit_per_second, 100_000)?;
        bounded("active_ttl_seconds", self.active_ttl_seconds, 86_400)?;
        bounded("heartbeat_ttl_seconds", self.heartbeat_ttl_seconds, 3_600)?;
        if self.heartbeat_ttl_seconds > self.active_ttl_seconds {
            return Err(InvalidQueueConfig(
                "heartbeat_ttl_seconds must not exceed active_ttl_seconds".to_owned(),
            ));
        }
        Ok(())
    }

    pub fn active_ttl_ms(&self) -> u64 {
        u64::from(self.active_ttl_seconds) * 1000
    }

    pub fn heartbeat_ttl_ms(&self) -> u64 {
        u64::from(self.heartbeat_ttl_seconds) * 1000
    }
}

/// Where a token stands in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// 1-based position in line.
    Waiting {
        position: u64,
    },
    Active {
        until_ms: Millis,
    },
}

/// A token's standing plus what the estimate needs, as one script returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub seq: u64,
    pub place: Place,
    pub pace: Pace,
    pub heartbeat_ttl_ms: u64,
}

/// How fast the line moves, as the issue and heartbeat scripts see it.
///
/// The line moves at `admit_per_second` while there are free active slots,
/// and afterwards only as fast as active users hand slots back (they pay,
/// leave, go silent or run out of time). The scheduler measures that
/// hand-back rate (see `lua/tick.lua`); before it has, and whenever it
/// measures less, the estimate assumes the slowest rate the settings allow:
/// every active window ends within `active_ttl`, so `max_active` slots come
/// free per `active_ttl` at least. The estimate so never promises a wait
/// shorter than the settings can deliver when nobody finishes early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub admit_per_second: f64,
    pub max_active: u64,
    pub active_ttl_ms: u64,
    /// Active slots free right now.
    pub free_slots: u64,
    /// Smoothed rate at which slots come free with every slot taken, per
    /// second; `None` until the scheduler has measured it.
    pub measured_turnover: Option<f64>,
}

impl Pace {
    /// The slowest the line moves once every slot is taken.
    pub fn guaranteed_rate(&self) -> f64 {
        let per_window = self.max_active as f64 * 1000.0 / self.active_ttl_ms.max(1) as f64;
        per_window.min(self.admit_per_second)
    }

    /// Promotions per second once the free slots are taken: the measured
    /// turnover, never below the guaranteed rate nor above the admission
    /// rate.
    pub fn sustained_rate(&self) -> f64 {
        let floor = self.guaranteed_rate();
        self.measured_turnover
            .map_or(floor, |rate| rate.min(self.admit_per_second).max(floor))
    }
}

/// Seconds until `position` reaches the head: the users up to the free
/// slots at the admission rate, the rest at the sustained rate.
pub fn estimated_wait_seconds(position: u64, pace: &Pace) -> u64 {
    let into_free = position.min(pace.free_slots);
    let seconds = into_free as f64 / pace.admit_per_second.max(MIN_RATE_PER_SECOND)
        + (position - into_free) as f64 / pace.sustained_rate().max(MIN_RATE_PER_SECOND);
    // Round up, but not a float's last bit over a whole second.
    let seconds = (seconds - 1e-6).ceil().max(0.0);
    if seconds >= MAX_ESTIMATE_SECONDS as f64 {
        MAX_ESTIMATE_SECONDS
    } else {
        seconds as u64
    }
}

/// When the client should poll next. Near the head: every second, so a
/// promotion is noticed at once. Further back: a quarter of the estimated
/// wait, so a million clients do not poll every second. Always at most a
/// third of the heartbeat TTL (and 30 s), so a client that follows the
/// advice is never evicted. A deterministic ±10 % spread by sequence number
/// keeps clients that joined together from polling in lockstep.
pub fn poll_after_ms(standing: &Standing) -> u64 {
    let ceiling = (standing.heartbeat_ttl_ms / POLLS_PER_HEARTBEAT_TTL).clamp(1, MAX_POLL_MS);
    let floor = MIN_POLL_MS.min(ceiling);
    let wanted = match standing.place {
        Place::Waiting { position } => {
            estimated_wait_seconds(position, &standing.pace).saturating_mul(1000) / 4
        }
        Place::Active { .. } => ceiling,
    };
    let spread_permille = 900 + (standing.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 201;
    (wanted.saturating_mul(spread_permille) / 1000).clamp(floor, ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QueueConfig {
        QueueConfig {
            max_active: 100,
            admit_per_second: 10,
            active_ttl_seconds: 600,
            heartbeat_ttl_seconds: 60,
        }
    }

    /// A full line (no free slot) measured moving at `rate` per second, far
    /// above what the settings guarantee (one user per 10 minutes).
    fn pace(rate: f64) -> Pace {
        Pace {
            admit_per_second: 1_000.0,
            max_active: 1,
            active_ttl_ms: 600_000,
            free_slots: 0,
            measured_turnover: Some(rate),
        }
    }

    fn waiting(position: u64, rate: f64) -> Standing {
        Standing {
            seq: 7,
            place: Place::Waiting { position },
            pace: Pace {
                admit_per_second: rate,
                ..pace(rate)
            },
            heartbeat_ttl_ms: 60_000,
        }
    }

    #[test]
    fn accepts_a_sensible_config() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn rejects_zero_bounds() {
        for broken in [
            QueueConfig {
                max_active: 0,
                ..config()
            },
            QueueConfig {
                admit_per_second: 0,
                ..config()
            },
            QueueConfig {
                active_ttl_seconds: 0,
                ..config()
            },
            QueueConfig {
                heartbeat_ttl_seconds: 0,
                ..config()
            },
        ] {
            assert!(broken.validate().is_err(), "{broken:?}");
        }
    }

    #[test]
    fn rejects_heartbeat_ttl_longer_than_active_ttl() {
        let broken = QueueConfig {
            active_ttl_seconds: 30,
            heartbeat_ttl_seconds: 60,
            ..config()
        };
        assert!(
            broken
                .validate()
                .unwrap_err()
                .0
                .contains("heartbeat_ttl_seconds")
        );
    }

    #[test]
    fn estimate_is_position_over_rate_rounded_up() {
        assert_eq!(estimated_wait_seconds(100, &pace(10.0)), 10);
        assert_eq!(estimated_wait_seconds(101, &pace(10.0)), 11);
        assert_eq!(estimated_wait_seconds(1, &pace(2.0)), 1);
    }

    #[test]
    fn places_up_to_the_free_slots_move_at_the_admission_rate() {
        let pace = Pace {
            admit_per_second: 2.0,
            free_slots: 40,
            ..pace(0.5)
        };
        assert_eq!(estimated_wait_seconds(40, &pace), 20);
        assert_eq!(
            estimated_wait_seconds(41, &pace),
            22,
            "the 41st waits for a slot"
        );
    }

    #[test]
    fn before_any_measurement_the_slowest_rate_the_settings_allow_applies() {
        // 10 slots, each held for up to 600 s: 10 users per 10 minutes,
        // however fast admit_per_second would go.
        let pace = Pace {
            admit_per_second: 1_000.0,
            max_active: 10,
            active_ttl_ms: 600_000,
            free_slots: 10,
            measured_turnover: None,
        };
        assert!((pace.guaranteed_rate() - 10.0 / 600.0).abs() < 1e-12);
        assert_eq!(estimated_wait_seconds(190, &pace), 10_801);
        // When windows are short, admit_per_second is the bound.
        let fast = Pace {
            active_ttl_ms: 1_000,
            max_active: 5_000,
            ..pace
        };
        assert_eq!(fast.guaranteed_rate(), 1_000.0);
    }

    #[test]
    fn measured_turnover_is_bounded_by_the_guaranteed_and_the_admission_rate() {
        let pace = |measured| Pace {
            admit_per_second: 50.0,
            max_active: 2,
            active_ttl_ms: 600_000,
            free_slots: 0,
            measured_turnover: Some(measured),
        };
        assert_eq!(pace(20.0).sustained_rate(), 20.0);
        assert_eq!(pace(500.0).sustained_rate(), 50.0);
        assert_eq!(pace(0.0).sustained_rate(), 2.0 / 600.0);
    }

    #[test]
    fn stalled_line_gives_a_long_but_finite_estimate() {
        let stalled = Pace {
            max_active: 1,
            active_ttl_ms: 86_400_000,
            ..pace(0.0)
        };
        assert_eq!(estimated_wait_seconds(5, &stalled), 432_000);
        assert_eq!(
            estimated_wait_seconds(u64::MAX, &stalled),
            MAX_ESTIMATE_SECONDS
        );
    }

    #[test]
    fn head_of_line_polls_every_second() {
        assert_eq!(poll_after_ms(&waiting(1, 10.0)), 1_000);
    }

    #[test]
    fn polling_slows_with_position_and_stays_bounded() {
        let near = poll_after_ms(&waiting(50, 10.0));
        let far = poll_after_ms(&waiting(5_000, 10.0));
        let very_far = poll_after_ms(&waiting(1_000_000, 10.0));
        assert!(near < far, "{near} < {far}");
        assert!(far <= very_far);
        assert_eq!(very_far, 20_000, "a third of the 60 s heartbeat TTL");
    }

    #[test]
    fn polling_is_always_well_under_the_heartbeat_ttl() {
        for ttl_ms in [1_000, 2_000, 10_000, 60_000, 3_600_000] {
            for position in [1, 10, 1_000, 1_000_000] {
                for seq in 0..50 {
                    let standing = Standing {
                        seq,
                        heartbeat_ttl_ms: ttl_ms,
                        ..waiting(position, 3.0)
                    };
                    let poll = poll_after_ms(&standing);
                    assert!(poll >= 1 && poll <= ttl_ms / 3, "ttl {ttl_ms} poll {poll}");
                }
            }
        }
    }

    #[test]
    fn active_users_poll_at_the_ceiling() {
        let standing = Standing {
            place: Place::Active { until_ms: 0 },
            ..waiting(1, 10.0)
        };
        assert_eq!(poll_after_ms(&standing), 20_000);
    }

    #[test]
    fn clients_that_joined_together_spread_out() {
        let polls: std::collections::HashSet<u64> = (0..20)
            .map(|seq| {
                poll_after_ms(&Standing {
                    seq,
                    ..waiting(400, 10.0)
                })
            })
            .collect();
        assert!(polls.len() > 5, "{polls:?}");
    }
}
