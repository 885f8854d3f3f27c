//! The last few seconds of API requests: how many, how many failed, and
//! their latency on a fixed log scale, so a p95 needs no stored samples.
//!
//! One slot per second in a small ring; recording is a handful of relaxed
//! atomic adds, with no lock shared by the server's workers. A slot is
//! claimed for a new second by compare-and-swap and zeroed by its claimer;
//! a request recorded by another worker in the same microsecond may be
//! lost to the zeroing, which a health signal can afford.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Seconds the figures cover: the current one and the four before it.
pub const WINDOW_SECONDS: u64 = 5;
/// One more slot than the window, so the slot being claimed for a new
/// second is never one still read as part of the window.
const SLOTS: usize = WINDOW_SECONDS as usize + 1;

/// Latency buckets: exact below 8 µs, then four per doubling (each at most
/// 25% wide), up to 2^26 µs (about 67 s), where everything slower lands.
const SUB_BUCKETS: u32 = 4;
const MAX_OCTAVE: u32 = 25;
const BUCKETS: usize = MAX_OCTAVE as usize * SUB_BUCKETS as usize;
const MAX_MICROS: u64 = (1 << (MAX_OCTAVE + 1)) - 1;

/// Bucket of a latency in µs.
fn bucket(micros: u64) -> usize {
    let micros = micros.clamp(1, MAX_MICROS);
    if micros < 8 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros();
    let sub = (micros >> (octave - 2)) & u64::from(SUB_BUCKETS - 1);
    ((octave - 1) * SUB_BUCKETS) as usize + sub as usize
}

/// The exclusive upper bound of a bucket, in µs: what a percentile that
/// falls in the bucket reports (never lower than the truth).
fn upper_bound_micros(index: usize) -> u64 {
    if index < 8 {
        return index as u64 + 1;
    }
    let octave = index as u32 / SUB_BUCKETS + 1;
    let sub = index as u64 % u64::from(SUB_BUCKETS);
    (u64::from(SUB_BUCKETS) + sub + 1) << (octave - 2)
}

struct Slot {
    /// The second (since an arbitrary origin) the counts belong to.
    second: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Slot {
    fn new() -> Self {
        Self {
            second: AtomicU64::new(u64::MAX),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The slot, zeroed if it still holds an older second.
    fn claim(&self, second: u64) -> &Self {
        let seen = self.second.load(Ordering::Acquire);
        if seen != second
            && self
                .second
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.errors.store(0, Ordering::Relaxed);
            for count in &self.latency {
                count.store(0, Ordering::Relaxed);
            }
        }
        self
    }
}

/// The figures over the window, as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowFigures {
    pub requests: u64,
    pub errors: u64,
    /// 0 without requests.
    pub p95_ms: f64,
}

impl WindowFigures {
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.errors.min(self.requests) as f64) / self.requests as f64
        }
    }
}

/// Requests of the last [`WINDOW_SECONDS`]; time comes in as whole seconds
/// from the caller (see [`super::RequestWindow`]), so tests drive the clock.
pub struct SlidingWindow {
    slots: [Slot; SLOTS],
}

impl Default for SlidingWindow {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot::new()),
        }
    }
}

impl SlidingWindow {
    pub fn record(&self, second: u64, latency: Duration, failed: bool) {
        let slot = self.slots[(second % SLOTS as u64) as usize].claim(second);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        slot.latency[bucket(micros)].fetch_add(1, Ordering::Relaxed);
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The figures of `second` and the seconds before it, within the window.
    pub fn figures(&self, second: u64) -> WindowFigures {
        let oldest = second.saturating_sub(WINDOW_SECONDS - 1);
        let mut requests = 0;
        let mut errors = 0;
        let mut latency = [0u64; BUCKETS];
        for slot in &self.slots {
            let at = slot.second.load(Ordering::Acquire);
            if !(oldest..=second).contains(&at) {
                continue;
            }
            requests += slot.requests.load(Ordering::Relaxed);
            errors += slot.errors.load(Ordering::Relaxed);
            for (sum, count) in latency.iter_mut().zip(&slot.latency) {
                *sum += count.load(Ordering::Relaxed);
            }
        }
        WindowFigures {
            requests,
            errors,
            p95_ms: percentile_ms(&latency, 0.95),
        }
    }
}

/// The upper bound of the bucket holding the `quantile` (nearest rank).
fn percentile_ms(latency: &[u64; BUCKETS], quantile: f64) -> f64 {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64) * quantile).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in latency.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return upper_bound_micros(index) as f64 / 1000.0;
        }
    }
    upper_bound_micros(BUCKETS - 1) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn buckets_tile_the_scale_and_bound_their_latencies_from_above() {
        let mut previous_upper = 1;
        for index in 1..BUCKETS {
            let upper = upper_bound_micros(index);
            assert!(upper > previous_upper, "bucket {index}");
            // Every latency in [previous upper, upper) lands in this bucket.
            assert_eq!(bucket(previous_upper), index, "lower edge of {index}");
            assert_eq!(bucket(upper - 1), index, "upper edge of {index}");
            if index >= 8 {
                assert!(
                    upper * 4 <= previous_upper * 5,
                    "bucket {index} wider than 25%"
                );
            }
            previous_upper = upper;
        }
        assert_eq!(bucket(0), 1, "a request faster than 1 µs counts as 1 µs");
        assert_eq!(
            bucket(u64::MAX),
            BUCKETS - 1,
            "the slowest share one bucket"
        );
    }

    #[test]
    fn p95_is_the_latency_below_which_95_percent_of_requests_fell() {
        let window = SlidingWindow::default();
        for _ in 0..95 {
            window.record(100, ms(10), false);
        }
        for _ in 0..5 {
            window.record(100, ms(800), false);
        }
        let figures = window.figures(100);
        assert_eq!(figures.requests, 100);
        assert!((10.0..=12.5).contains(&figures.p95_ms), "{figures:?}");

        window.record(101, ms(800), false);
        let p95 = window.figures(101).p95_ms;
        assert!(
            (800.0..=1000.0).contains(&p95),
            "one more slow request tips it: {p95}"
        );
    }

    #[test]
    fn errors_are_a_share_of_the_requests() {
        let window = SlidingWindow::default();
        for i in 0..40 {
            window.record(7, ms(3), i % 4 == 0);
        }
        let figures = window.figures(7);
        assert_eq!((figures.requests, figures.errors), (40, 10));
        assert!((figures.error_ratio() - 0.25).abs() < 1e-12);
        assert_eq!(
            window.figures(1_000).error_ratio(),
            0.0,
            "no requests, no errors"
        );
    }

    #[test]
    fn requests_leave_the_window_after_five_seconds() {
        let window = SlidingWindow::default();
        window.record(10, ms(500), true);
        window.record(12, ms(2), false);
        assert_eq!(window.figures(14).requests, 2, "10 to 14 is five seconds");
        let later = window.figures(15);
        assert_eq!((later.requests, later.errors), (1, 0));
        assert!(later.p95_ms < 5.0, "the slow request left with its second");
        assert_eq!(window.figures(17).requests, 0);
        assert_eq!(window.figures(17).p95_ms, 0.0);
    }

    #[test]
    fn a_slot_reused_for_a_new_second_starts_from_zero() {
        let window = SlidingWindow::default();
        for _ in 0..50 {
            window.record(3, ms(1), true);
        }
        // Second 9 shares second 3's slot in the ring of six.
        window.record(9, ms(1), false);
        let figures = window.figures(9);
        assert_eq!((figures.requests, figures.errors), (1, 0));
    }

    #[test]
    fn concurrent_recording_loses_nothing_within_one_second() {
        let window = std::sync::Arc::new(SlidingWindow::default());
        window.record(42, ms(1), false);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let window = window.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        window.record(42, Duration::from_micros(i % 5_000), i % 10 == 0);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let figures = window.figures(42);
        assert_eq!(figures.requests, 80_001);
        assert_eq!(figures.errors, 8_000);
    }
}
