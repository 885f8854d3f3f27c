//! A poll budget over a line of a million. Clients sampled at every scale
//! of position (a few per power of two) obey `poll_after_ms` in virtual
//! time: the test moves the queue's clock forward a second at a time (queue
//! time is what every silence is measured on, see prelude.lua) and ticks by
//! hand, so hours of a sale run in seconds. Each sample stands for the
//! users around its position, who would be told the same; those users are
//! in line but send nothing, so they are kept out of the silence sweep
//! rather than simulated one by one.
//!
//! Shown: the advice and the polls actually made both stay within the
//! budget; no obedient client is ever evicted or refused as early, however
//! long it was told to stay away; a client that stops polling goes after
//! three of its intervals (near the head: after the heartbeat TTL).

use std::collections::BTreeMap;

use deadpool_redis::redis;
use futures_util::future::join_all;
use queue_service::domain::{
    QueueConfig, Standing, budget_poll_ms, early_poll_wait_ms, poll_after_ms,
};
use queue_service::store::{HeartbeatOutcome, QueueStore};
use shared::ids::{QueueId, UserId};
use shared::token::QueueTicket;
use tests::load::fixtures::{NO_LIMITS, bench_user, preload_waiting};
use tests::queue_app::{QueueAppOptions, TestQueueApp, line_up, queue_config, spawn_queue_app};
use tests::redis_server::ThrowawayRedis;

const WAITING: u64 = 1_000_000;
const BUDGET: u32 = 20_000;
const HEARTBEAT_TTL_SECONDS: u32 = 30;
/// Obedient clients per power-of-two band of positions.
const SAMPLES_PER_BAND: u64 = 8;
/// Long enough for the back of the line to poll three times.
const VIRTUAL_SECONDS: u64 = 2_700;

struct Client {
    ticket: QueueTicket,
    band: u32,
    due_s: u64,
    polls: u64,
}

fn band_of(position: u64) -> u32 {
    63 - position.leading_zeros()
}

/// Users at positions 1..=WAITING-1 in each band: the band's weight.
fn band_sizes() -> BTreeMap<u32, u64> {
    let mut sizes = BTreeMap::new();
    for band in 0..64 {
        let from = 1u64 << band;
        if from >= WAITING {
            break;
        }
        let to = (from << 1).min(WAITING);
        sizes.insert(band, to - from);
    }
    sizes
}

/// Positions sampled in each band, evenly spread over it.
fn sampled_positions() -> Vec<u64> {
    band_sizes()
        .into_iter()
        .flat_map(|(band, size)| {
            let from = 1u64 << band;
            let n = SAMPLES_PER_BAND.min(size);
            (0..n).map(move |k| from + k * size / n)
        })
        .collect()
}

/// The preloaded user standing at `position` once the first one (index 0,
/// see `bench_user`) has been admitted.
fn at_position(queue: &QueueId, position: u64) -> QueueTicket {
    let index = position;
    QueueTicket {
        queue_id: queue.clone(),
        user_id: UserId::parse(&bench_user(index)).unwrap(),
        seq: index + 1,
    }
}

async fn poll(store: &QueueStore, ticket: &QueueTicket) -> Standing {
    match store.heartbeat(ticket).await.expect("heartbeat runs") {
        HeartbeatOutcome::Alive(standing) => standing,
        HeartbeatOutcome::Gone => panic!("{} was evicted", ticket.user_id),
    }
}

/// Moves the queue's clock `ms` forward (queue time is Redis time minus
/// the credited pause).
async fn advance_queue_clock(app: &TestQueueApp, queue: &QueueId, ms: i64) {
    let keys = app.store.pool().keyspace().queue(queue);
    let mut conn = app.store.pool().get().await.unwrap();
    let _: i64 = redis::cmd("HINCRBY")
        .arg(keys.state())
        .arg("paused_ms")
        .arg(-ms)
        .query_async(&mut conn)
        .await
        .unwrap();
}

async fn in_line(app: &TestQueueApp, queue: &QueueId, user: &UserId) -> bool {
    let keys = app.store.pool().keyspace().queue(queue);
    let mut conn = app.store.pool().get().await.unwrap();
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(keys.line())
        .arg(user.as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    score.is_some()
}

/// Leaves only `kept` in the silence sweep's set: the rest of the line are
/// stand-ins whose polls their sampled neighbours make.
async fn keep_in_sweep(app: &TestQueueApp, queue: &QueueId, kept: &[UserId]) {
    let keys = app.store.pool().keyspace().queue(queue);
    let scratch = format!("{}:kept", keys.seen());
    let mut conn = app.store.pool().get().await.unwrap();
    let mut add = redis::cmd("ZADD");
    add.arg(&scratch);
    for user in kept {
        add.arg(0).arg(user.as_str());
    }
    let _: i64 = add.query_async(&mut conn).await.unwrap();
    let _: i64 = redis::cmd("ZINTERSTORE")
        .arg(keys.seen())
        .arg(2)
        .arg(keys.seen())
        .arg(&scratch)
        .arg("WEIGHTS")
        .arg(1)
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&scratch)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Polls per second of the whole line, from each band's samples.
fn line_rate(sizes: &BTreeMap<u32, u64>, per_band: &BTreeMap<u32, (f64, u64)>) -> f64 {
    per_band
        .iter()
        .map(|(band, &(sum, n))| sizes[band] as f64 * sum / n as f64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_line_of_a_million_polls_within_its_budget_and_only_the_silent_are_evicted() {
    // A Redis of its own: filling a line of a million would slow the
    // machine's shared Redis under every other test.
    let redis = tokio::task::spawn_blocking(ThrowawayRedis::start)
        .await
        .unwrap();
    let app = spawn_queue_app(QueueAppOptions {
        redis_url: redis.url(),
        ..QueueAppOptions::without_scheduler()
    })
    .await;
    // One active slot that nobody frees for a day: the line stands still,
    // so every sample keeps its position.
    let config = QueueConfig {
        limits: NO_LIMITS,
        poll_budget_per_second: Some(BUDGET),
        admit_per_seat: 0.0,
        ..queue_config(1, 1, 86_400, HEARTBEAT_TTL_SECONDS)
    };
    let queue = app.create_queue("budget", config).await;
    let store = &app.store;
    // The first user takes the slot; then the rest line up (filling a line
    // of a million takes longer than the TTL, so no tick runs until the
    // samples have polled).
    preload_waiting(store.pool(), &queue, 0, 1).await.unwrap();
    assert_eq!(app.tick(&queue).await.promoted, 1);
    let started = std::time::Instant::now();
    preload_waiting(store.pool(), &queue, 1, WAITING)
        .await
        .expect("a million in line");
    eprintln!("poll budget: {WAITING} lined up in {:?}", started.elapsed());

    let sizes = band_sizes();
    let mut clients: Vec<Client> = sampled_positions()
        .into_iter()
        .map(|position| Client {
            ticket: at_position(&queue, position),
            band: band_of(position),
            due_s: 0,
            polls: 0,
        })
        .collect();
    // Positions no sample holds.
    let near_silent = at_position(&queue, 17);
    let far_silent = at_position(&queue, 900_001);
    assert!(!sampled_positions().iter().any(|&p| p == 17 || p == 900_001));
    let mut kept: Vec<UserId> = clients.iter().map(|c| c.ticket.user_id.clone()).collect();
    kept.extend([near_silent.user_id.clone(), far_silent.user_id.clone()]);
    keep_in_sweep(&app, &queue, &kept).await;

    // The silent pair poll once, as everyone does on joining, then never.
    let near_advice = poll_after_ms(&poll(store, &near_silent).await);
    let far_standing = poll(store, &far_silent).await;
    let far_advice = poll_after_ms(&far_standing);
    let far_budget_ms = budget_poll_ms(900_001, far_standing.waiting, BUDGET);
    let mut evicted_at: BTreeMap<&str, u64> = BTreeMap::new();

    let mut advised: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
    let mut unbudgeted: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
    let mut longest_advice = 0;
    let mut refused_early = 0;
    let mut evicted = 0;
    for now_s in 0..=VIRTUAL_SECONDS {
        if now_s > 0 {
            advance_queue_clock(&app, &queue, 1_000).await;
        }
        let due: Vec<usize> = (0..clients.len())
            .filter(|&i| clients[i].due_s <= now_s)
            .collect();
        let standings = join_all(due.iter().map(|&i| poll(store, &clients[i].ticket))).await;
        for (&i, standing) in due.iter().zip(standings) {
            let client = &mut clients[i];
            if early_poll_wait_ms(&standing).is_some() {
                refused_early += 1;
            }
            let advice = poll_after_ms(&standing);
            if now_s == 0 {
                let entry = advised.entry(client.band).or_default();
                entry.0 += 1000.0 / advice as f64;
                entry.1 += 1;
                let without = poll_after_ms(&Standing {
                    poll_budget_per_second: None,
                    ..standing
                });
                let entry = unbudgeted.entry(client.band).or_default();
                entry.0 += 1000.0 / without as f64;
                entry.1 += 1;
            } else {
                client.polls += 1;
            }
            longest_advice = longest_advice.max(advice);
            // Obedient, to the next whole second of virtual time.
            client.due_s = now_s + advice.div_ceil(1000);
        }
        let report = app.tick(&queue).await;
        evicted += report.evicted_silent_waiting + report.evicted_silent_active;
        if report.evicted_silent_waiting > 0 {
            for (name, silent) in [("near", &near_silent), ("far", &far_silent)] {
                if !evicted_at.contains_key(name) && !in_line(&app, &queue, &silent.user_id).await {
                    evicted_at.insert(name, now_s);
                }
            }
        }
        assert_eq!(
            evicted,
            evicted_at.len() as u64,
            "at {now_s} s: only the silent pair may be evicted"
        );
    }

    let advised_rate = line_rate(&sizes, &advised);
    let without_rate = line_rate(&sizes, &unbudgeted);
    let realized: BTreeMap<u32, (f64, u64)> =
        clients.iter().fold(BTreeMap::new(), |mut acc, client| {
            let entry = acc.entry(client.band).or_default();
            entry.0 += client.polls as f64 / VIRTUAL_SECONDS as f64;
            entry.1 += 1;
            acc
        });
    let realized_rate = line_rate(&sizes, &realized);
    let polls: u64 = clients.iter().map(|c| c.polls).sum();
    eprintln!(
        "poll budget: {WAITING} waiting, budget {BUDGET}/s: advised {advised_rate:.0} polls/s \
         (without the budget {without_rate:.0}/s); realized over {VIRTUAL_SECONDS} virtual s by \
         {} sampled clients ({polls} polls): {realized_rate:.0} polls/s; longest advice {:.0} s; \
         silent near the head evicted after {:?} s (advised {} ms, TTL {HEARTBEAT_TTL_SECONDS} s); \
         silent at 900,001 evicted after {:?} s (advised {:.0} s)",
        clients.len(),
        longest_advice as f64 / 1000.0,
        evicted_at.get("near"),
        near_advice,
        evicted_at.get("far"),
        far_advice as f64 / 1000.0,
    );

    assert!(advised_rate <= f64::from(BUDGET), "advised {advised_rate}");
    assert!(
        realized_rate <= f64::from(BUDGET),
        "realized {realized_rate}"
    );
    assert!(
        without_rate > 2.0 * f64::from(BUDGET),
        "the budget matters here: {without_rate} polls/s without it"
    );
    assert!(
        longest_advice > u64::from(HEARTBEAT_TTL_SECONDS) * 1000 * 10,
        "the back is told to stay away far longer than the TTL: {longest_advice} ms"
    );
    assert_eq!(refused_early, 0, "an obedient client is never refused");
    // Every obedient client is still in line.
    for client in &clients {
        poll(store, &client.ticket).await;
    }

    let near = evicted_at["near"];
    assert!(
        (u64::from(HEARTBEAT_TTL_SECONDS)..=u64::from(HEARTBEAT_TTL_SECONDS) + 2).contains(&near),
        "near the head: evicted after the TTL, not {near} s"
    );
    let far = evicted_at["far"];
    let three_polls = 3 * far_advice / 1000;
    // The grace is three of the longest intervals the advice may give
    // (the budget's, stretched 20 %), rounded up to 16 s.
    let grace_bound = (3.0 * 1.2 * far_budget_ms / 1000.0) as u64 + 16 + 2;
    assert!(
        (three_polls..=grace_bound).contains(&far),
        "far back: evicted after {far} s, advised {far_advice} ms"
    );
}

#[tokio::test]
async fn under_a_budget_the_pre_queue_comes_back_over_a_longer_window_and_keeps_it() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let opening = |budget| QueueConfig {
        limits: NO_LIMITS,
        admit_per_seat: 0.0,
        // Already due: the next tick opens it.
        opens_at: Some(time::OffsetDateTime::now_utc() - time::Duration::seconds(1)),
        prequeue_spread_seconds: 0,
        poll_budget_per_second: budget,
        ..queue_config(10, 10, 600, 1)
    };
    let budgeted = app.create_queue("prequeue-budget", opening(Some(10))).await;
    let unbudgeted = app.create_queue("prequeue-plain", opening(None)).await;
    let tickets = line_up(&app.store, &budgeted, "fan-", 200).await;
    line_up(&app.store, &unbudgeted, "fan-", 200).await;
    let standing = poll(&app.store, &tickets[199]).await;
    // 200 pages at 10 polls/s come back over 20 s, not all at once.
    assert_eq!(standing.spread_ms, 20_000);
    let advice = poll_after_ms(&standing);
    assert!((1_000..=20_000).contains(&advice), "{advice}");

    // Opened; then five seconds of silence, on the queue's clock.
    for queue in [&budgeted, &unbudgeted] {
        assert_eq!(app.tick(queue).await.opened_with_entrants, Some(0));
        advance_queue_clock(&app, queue, 5_000).await;
    }
    assert_eq!(
        app.tick(&budgeted).await.evicted_silent_waiting,
        0,
        "nobody is evicted in the window they were told to come back in"
    );
    // Without a budget the window is the configured one (none): all but
    // the ten admitted at the opening go.
    assert_eq!(app.tick(&unbudgeted).await.evicted_silent_waiting, 190);
}
