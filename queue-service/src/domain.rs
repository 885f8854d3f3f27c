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
/// Slowest admission rate an estimate assumes, so a stalled line reads as
/// a very long wait rather than a division by zero.
const MIN_RATE_PER_SECOND: f64 = 0.01;
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
    /// Smoothed measured admissions per second.
    pub admission_rate: f64,
    pub heartbeat_ttl_ms: u64,
}

/// Seconds until `position` reaches the head at `admission_rate`.
pub fn estimated_wait_seconds(position: u64, admission_rate: f64) -> u64 {
    let rate = admission_rate.max(MIN_RATE_PER_SECOND);
    let seconds = (position as f64 / rate).ceil();
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
            estimated_wait_seconds(position, standing.admission_rate).saturating_mul(1000) / 4
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

    fn waiting(position: u64, rate: f64) -> Standing {
        Standing {
            seq: 7,
            place: Place::Waiting { position },
            admission_rate: rate,
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
        assert_eq!(estimated_wait_seconds(100, 10.0), 10);
        assert_eq!(estimated_wait_seconds(101, 10.0), 11);
        assert_eq!(estimated_wait_seconds(1, 2.0), 1);
    }

    #[test]
    fn stalled_line_gives_a_long_but_finite_estimate() {
        assert_eq!(estimated_wait_seconds(10, 0.0), 1_000);
        assert_eq!(estimated_wait_seconds(u64::MAX, 0.0), MAX_ESTIMATE_SECONDS);
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
