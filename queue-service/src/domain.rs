//! Queue rules that need neither HTTP nor Redis: config bounds, the wait
//! estimate and the polling cadence.

use serde::{Deserialize, Serialize};
use shared::queue::Millis;
use time::OffsetDateTime;

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
/// A pre-queue page far from the opening still checks in this often (the
/// opening may be moved, or the page reloaded elsewhere).
const MAX_PREQUEUE_POLL_MS: u64 = 600_000;
/// When the sale is ending (no more seats free than held), a waiting user
/// polls at least this often, so with a seat feed at most a second stale
/// they hear of a sell-out within five seconds.
const SALE_ENDING_POLL_MS: u64 = 3_500;

/// How a queue admits users. Set by `PUT /v1/admin/queues/{queue_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Most users active (allowed to book) at once.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub max_active: u32,
    /// Most users promoted per second, averaged over time.
    #[schema(minimum = 1, maximum = 100_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub admit_per_second: u32,
    /// How long a promoted user stays active.
    #[schema(minimum = 1, maximum = 86_400)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub active_ttl_seconds: u32,
    /// Silence after which a waiting or active user is evicted.
    #[schema(minimum = 1, maximum = 3_600)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub heartbeat_ttl_seconds: u32,
    /// Most users waiting at once: a full line refuses newcomers with 503
    /// `QUEUE_FULL` and `Retry-After`. Absent or null: no cap.
    #[serde(default, deserialize_with = "shared::json::optional_integer")]
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub max_waiting: Option<u32>,
    /// Proof of work asked of every newcomer, in leading zero bits of
    /// SHA-256 (see `POST /v1/queues/{queue_id}/challenges`); 0 asks none.
    #[serde(default, deserialize_with = "shared::json::integer")]
    #[schema(minimum = 0, maximum = 26)]
    pub pow_difficulty_bits: u8,
    /// Abuse limits; each has a default, and 0 turns a rate off.
    #[serde(default)]
    pub limits: AbuseLimits,
    /// RFC 3339. Before it, joiners enter a pre-queue (no position); at it,
    /// they are ordered by a draw anyone can check (see `GET
    /// /v1/queues/{queue_id}`), ahead of everyone who joins later. Absent
    /// or null: the queue is open from the start.
    #[serde(default, with = "shared::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<OffsetDateTime>,
    /// Pre-queue pages are told to poll at the opening plus a share of this
    /// window, their own, so a crowd's polls spread over it.
    #[serde(
        default = "default_prequeue_spread_seconds",
        deserialize_with = "shared::json::integer"
    )]
    #[schema(minimum = 0, maximum = 600, default = 30)]
    pub prequeue_spread_seconds: u32,
    /// Active users allowed per seat still for sale: with a concert feeding
    /// the queue, active ≤ min(max_active, ceil(seats_left × this)). 0: the
    /// queue does not follow the seats at all (no cap, no sold-out).
    #[serde(default = "default_admit_per_seat")]
    #[schema(minimum = 0.0, maximum = 100.0, default = 2.0)]
    pub admit_per_seat: f64,
    /// When the reservation service counts as unhealthy, slowing admission.
    #[serde(default)]
    pub origin: OriginLimits,
    /// Most polls per second the whole waiting line is advised to make:
    /// a user at position p of N waiting polls at most every p × H(N) / this
    /// seconds (H the harmonic number; capped at an hour), so the head still
    /// polls every second and the back rarely, and is evicted only after
    /// missing three of the polls it was advised. Absent or null: every
    /// waiting user polls within a third of the heartbeat TTL.
    #[serde(default, deserialize_with = "shared::json::optional_integer")]
    #[schema(minimum = 10, maximum = 10_000_000)]
    pub poll_budget_per_second: Option<u32>,
}

pub const DEFAULT_PREQUEUE_SPREAD_SECONDS: u32 = 30;
pub const DEFAULT_ADMIT_PER_SEAT: f64 = 2.0;

fn default_prequeue_spread_seconds() -> u32 {
    DEFAULT_PREQUEUE_SPREAD_SECONDS
}

fn default_admit_per_seat() -> f64 {
    DEFAULT_ADMIT_PER_SEAT
}

/// Thresholds on the reservation service's health, as its replicas report
/// it: beyond any of them, the queue halves its admission rate (down to
/// `min_admit_fraction` of `admit_per_second`); within all of them, it
/// climbs back by a fifteenth of `admit_per_second` a second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OriginLimits {
    /// p95 latency of gated requests (holds, payments), ms.
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1, maximum = 60_000)]
    pub max_p95_ms: u32,
    /// Share of gated requests answered 5xx.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub max_error_ratio: f64,
    /// Time to get a database connection from the pool, ms.
    #[serde(deserialize_with = "shared::json::integer")]
    #[schema(minimum = 1, maximum = 60_000)]
    pub max_pool_wait_ms: u32,
    /// The slowest the queue admits, as a share of `admit_per_second`.
    #[schema(minimum = 0.01, maximum = 1.0)]
    pub min_admit_fraction: f64,
}

/// The origin's health against one queue's thresholds, as the tick script
/// takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No replica reports: the rate stays where it is.
    Unknown,
    Healthy,
    Unhealthy,
}

impl OriginVerdict {
    pub fn code(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Healthy => 1,
            Self::Unhealthy => 2,
        }
    }
}

/// Below this many requests in a replica's window, its latency and error
/// ratio say too little to act on (one failure out of three is not 33 %
/// failing).
const MIN_REQUESTS_TO_JUDGE: u64 = 10;

impl OriginLimits {
    pub fn judge(&self, origin: Option<&shared::origin::OriginHealth>) -> OriginVerdict {
        let Some(origin) = origin else {
            return OriginVerdict::Unknown;
        };
        let pool_slow = origin.pool_wait_ms > f64::from(self.max_pool_wait_ms);
        let serving_badly = origin.requests >= MIN_REQUESTS_TO_JUDGE
            && (origin.p95_ms > f64::from(self.max_p95_ms)
                || origin.error_ratio > self.max_error_ratio);
        if pool_slow || serving_badly {
            OriginVerdict::Unhealthy
        } else {
            OriginVerdict::Healthy
        }
    }
}

impl OriginLimits {
    pub const DEFAULT: Self = Self {
        max_p95_ms: 1_000,
        max_error_ratio: 0.05,
        max_pool_wait_ms: 250,
        min_admit_fraction: 0.1,
    };
}

impl Default for OriginLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Limits that keep one client from crowding out the rest, shared by every
/// replica (kept in Redis). Only new places count against the issuance
/// limits; asking again for one's existing place is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AbuseLimits {
    /// New places per minute from one client address (an IPv6 /64 counts
    /// as one address); 0: unlimited.
    #[schema(minimum = 0, maximum = 100_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub issues_per_minute_per_address: u32,
    /// How many of those may come at once.
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub issue_burst_per_address: u32,
    /// New places per minute for one user; 0: unlimited.
    #[schema(minimum = 0, maximum = 100_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub issues_per_minute_per_user: u32,
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub issue_burst_per_user: u32,
    /// A waiting user's heartbeat that comes sooner than this percentage of
    /// the `poll_after_ms` it was given is refused (429); 0: never.
    #[schema(minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "shared::json::integer")]
    pub min_poll_interval_percent: u32,
}

impl Default for AbuseLimits {
    /// Generous enough for a household or an office behind one address
    /// joining within a minute, tight enough that a script on one address
    /// gets a handful of places, not thousands.
    fn default() -> Self {
        Self {
            issues_per_minute_per_address: 30,
            issue_burst_per_address: 10,
            issues_per_minute_per_user: 6,
            issue_burst_per_user: 3,
            min_poll_interval_percent: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQueueConfig(pub String);

/// Hardest proof of work a queue may ask: about 67 million hashes on
/// average, tens of seconds on a slow phone.
const MAX_POW_BITS: u8 = 26;

/// Names of the settings in the queue's Redis `config` hash.
mod field {
    pub const MAX_ACTIVE: &str = "max_active";
    pub const ADMIT_PER_SECOND: &str = "admit_per_second";
    pub const ACTIVE_TTL_MS: &str = "active_ttl_ms";
    pub const HEARTBEAT_TTL_MS: &str = "heartbeat_ttl_ms";
    pub const MAX_WAITING: &str = "max_waiting";
    pub const POW_BITS: &str = "pow_bits";
    pub const ISSUE_ADDRESS_PER_MINUTE: &str = "issue_address_per_minute";
    pub const ISSUE_ADDRESS_BURST: &str = "issue_address_burst";
    pub const ISSUE_USER_PER_MINUTE: &str = "issue_user_per_minute";
    pub const ISSUE_USER_BURST: &str = "issue_user_burst";
    pub const MIN_POLL_PERCENT: &str = "min_poll_percent";
    pub const OPENS_AT_MS: &str = "opens_at_ms";
    pub const SPREAD_MS: &str = "prequeue_spread_ms";
    pub const ADMIT_PER_SEAT: &str = "admit_per_seat";
    pub const ORIGIN_P95_MS: &str = "origin_max_p95_ms";
    pub const ORIGIN_ERROR_RATIO: &str = "origin_max_error_ratio";
    pub const ORIGIN_POOL_WAIT_MS: &str = "origin_max_pool_wait_ms";
    pub const MIN_ADMIT_FRACTION: &str = "origin_min_admit_fraction";
    pub const POLL_BUDGET: &str = "poll_budget";
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), InvalidQueueConfig> {
        let bounded = |name: &str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(InvalidQueueConfig(format!(
                    "{name} must be between {min} and {max}"
                )))
            }
        };
        bounded("max_active", self.max_active, 1, 1_000_000)?;
        // Above about `eviction_batch` per tick (10,000/s by default) this is
        // a ceiling, not a pace, when buyers do not finish: slots whose window
        // ran out are swept at most that many per tick, and a slot frees only
        // when swept. The scheduler setting is per replica, so it is not
        // checked here; see the README's configuration section.
        bounded("admit_per_second", self.admit_per_second, 1, 100_000)?;
        bounded("active_ttl_seconds", self.active_ttl_seconds, 1, 86_400)?;
        // A heartbeat TTL longer than the active window is allowed: active
        // users then never go silent long enough to be evicted before their
        // window ends. Every bound here is one a JSON schema can state.
        bounded(
            "heartbeat_ttl_seconds",
            self.heartbeat_ttl_seconds,
            1,
            3_600,
        )?;
        if let Some(max_waiting) = self.max_waiting {
            bounded("max_waiting", max_waiting, 1, 100_000_000)?;
        }
        if let Some(budget) = self.poll_budget_per_second {
            bounded("poll_budget_per_second", budget, 10, 10_000_000)?;
        }
        bounded(
            "pow_difficulty_bits",
            u32::from(self.pow_difficulty_bits),
            0,
            u32::from(MAX_POW_BITS),
        )?;
        let l = &self.limits;
        bounded(
            "limits.issues_per_minute_per_address",
            l.issues_per_minute_per_address,
            0,
            100_000,
        )?;
        bounded(
            "limits.issue_burst_per_address",
            l.issue_burst_per_address,
            1,
            10_000,
        )?;
        bounded(
            "limits.issues_per_minute_per_user",
            l.issues_per_minute_per_user,
            0,
            100_000,
        )?;
        bounded(
            "limits.issue_burst_per_user",
            l.issue_burst_per_user,
            1,
            10_000,
        )?;
        bounded(
            "limits.min_poll_interval_percent",
            l.min_poll_interval_percent,
            0,
            100,
        )?;
        bounded(
            "prequeue_spread_seconds",
            self.prequeue_spread_seconds,
            0,
            600,
        )?;
        let between = |name: &str, value: f64, min: f64, max: f64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(InvalidQueueConfig(format!(
                    "{name} must be between {min} and {max}"
                )))
            }
        };
        between("admit_per_seat", self.admit_per_seat, 0.0, 100.0)?;
        let o = &self.origin;
        bounded("origin.max_p95_ms", o.max_p95_ms, 1, 60_000)?;
        between("origin.max_error_ratio", o.max_error_ratio, 0.0, 1.0)?;
        bounded("origin.max_pool_wait_ms", o.max_pool_wait_ms, 1, 60_000)?;
        between("origin.min_admit_fraction", o.min_admit_fraction, 0.01, 1.0)?;
        Ok(())
    }

    /// The opening in Unix ms; one before 1970 is long past, and counts as
    /// the first millisecond of 1970 (0 is how the hash says "none").
    pub fn opens_at_ms(&self) -> Option<i64> {
        self.opens_at
            .map(|at| ((at.unix_timestamp_nanos() / 1_000_000) as i64).max(1))
    }

    pub fn active_ttl_ms(&self) -> u64 {
        u64::from(self.active_ttl_seconds) * 1000
    }

    pub fn heartbeat_ttl_ms(&self) -> u64 {
        u64::from(self.heartbeat_ttl_seconds) * 1000
    }

    /// The settings as the queue's Redis `config` hash stores them (every
    /// field, so an update replaces all of them).
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let l = &self.limits;
        let o = &self.origin;
        vec![
            (field::MAX_ACTIVE, self.max_active.to_string()),
            (field::ADMIT_PER_SECOND, self.admit_per_second.to_string()),
            (field::ACTIVE_TTL_MS, self.active_ttl_ms().to_string()),
            (field::HEARTBEAT_TTL_MS, self.heartbeat_ttl_ms().to_string()),
            (
                field::MAX_WAITING,
                self.max_waiting.unwrap_or(0).to_string(),
            ),
            (field::POW_BITS, self.pow_difficulty_bits.to_string()),
            (
                field::ISSUE_ADDRESS_PER_MINUTE,
                l.issues_per_minute_per_address.to_string(),
            ),
            (
                field::ISSUE_ADDRESS_BURST,
                l.issue_burst_per_address.to_string(),
            ),
            (
                field::ISSUE_USER_PER_MINUTE,
                l.issues_per_minute_per_user.to_string(),
            ),
            (field::ISSUE_USER_BURST, l.issue_burst_per_user.to_string()),
            (
                field::MIN_POLL_PERCENT,
                l.min_poll_interval_percent.to_string(),
            ),
            (
                field::OPENS_AT_MS,
                self.opens_at_ms().unwrap_or(0).to_string(),
            ),
            (
                field::SPREAD_MS,
                (u64::from(self.prequeue_spread_seconds) * 1000).to_string(),
            ),
            (field::ADMIT_PER_SEAT, self.admit_per_seat.to_string()),
            (field::ORIGIN_P95_MS, o.max_p95_ms.to_string()),
            (field::ORIGIN_ERROR_RATIO, o.max_error_ratio.to_string()),
            (field::ORIGIN_POOL_WAIT_MS, o.max_pool_wait_ms.to_string()),
            (field::MIN_ADMIT_FRACTION, o.min_admit_fraction.to_string()),
            (
                field::POLL_BUDGET,
                self.poll_budget_per_second.unwrap_or(0).to_string(),
            ),
        ]
    }

    /// Reads the hash back; `None` when a required field is missing or not
    /// a number (a queue written by something else). Fields added after a
    /// queue was configured take their defaults.
    pub fn from_fields(fields: &std::collections::HashMap<String, String>) -> Option<Self> {
        let get = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
        let float_or = |name: &str, default: f64| match fields.get(name) {
            None => Some(default),
            Some(v) => v.parse::<f64>().ok(),
        };
        let origin = OriginLimits::default();
        let get_u32 = |name: &str| get(name).and_then(|v| u32::try_from(v).ok());
        let defaults = AbuseLimits::default();
        let or = |name: &str, default: u32| match fields.get(name) {
            None => Some(default),
            Some(_) => get_u32(name),
        };
        Some(Self {
            max_active: get_u32(field::MAX_ACTIVE)?,
            admit_per_second: get_u32(field::ADMIT_PER_SECOND)?,
            active_ttl_seconds: u32::try_from(get(field::ACTIVE_TTL_MS)? / 1000).ok()?,
            heartbeat_ttl_seconds: u32::try_from(get(field::HEARTBEAT_TTL_MS)? / 1000).ok()?,
            max_waiting: Some(or(field::MAX_WAITING, 0)?).filter(|&v| v > 0),
            pow_difficulty_bits: u8::try_from(or(field::POW_BITS, 0)?).ok()?,
            limits: AbuseLimits {
                issues_per_minute_per_address: or(
                    field::ISSUE_ADDRESS_PER_MINUTE,
                    defaults.issues_per_minute_per_address,
                )?,
                issue_burst_per_address: or(
                    field::ISSUE_ADDRESS_BURST,
                    defaults.issue_burst_per_address,
                )?,
                issues_per_minute_per_user: or(
                    field::ISSUE_USER_PER_MINUTE,
                    defaults.issues_per_minute_per_user,
                )?,
                issue_burst_per_user: or(field::ISSUE_USER_BURST, defaults.issue_burst_per_user)?,
                min_poll_interval_percent: or(
                    field::MIN_POLL_PERCENT,
                    defaults.min_poll_interval_percent,
                )?,
            },
            opens_at: match get(field::OPENS_AT_MS) {
                None | Some(0) => None,
                Some(ms) => Some(
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?,
                ),
            },
            prequeue_spread_seconds: match get(field::SPREAD_MS) {
                None => default_prequeue_spread_seconds(),
                Some(ms) => u32::try_from(ms / 1000).ok()?,
            },
            admit_per_seat: float_or(field::ADMIT_PER_SEAT, default_admit_per_seat())?,
            origin: OriginLimits {
                max_p95_ms: or(field::ORIGIN_P95_MS, origin.max_p95_ms)?,
                max_error_ratio: float_or(field::ORIGIN_ERROR_RATIO, origin.max_error_ratio)?,
                max_pool_wait_ms: or(field::ORIGIN_POOL_WAIT_MS, origin.max_pool_wait_ms)?,
                min_admit_fraction: float_or(field::MIN_ADMIT_FRACTION, origin.min_admit_fraction)?,
            },
            poll_budget_per_second: Some(or(field::POLL_BUDGET, 0)?).filter(|&v| v > 0),
        })
    }
}

/// Where a token stands in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The queue has not opened yet: the place is in the draw (or behind
    /// it), and has no position until the opening.
    PreQueue {
        opens_at_ms: Millis,
    },
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
    /// Queue time since the user's previous sign of life, when this is a
    /// waiting user's heartbeat.
    pub since_last_poll_ms: Option<u64>,
    /// See [`AbuseLimits::min_poll_interval_percent`].
    pub min_poll_percent: u32,
    /// The sale's seats, when a concert feeds the queue.
    pub seats: Option<shared::origin::SeatCounts>,
    /// The window after the opening over which the pre-queue comes back:
    /// [`QueueConfig::prequeue_spread_seconds`], stretched under a poll
    /// budget (see `prequeue_window` in prelude.lua).
    pub spread_ms: u64,
    /// Redis's clock when the script ran.
    pub now_ms: Millis,
    /// Users waiting in line.
    pub waiting: u64,
    /// See [`QueueConfig::poll_budget_per_second`].
    pub poll_budget_per_second: Option<u32>,
}

impl Standing {
    /// No seat left and none held: nothing can come back.
    pub fn sold_out(&self) -> bool {
        self.seats.is_some_and(|s| s.left == 0 && s.held == 0)
    }
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

/// One newly issued waiting user in this many has the estimate they were
/// given kept, to be compared with the wait they have (an extra Redis
/// write each, so not every one).
const ESTIMATE_SAMPLE_EVERY: u64 = 16;

/// Whether this newcomer's estimate is kept for the honesty metric: one in
/// [`ESTIMATE_SAMPLE_EVERY`], by a hash of the sequence number (draw scores
/// are random, issue numbers consecutive; both spread evenly this way).
pub fn samples_estimate(seq: u64) -> bool {
    (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(ESTIMATE_SAMPLE_EVERY)
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
/// wait, so a million clients do not poll every second. At most a third of
/// the heartbeat TTL (and 30 s), so a client that follows the advice is
/// never evicted, unless the queue has a poll budget: then no sooner than
/// the budget's interval for the position (see [`budget_poll_ms`]), and the
/// scripts stretch that user's eviction grace to match. A deterministic
/// spread by sequence number keeps clients that joined together from
/// polling in lockstep.
pub fn poll_after_ms(standing: &Standing) -> u64 {
    let advised = cadence_poll_ms(standing);
    match (standing.place, standing.poll_budget_per_second) {
        (Place::Waiting { position }, Some(budget)) => {
            let interval = budget_poll_ms(position, standing.waiting, budget);
            // Stretched by 0–20 %, never shrunk: the budget stays a bound.
            let spread_permille =
                1000 + (standing.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 201;
            advised.max((interval * spread_permille as f64 / 1000.0).ceil() as u64)
        }
        _ => advised,
    }
}

/// Euler–Mascheroni constant: H(n) ≈ ln n + γ + 1 / 2n, a hair above the
/// true harmonic number, so the budget holds.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
/// Even a budget never tells a waiting user to stay away longer than this.
const MAX_BUDGET_POLL_MS: f64 = 3_600_000.0;

/// The poll budget's interval for `position` of a line of `waiting`, in ms:
/// position × H(N) / budget seconds, so the sum over the whole line of one
/// poll per interval is at most `budget`. The scripts compute the same
/// (`budget_poll_ms` in `shared/src/queue/lua/prelude.lua`) to size the
/// eviction grace.
pub fn budget_poll_ms(position: u64, waiting: u64, budget: u32) -> f64 {
    if budget == 0 || position == 0 {
        return 0.0;
    }
    let n = waiting.max(position) as f64;
    let harmonic = n.ln() + EULER_GAMMA + 1.0 / (2.0 * n);
    (position as f64 * harmonic * 1000.0 / f64::from(budget)).min(MAX_BUDGET_POLL_MS)
}

/// The advice without a budget: see [`poll_after_ms`].
fn cadence_poll_ms(standing: &Standing) -> u64 {
    let mut ceiling = (standing.heartbeat_ttl_ms / POLLS_PER_HEARTBEAT_TTL).clamp(1, MAX_POLL_MS);
    if standing.seats.is_some_and(|s| s.left <= s.held) {
        ceiling = ceiling.min(SALE_ENDING_POLL_MS);
    }
    let floor = MIN_POLL_MS.min(ceiling);
    let wanted = match standing.place {
        Place::Waiting { position } => {
            estimated_wait_seconds(position, &standing.pace).saturating_mul(1000) / 4
        }
        Place::Active { .. } => ceiling,
        Place::PreQueue { opens_at_ms } => return prequeue_poll_after_ms(standing, opens_at_ms),
    };
    let spread_permille = 900 + (standing.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 201;
    (wanted.saturating_mul(spread_permille) / 1000).clamp(floor, ceiling)
}

/// Before the opening: come back at the opening plus this user's own share
/// of the spread window (from a hash of its sequence number, so a crowd's
/// polls land evenly over the window), and at least every ten minutes.
fn prequeue_poll_after_ms(standing: &Standing, opens_at_ms: Millis) -> u64 {
    let share =
        (standing.seq.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 11) as f64 / (1u64 << 53) as f64;
    let target = opens_at_ms.saturating_add((standing.spread_ms as f64 * share) as i64);
    let wanted = u64::try_from(target.saturating_sub(standing.now_ms)).unwrap_or(0);
    wanted.clamp(MIN_POLL_MS, MAX_PREQUEUE_POLL_MS)
}

/// How much longer a waiting user should have waited before this poll, when
/// it came sooner than `min_poll_percent` of the interval it is advised
/// now. The advice at the previous poll was at least as long (the user was
/// no closer to the head then, and the advice shrinks towards the head), so
/// judging by the current advice never refuses a client that obeyed.
pub fn early_poll_wait_ms(standing: &Standing) -> Option<u64> {
    let (Place::Waiting { .. } | Place::PreQueue { .. }, Some(since_last)) =
        (standing.place, standing.since_last_poll_ms)
    else {
        return None;
    };
    let required = poll_after_ms(standing) * u64::from(standing.min_poll_percent.min(100)) / 100;
    (since_last < required).then(|| required - since_last)
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
            max_waiting: None,
            pow_difficulty_bits: 0,
            limits: AbuseLimits::default(),
            opens_at: None,
            prequeue_spread_seconds: DEFAULT_PREQUEUE_SPREAD_SECONDS,
            admit_per_seat: DEFAULT_ADMIT_PER_SEAT,
            poll_budget_per_second: None,
            origin: OriginLimits::DEFAULT,
        }
    }

    #[test]
    fn settings_round_trip_through_the_redis_hash() {
        let config = QueueConfig {
            max_waiting: Some(5_000),
            poll_budget_per_second: Some(50_000),
            pow_difficulty_bits: 18,
            limits: AbuseLimits {
                issues_per_minute_per_address: 0,
                ..AbuseLimits::default()
            },
            ..config()
        };
        let fields = config
            .to_fields()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_string()))
            .collect();
        assert_eq!(QueueConfig::from_fields(&fields), Some(config));
    }

    #[test]
    fn a_queue_stored_before_the_limits_existed_reads_with_the_defaults() {
        let fields = [
            ("max_active", "5"),
            ("admit_per_second", "2"),
            ("active_ttl_ms", "60000"),
            ("heartbeat_ttl_ms", "9000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let read = QueueConfig::from_fields(&fields).unwrap();
        assert_eq!(read.limits, AbuseLimits::default());
        assert_eq!((read.max_waiting, read.pow_difficulty_bits), (None, 0));
        assert_eq!(read.heartbeat_ttl_seconds, 9);
    }

    #[test]
    fn limits_and_proof_of_work_are_bounded() {
        let too_hard = QueueConfig {
            pow_difficulty_bits: 27,
            ..config()
        };
        assert!(too_hard.validate().is_err());
        let no_burst = QueueConfig {
            limits: AbuseLimits {
                issue_burst_per_user: 0,
                ..AbuseLimits::default()
            },
            ..config()
        };
        assert!(
            no_burst
                .validate()
                .unwrap_err()
                .0
                .contains("issue_burst_per_user")
        );
        let empty_line = QueueConfig {
            max_waiting: Some(0),
            ..config()
        };
        assert!(empty_line.validate().is_err());
    }

    #[test]
    fn a_poll_much_sooner_than_advised_is_early_but_an_obedient_one_is_not() {
        let standing = |since_last| Standing {
            since_last_poll_ms: Some(since_last),
            ..waiting(5_000, 10.0)
        };
        let advised = poll_after_ms(&standing(0));
        assert!(advised > 2_000, "{advised}");
        assert_eq!(early_poll_wait_ms(&standing(advised)), None);
        assert_eq!(early_poll_wait_ms(&standing(advised / 2)), None);
        assert_eq!(
            early_poll_wait_ms(&standing(100)),
            Some(advised / 2 - 100),
            "half the advice is the default tolerance"
        );
        let off = Standing {
            min_poll_percent: 0,
            ..standing(0)
        };
        assert_eq!(early_poll_wait_ms(&off), None);
        let active = Standing {
            place: Place::Active { until_ms: 0 },
            ..standing(0)
        };
        assert_eq!(
            early_poll_wait_ms(&active),
            None,
            "only waiting users are paced"
        );
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
            since_last_poll_ms: None,
            min_poll_percent: 50,
            seats: None,
            spread_ms: 30_000,
            now_ms: 1_000_000,
            waiting: position,
            poll_budget_per_second: None,
        }
    }

    /// Polls per second a whole line of `waiting` makes when every user
    /// follows the advice, for a line moving at `rate` per second.
    fn line_poll_rate(waiting: u64, rate: f64, budget: Option<u32>) -> f64 {
        (1..=waiting)
            .map(|position| {
                let standing = Standing {
                    seq: position,
                    waiting,
                    poll_budget_per_second: budget,
                    ..super::tests::waiting(position, rate)
                };
                1000.0 / poll_after_ms(&standing) as f64
            })
            .sum()
    }

    #[test]
    fn a_poll_budget_bounds_the_whole_lines_polls() {
        for (waiting, budget) in [
            // Without a budget this line polls about 51,000 times a second.
            (1_000_000, 5_000),
            (1_000_000, 50_000),
            (100_000, 1_000),
            (1_000, 100),
            (10, 10),
        ] {
            let without = line_poll_rate(waiting, 100.0, None);
            let with = line_poll_rate(waiting, 100.0, Some(budget));
            assert!(
                with <= f64::from(budget),
                "{waiting} waiting: {with} polls/s"
            );
            assert!(with <= without, "a budget never asks for more polls");
        }
    }

    #[test]
    fn a_budgeted_line_polls_every_second_at_the_head_and_rarely_at_the_back() {
        let budgeted = |position, waiting| Standing {
            waiting,
            poll_budget_per_second: Some(5_000),
            ..super::tests::waiting(position, 100.0)
        };
        assert_eq!(poll_after_ms(&budgeted(1, 1_000_000)), 1_000);
        // 1,000,000 × H(1,000,000) / 5,000 s ≈ 48 min, stretched up to 20 %.
        let back = poll_after_ms(&budgeted(1_000_000, 1_000_000));
        assert!((2_880_000..=3_460_000).contains(&back), "{back}");
        // Beyond an hour the interval stops growing.
        let capped = poll_after_ms(&budgeted(10_000_000, 10_000_000));
        assert!((3_600_000..=4_320_000).contains(&capped), "{capped}");
        let active = Standing {
            place: Place::Active { until_ms: 0 },
            ..budgeted(1, 1_000_000)
        };
        assert_eq!(
            poll_after_ms(&active),
            20_000,
            "active users keep the TTL cadence"
        );
    }

    #[test]
    fn pre_queue_pages_come_back_spread_over_the_window_after_the_opening() {
        let opens_at_ms = 1_000_000 + 120_000;
        let advice: Vec<u64> = (0..10_000u64)
            .map(|seq| {
                poll_after_ms(&Standing {
                    seq: seq * 7_919 + 1,
                    place: Place::PreQueue { opens_at_ms },
                    ..waiting(1, 1.0)
                })
            })
            .collect();
        assert!(advice.iter().all(|&a| (120_000..=150_000).contains(&a)));
        // Ten 3-second slices of the window each get about a tenth.
        let mut slices = [0u32; 10];
        for a in &advice {
            slices[(((a - 120_000) / 3_000) as usize).min(9)] += 1;
        }
        assert!(
            slices.iter().all(|&n| (800..=1_200).contains(&n)),
            "{slices:?}"
        );
        let far = Standing {
            place: Place::PreQueue {
                opens_at_ms: 1_000_000 + 86_400_000,
            },
            ..waiting(1, 1.0)
        };
        assert_eq!(poll_after_ms(&far), MAX_PREQUEUE_POLL_MS);
        let past = Standing {
            place: Place::PreQueue {
                opens_at_ms: 1_000_000 - 60_000,
            },
            spread_ms: 0,
            ..waiting(1, 1.0)
        };
        assert_eq!(poll_after_ms(&past), MIN_POLL_MS);
    }

    #[test]
    fn an_ending_sale_makes_the_line_poll_often_enough_to_hear_of_a_sell_out() {
        let far_back = |left, held| Standing {
            seats: Some(shared::origin::SeatCounts { left, held }),
            ..waiting(50_000, 1.0)
        };
        assert_eq!(poll_after_ms(&far_back(500, 20)), MAX_POLL_MS.min(20_000));
        assert!(poll_after_ms(&far_back(20, 20)) <= SALE_ENDING_POLL_MS);
        assert!(poll_after_ms(&far_back(0, 3)) <= SALE_ENDING_POLL_MS);
    }

    #[test]
    fn sold_out_means_nothing_left_and_nothing_held() {
        let with = |left, held| Standing {
            seats: Some(shared::origin::SeatCounts { left, held }),
            ..waiting(1, 1.0)
        };
        assert!(with(0, 0).sold_out());
        assert!(!with(0, 3).sold_out(), "held seats may come back");
        assert!(!with(1, 0).sold_out());
        assert!(!waiting(1, 1.0).sold_out(), "no feed, no sell-out");
    }

    #[test]
    fn the_origin_is_judged_against_the_queue_thresholds() {
        let limits = OriginLimits::DEFAULT;
        let origin = |requests, p95_ms, error_ratio, pool_wait_ms| shared::origin::OriginHealth {
            replicas: 1,
            requests,
            p95_ms,
            error_ratio,
            pool_wait_ms,
        };
        assert_eq!(limits.judge(None), OriginVerdict::Unknown);
        assert_eq!(
            limits.judge(Some(&origin(100, 40.0, 0.0, 1.0))),
            OriginVerdict::Healthy
        );
        assert_eq!(
            limits.judge(Some(&origin(100, 1_500.0, 0.0, 1.0))),
            OriginVerdict::Unhealthy
        );
        assert_eq!(
            limits.judge(Some(&origin(100, 40.0, 0.2, 1.0))),
            OriginVerdict::Unhealthy
        );
        assert_eq!(
            limits.judge(Some(&origin(0, 0.0, 0.0, 400.0))),
            OriginVerdict::Unhealthy,
            "a starved pool counts even without requests"
        );
        assert_eq!(
            limits.judge(Some(&origin(3, 5_000.0, 1.0, 1.0))),
            OriginVerdict::Healthy,
            "three requests are too few to judge by"
        );
    }

    #[test]
    fn an_opening_before_1970_counts_as_long_past() {
        let config = QueueConfig {
            opens_at: Some(shared::rfc3339::parse("0113-08-28T12:21:02Z").unwrap()),
            ..config()
        };
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.opens_at_ms(), Some(1));
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
    fn a_heartbeat_ttl_longer_than_the_active_window_is_allowed() {
        let long = QueueConfig {
            active_ttl_seconds: 30,
            heartbeat_ttl_seconds: 60,
            ..config()
        };
        assert_eq!(long.validate(), Ok(()));
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
