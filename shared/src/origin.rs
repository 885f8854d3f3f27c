//! What the reservation service (the origin the queue protects) tells the
//! queue's scheduler through Redis, so admission can follow the seats that
//! are left and the origin's health without either service calling the
//! other: the seat counts of each queue, and each replica's health sample.

use crate::queue::Millis;

/// A queue's seat counts expire this long after they were written: a feed
/// that stops (no reservation replica running) reads as "no feed" soon
/// after, never as a sale frozen at its last figures.
pub const SEATS_TTL_MS: u64 = 3_000;

/// A replica's sample older than this is ignored (the replica died, or
/// cannot reach Redis).
pub const HEALTH_MAX_AGE_MS: Millis = 3_000;

/// Hash fields of `q:{id}:seats`.
pub mod seat_field {
    pub const LEFT: &str = "left";
    pub const HELD: &str = "held";
    pub const AT_MS: &str = "at_ms";
}

/// Seats of one queue across its bookable schedules: `left` can still be
/// held, `held` are held by someone and may come back if not paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatCounts {
    pub left: u64,
    pub held: u64,
}

/// One reservation replica's recent behaviour, over its last few seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSample {
    /// When it was taken (Unix ms).
    pub at_ms: Millis,
    /// API requests answered in the window the figures cover.
    pub requests: u64,
    /// 95th percentile latency of those requests.
    pub p95_ms: f64,
    /// Share of them answered 5xx (503 included).
    pub error_ratio: f64,
    /// How long acquiring a database connection took, at the last probe.
    pub pool_wait_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed origin health sample {0:?}")]
pub struct MalformedSample(pub String);

const SAMPLE_VERSION: &str = "v1";

impl HealthSample {
    /// `v1 <at_ms> <requests> <p95_ms> <error_ratio> <pool_wait_ms>`
    pub fn encode(&self) -> String {
        format!(
            "{SAMPLE_VERSION} {} {} {:.3} {:.5} {:.3}",
            self.at_ms, self.requests, self.p95_ms, self.error_ratio, self.pool_wait_ms
        )
    }

    pub fn decode(text: &str) -> Result<Self, MalformedSample> {
        let malformed = || MalformedSample(text.chars().take(100).collect());
        let mut parts = text.split(' ');
        if parts.next() != Some(SAMPLE_VERSION) {
            return Err(malformed());
        }
        let mut next = || parts.next().ok_or_else(malformed);
        let at_ms = next()?.parse().map_err(|_| malformed())?;
        let requests = next()?.parse().map_err(|_| malformed())?;
        let mut figure = || -> Result<f64, MalformedSample> {
            next()?
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(malformed)
        };
        let sample = Self {
            at_ms,
            requests,
            p95_ms: figure()?,
            error_ratio: figure()?,
            pool_wait_ms: figure()?,
        };
        if parts.next().is_some() || sample.error_ratio > 1.0 {
            return Err(malformed());
        }
        Ok(sample)
    }
}

/// The origin as a whole: the worst replica's latency and pool wait (a
/// user sent to a slow replica waits as long), and the error ratio over
/// every replica's requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OriginHealth {
    pub replicas: usize,
    pub requests: u64,
    pub p95_ms: f64,
    pub error_ratio: f64,
    pub pool_wait_ms: f64,
}

/// Combines the samples still fresh at `now_ms`; `None` when none is.
/// Latency counts only from replicas that served requests (an idle replica
/// has no latency to report), the pool probe from every fresh replica.
pub fn combine(
    samples: impl IntoIterator<Item = HealthSample>,
    now_ms: Millis,
) -> Option<OriginHealth> {
    let mut origin: Option<OriginHealth> = None;
    let mut errors = 0.0;
    for sample in samples {
        if now_ms - sample.at_ms > HEALTH_MAX_AGE_MS {
            continue;
        }
        let o = origin.get_or_insert(OriginHealth {
            replicas: 0,
            requests: 0,
            p95_ms: 0.0,
            error_ratio: 0.0,
            pool_wait_ms: 0.0,
        });
        o.replicas += 1;
        o.requests += sample.requests;
        if sample.requests > 0 {
            o.p95_ms = o.p95_ms.max(sample.p95_ms);
        }
        o.pool_wait_ms = o.pool_wait_ms.max(sample.pool_wait_ms);
        errors += sample.error_ratio * sample.requests as f64;
    }
    if let Some(o) = origin.as_mut().filter(|o| o.requests > 0) {
        o.error_ratio = errors / o.requests as f64;
    }
    origin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: Millis, requests: u64, p95_ms: f64, error_ratio: f64) -> HealthSample {
        HealthSample {
            at_ms,
            requests,
            p95_ms,
            error_ratio,
            pool_wait_ms: 2.0,
        }
    }

    #[test]
    fn a_sample_survives_its_encoding() {
        let s = sample(1_700_000_000_123, 412, 37.25, 0.0125);
        assert_eq!(HealthSample::decode(&s.encode()), Ok(s));
    }

    #[test]
    fn malformed_samples_are_refused() {
        for text in [
            "",
            "v2 1 2 3 0.1 4",
            "v1 1 2 3 0.1",
            "v1 1 2 3 1.5 4",
            "v1 1 2 NaN 0 4",
            "v1 1 2 -3 0 4",
            "v1 1 2 3 0 4 5",
        ] {
            assert!(HealthSample::decode(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_origin_is_its_worst_replica_and_its_overall_error_ratio() {
        let now = 10_000;
        let combined = combine(
            [
                sample(now - 500, 300, 40.0, 0.0),
                sample(now - 800, 100, 900.0, 0.2),
                sample(now - 100, 0, 0.0, 0.0),
                sample(now - 5_000, 1_000, 5_000.0, 1.0),
            ],
            now,
        )
        .unwrap();
        assert_eq!(combined.replicas, 3, "the stale replica is ignored");
        assert_eq!(combined.requests, 400);
        assert_eq!(combined.p95_ms, 900.0);
        assert!((combined.error_ratio - 0.05).abs() < 1e-9);
        assert_eq!(combine([sample(0, 10, 1.0, 0.0)], now), None);
    }
}
