//! Typed decoders of the scripts' replies. Every reply starts with an
//! outcome code; a code a decoder does not know, or a reply of the wrong
//! shape, is an error (`RedisFailure::BadReply`), never read as some
//! default outcome: a script and its decoder that disagree must fail loudly.

use shared::redis_pool::RedisFailure;

use shared::origin::SeatCounts;

use crate::domain::{Pace, Place, Standing};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IssueOutcome {
    Issued(Standing),
    /// Issued anew because the caller's active window had run out before
    /// the scheduler swept it: that place ended as an active expiry.
    IssuedAfterExpiry(Standing),
    Existing(Standing),
    QueueNotFound,
    /// The line holds `max_waiting` users already.
    QueueFull,
    RateLimited {
        retry_after_ms: u64,
        limit: IssueLimit,
    },
    /// The queue asks a proof of work of this difficulty, and none (or an
    /// easier one) was presented.
    PowRequired {
        difficulty_bits: u8,
    },
    /// The presented challenge was already used for a place.
    PowReused,
    /// No seat left and none held (only a new place is refused).
    SoldOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueLimit {
    Address,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeartbeatOutcome {
    Alive(Standing),
    /// Evicted, expired, left, completed, or its queue is gone (deleted, or
    /// forgotten by a Redis that lost its data).
    Gone,
}

/// What one tick did, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    pub promoted: u64,
    pub evicted_silent_waiting: u64,
    pub evicted_silent_active: u64,
    pub expired_active: u64,
    pub waiting: u64,
    pub active: u64,
    /// Outage time this tick found and credited to the queue's clock.
    pub credited_ms: u64,
    /// The admission rate now, after the origin's health had its say.
    pub effective_admit_per_second: f64,
    /// `Some(entrants)` when this tick opened the queue.
    pub opened_with_entrants: Option<u64>,
    /// For each sampled user this tick admitted: the wait they had minus
    /// the estimate they were given at join, ms (negative: sooner).
    pub estimate_errors_ms: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub max_active: u32,
    pub admit_per_second: u32,
    pub effective_admit_per_second: f64,
    pub seats: Option<SeatCounts>,
    pub opens_at_ms: Option<i64>,
    pub opening: Option<Opening>,
}

/// When a queue with a draw opened, and how many had entered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub opened_ms: i64,
    pub entrants: u64,
}

fn bad(script: &str, reply: &[i64]) -> RedisFailure {
    RedisFailure::BadReply(format!("{script} replied {reply:?}"))
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

/// What the issue script says besides its outcomes: the caller's draw seed
/// is not the queue's (reload it and try again).
pub(super) const ISSUE_STALE_DRAW_SEED: i64 = 10;

pub(super) fn issue(reply: &[i64]) -> Result<IssueOutcome, RedisFailure> {
    Ok(match reply {
        [0] => IssueOutcome::QueueNotFound,
        [1, ..] | [2, ..] => IssueOutcome::Existing(standing("issue", reply)?),
        [3, ..] => IssueOutcome::Issued(standing("issue", reply)?),
        [5, ..] => IssueOutcome::IssuedAfterExpiry(standing("issue", reply)?),
        [6] => IssueOutcome::QueueFull,
        &[7, retry_after_ms, limit] => IssueOutcome::RateLimited {
            retry_after_ms: count(retry_after_ms),
            limit: match limit {
                1 => IssueLimit::Address,
                2 => IssueLimit::User,
                _ => return Err(bad("issue", reply)),
            },
        },
        &[8, bits] => IssueOutcome::PowRequired {
            difficulty_bits: u8::try_from(bits).map_err(|_| bad("issue", reply))?,
        },
        [9] => IssueOutcome::PowReused,
        [12] => IssueOutcome::SoldOut,
        _ => return Err(bad("issue", reply)),
    })
}

pub(super) fn heartbeat(reply: &[i64]) -> Result<HeartbeatOutcome, RedisFailure> {
    Ok(match reply {
        [0] | [4] => HeartbeatOutcome::Gone,
        [1, ..] | [2, ..] => HeartbeatOutcome::Alive(standing("heartbeat", reply)?),
        _ => return Err(bad("heartbeat", reply)),
    })
}

pub(super) fn tick(reply: &[i64]) -> Result<Option<TickReport>, RedisFailure> {
    if reply == [-1] {
        return Ok(None);
    }
    let Some((
        &[
            promoted,
            silent_waiting,
            silent_active,
            expired,
            waiting,
            active,
            credited_ms,
            admit_milli,
            opened,
            entrants,
        ],
        estimate_errors_ms,
    )) = reply.split_first_chunk::<10>()
    else {
        return Err(bad("tick", reply));
    };
    Ok(Some(TickReport {
        promoted: count(promoted),
        evicted_silent_waiting: count(silent_waiting),
        evicted_silent_active: count(silent_active),
        expired_active: count(expired),
        waiting: count(waiting),
        active: count(active),
        credited_ms: count(credited_ms),
        effective_admit_per_second: count(admit_milli) as f64 / 1000.0,
        opened_with_entrants: match opened {
            0 => None,
            1 => Some(count(entrants)),
            _ => return Err(bad("tick", reply)),
        },
        estimate_errors_ms: estimate_errors_ms.to_vec(),
    }))
}

pub(super) fn stats(reply: &[i64]) -> Result<Option<QueueStats>, RedisFailure> {
    Ok(match *reply {
        [] => None,
        [
            max_active,
            admit_per_second,
            waiting,
            active,
            admit_milli,
            seats_left,
            seats_held,
            opens_at_ms,
            opened_ms,
            entrants,
        ] => Some(QueueStats {
            waiting: count(waiting),
            active: count(active),
            max_active: u32::try_from(max_active).unwrap_or(u32::MAX),
            admit_per_second: u32::try_from(admit_per_second).unwrap_or(u32::MAX),
            effective_admit_per_second: count(admit_milli) as f64 / 1000.0,
            seats: (seats_left >= 0).then(|| SeatCounts {
                left: count(seats_left),
                held: count(seats_held),
            }),
            opens_at_ms: (opens_at_ms > 0).then_some(opens_at_ms),
            opening: (opened_ms > 0).then(|| Opening {
                opened_ms,
                entrants: count(entrants),
            }),
        }),
        _ => return Err(bad("stats", reply)),
    })
}

/// Decodes `{outcome, seq, position, active_until_ms, turnover_micro,
/// heartbeat_ttl_ms, admit_milli, max_active, active_ttl_ms, free_slots,
/// since_last_poll_ms, min_poll_percent, seats_left, seats_held,
/// opens_at_ms, spread_ms, now_ms, waiting, poll_budget}`; outcome 2 is
/// active, every other one
/// waiting, or in the pre-queue when an opening is still to come.
fn standing(script: &str, reply: &[i64]) -> Result<Standing, RedisFailure> {
    let &[
        outcome,
        seq,
        position,
        active_until_ms,
        turnover_micro,
        heartbeat_ttl_ms,
        admit_milli,
        max_active,
        active_ttl_ms,
        free_slots,
        since_last_poll_ms,
        min_poll_percent,
        seats_left,
        seats_held,
        opens_at_ms,
        spread_ms,
        now_ms,
        waiting,
        poll_budget,
    ] = reply
    else {
        return Err(bad(script, reply));
    };
    let place = if outcome == 2 {
        Place::Active {
            until_ms: active_until_ms,
        }
    } else if opens_at_ms > 0 {
        Place::PreQueue { opens_at_ms }
    } else {
        Place::Waiting {
            position: count(position).max(1),
        }
    };
    Ok(Standing {
        seq: count(seq),
        place,
        pace: Pace {
            admit_per_second: count(admit_milli) as f64 / 1000.0,
            max_active: count(max_active),
            active_ttl_ms: count(active_ttl_ms),
            free_slots: count(free_slots),
            measured_turnover: (turnover_micro >= 0).then(|| turnover_micro as f64 / 1e6),
        },
        heartbeat_ttl_ms: count(heartbeat_ttl_ms),
        since_last_poll_ms: (since_last_poll_ms >= 0).then_some(since_last_poll_ms as u64),
        min_poll_percent: u32::try_from(min_poll_percent.max(0)).unwrap_or(100),
        seats: (seats_left >= 0).then(|| SeatCounts {
            left: count(seats_left),
            held: count(seats_held),
        }),
        spread_ms: count(spread_ms),
        now_ms,
        waiting: count(waiting),
        poll_budget_per_second: u32::try_from(poll_budget).ok().filter(|&budget| budget > 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAITING: [i64; 19] = [
        1, 7, 3, 0, -1, 60_000, 10_000, 100, 600_000, 0, 1_500, 50, -1, -1, 0, 30_000, 1_000, 40,
        5_000,
    ];

    #[test]
    fn unknown_outcome_codes_are_errors_not_defaults() {
        for reply in [vec![42], vec![10, 1], vec![]] {
            assert!(issue(&reply).is_err(), "{reply:?}");
            assert!(heartbeat(&reply).is_err(), "{reply:?}");
        }
        assert!(issue(&[7, 100, 3]).is_err(), "an unknown limit");
        assert!(tick(&[1, 2, 3]).is_err());
        assert!(stats(&[1, 2]).is_err());
    }

    #[test]
    fn a_standing_of_the_wrong_length_is_an_error() {
        assert!(heartbeat(&WAITING[..10]).is_err());
        assert!(issue(&[3, 1, 1]).is_err());
    }

    #[test]
    fn replies_decode_to_their_outcomes() {
        let Ok(HeartbeatOutcome::Alive(standing)) = heartbeat(&WAITING) else {
            panic!("waiting decodes as alive");
        };
        assert_eq!(standing.place, Place::Waiting { position: 3 });
        assert_eq!(standing.since_last_poll_ms, Some(1_500));
        assert_eq!(standing.waiting, 40);
        assert_eq!(standing.poll_budget_per_second, Some(5_000));
        assert_eq!(heartbeat(&[0]).unwrap(), HeartbeatOutcome::Gone);
        assert_eq!(
            issue(&[7, 2_500, 1]).unwrap(),
            IssueOutcome::RateLimited {
                retry_after_ms: 2_500,
                limit: IssueLimit::Address
            }
        );
        assert_eq!(
            issue(&[8, 18]).unwrap(),
            IssueOutcome::PowRequired {
                difficulty_bits: 18
            }
        );
        assert_eq!(issue(&[6]).unwrap(), IssueOutcome::QueueFull);
        assert_eq!(tick(&[-1]).unwrap(), None);
    }
}
