//! The benchmark suite behind `scripts/bench.sh`: every figure is measured
//! beside its ceiling on the same machine in the same run, and printed as a
//! table (the one recorded in BENCHMARKS.md).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use deadpool_redis::redis;
use queue_service::domain::QueueConfig;
use queue_service::store::{QueueStore, lua, status_keys};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::config::RedisSettings;
use shared::ids::{QueueId, UserId};
use shared::queue::queue_script_source;
use shared::redis_pool::RedisPool;
use shared::token::TokenCodec;
use sqlx::mysql::MySqlPoolOptions;
use tokio::sync::Barrier;

use super::fixtures::{admit, bench_token, bench_user, preload_waiting};
use super::http1::{Http1Connection, request};
use super::runner::{LoadReport, LoadSpec, RequestMaker, run, run_fixed};

mod cluster;
pub use cluster::ClusterTarget;

/// Where the services and their stores run, and how long to measure.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub queue_addr: SocketAddr,
    pub reservation_addr: SocketAddr,
    pub redis_url: String,
    pub redis_port: u16,
    pub mysql_url: String,
    pub token_secret: String,
    pub admin_key: String,
    pub queue_pid: Option<u32>,
    pub reservation_pid: Option<u32>,
    /// A few seconds in all, tiny populations: proves the harness works.
    pub smoke: bool,
    /// Scenario groups to run (`queue`, `limits`, `line`, `ticks`,
    /// `polling`, `cluster`, `holds`, `hot-seat`, `payments`); all when
    /// empty.
    pub only: Vec<String>,
    /// A queue service on a Redis Cluster, for the `cluster` group (which
    /// is skipped without one unless asked for by name).
    pub cluster: Option<ClusterTarget>,
}

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub ours: String,
    pub ceiling: String,
    pub ratio: String,
    pub target: String,
    pub verdict: String,
}

impl Row {
    fn new(scenario: impl Into<String>, ours: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            ours: ours.into(),
            ceiling: "—".into(),
            ratio: "—".into(),
            target: "—".into(),
            verdict: String::new(),
        }
    }

    fn against(mut self, ceiling: impl Into<String>, ratio: f64) -> Self {
        self.ceiling = ceiling.into();
        self.ratio = format!("{ratio:.2}");
        self
    }

    fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.verdict = if met { "met" } else { "MISSED" }.into();
        self
    }
}

pub fn render_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | ours | ceiling (same run) | ratio | target | |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.scenario, row.ours, row.ceiling, row.ratio, row.target, row.verdict
        ));
    }
    out
}

struct Sizes {
    /// Each ratio is the median of this many alternating rounds of ours and
    /// the ceiling, so a passing disturbance does not decide it.
    rounds: usize,
    seconds: f64,
    warmup: f64,
    big_line: u64,
    small_line: u64,
    polling_line: u64,
    /// Tokens the limited heartbeats rotate over: enough that none is
    /// polled twice within half a second at full speed.
    paced_tokens: u64,
    redis_requests: u64,
    hold_seats: u32,
    payers: usize,
    one_seat_clients: usize,
}

impl Sizes {
    fn for_run(smoke: bool) -> Self {
        if smoke {
            Self {
                rounds: 1,
                seconds: 1.0,
                warmup: 0.2,
                big_line: 20_000,
                small_line: 1_000,
                polling_line: 2_000,
                paced_tokens: 5_000,
                redis_requests: 5_000,
                hold_seats: 3_000,
                payers: 100,
                one_seat_clients: 100,
            }
        } else {
            Self {
                rounds: 3,
                seconds: 6.0,
                warmup: 1.0,
                big_line: 1_000_000,
                small_line: 1_000,
                polling_line: 20_000,
                paced_tokens: 60_000,
                redis_requests: 150_000,
                hold_seats: 60_000,
                payers: 3_000,
                one_seat_clients: 1_000,
            }
        }
    }
}

/// Closed-loop concurrency for the queue scenarios (HTTP connections and
/// redis-benchmark clients alike).
const QUEUE_CLIENTS: usize = 32;
/// Concurrency for the seat and payment scenarios.
const SHOP_CLIENTS: usize = 8;

struct Bench {
    cfg: SuiteConfig,
    sizes: Sizes,
    store: QueueStore,
    codec: TokenCodec,
    http: reqwest::Client,
    rows: Vec<Row>,
}

/// Runs every scenario and returns the table rows.
pub async fn run_suite(cfg: SuiteConfig) -> anyhow::Result<Vec<Row>> {
    let pool = shared::redis_pool::build_pool(&RedisSettings {
        url: cfg.redis_url.clone(),
        cluster_urls: String::new(),
        pool_size: 8,
        timeout_ms: 120_000,
        key_prefix: String::new(),
    })?;
    let mut bench = Bench {
        sizes: Sizes::for_run(cfg.smoke),
        store: QueueStore::new(pool),
        codec: TokenCodec::new(&SecretString::from(cfg.token_secret.clone())),
        http: reqwest::Client::new(),
        rows: Vec::new(),
        cfg,
    };
    let wanted =
        |group: &str| bench.cfg.only.is_empty() || bench.cfg.only.iter().any(|g| g == group);
    let (queue, limits, line, ticks, polling) = (
        wanted("queue"),
        wanted("limits"),
        wanted("line"),
        wanted("ticks"),
        wanted("polling"),
    );
    let (holds, hot_seat, payments) = (wanted("holds"), wanted("hot-seat"), wanted("payments"));
    if queue {
        bench.queue_throughput().await?;
    }
    if limits {
        bench.cost_of_the_limits().await?;
    }
    if line {
        bench.line_length_and_memory().await?;
    }
    if ticks {
        bench.ticks().await?;
    }
    if polling {
        bench.polling_memory().await?;
    }
    // Asked for by name, a missing cluster is an error; in a full run
    // without one the group is left out.
    if bench.cfg.only.iter().any(|g| g == "cluster")
        || (bench.cfg.only.is_empty() && bench.cfg.cluster.is_some())
    {
        bench.cluster_vs_single().await?;
    }
    if holds {
        bench.holds().await?;
    }
    if hot_seat {
        bench.hot_seat().await?;
    }
    if payments {
        bench.payments().await?;
    }
    if holds || hot_seat || payments {
        bench.reservation_memory();
    }
    Ok(bench.rows)
}

/// A queue that admits slowly and never evicts during a run, so the line
/// keeps its length while it is measured.
pub fn bench_queue_config() -> QueueConfig {
    QueueConfig {
        max_active: 1,
        admit_per_second: 1,
        active_ttl_seconds: 3_600,
        heartbeat_ttl_seconds: 3_600,
        max_waiting: None,
        pow_difficulty_bits: 0,
        limits: crate::load::fixtures::NO_LIMITS,
        opens_at: None,
        prequeue_spread_seconds: queue_service::domain::DEFAULT_PREQUEUE_SPREAD_SECONDS,
        admit_per_seat: queue_service::domain::DEFAULT_ADMIT_PER_SEAT,
        origin: queue_service::domain::OriginLimits::DEFAULT,
        poll_budget_per_second: None,
    }
}

fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

impl Bench {
    fn pool(&self) -> &RedisPool {
        self.store.pool()
    }

    fn spec(&self, addr: SocketAddr, connections: usize, rate: Option<f64>) -> LoadSpec {
        LoadSpec {
            addr,
            connections,
            duration: Duration::from_secs_f64(self.sizes.seconds),
            warmup: Duration::from_secs_f64(self.sizes.warmup),
            rate,
        }
    }

    async fn fresh_queue(&self, name: &str, users: u64) -> anyhow::Result<QueueId> {
        let queue = QueueId::parse(name)?;
        let keys = self.pool().keyspace().queue(&queue);
        let mut conn = self.pool().get().await?;
        let _: () = redis::cmd("DEL")
            .arg(&keys.all()[..])
            .query_async(&mut conn)
            .await?;
        drop(conn);
        self.store.configure(&queue, &bench_queue_config()).await?;
        preload_waiting(self.pool(), &queue, 0, users).await?;
        Ok(queue)
    }

    /// Loads a queue script (prelude included) and returns its SHA.
    async fn script_sha(&self, body: &str) -> anyhow::Result<String> {
        let mut conn = self.pool().get().await?;
        Ok(redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(queue_script_source(body))
            .query_async(&mut conn)
            .await?)
    }

    /// Heartbeat and issue through HTTP beside the same script run by
    /// redis-benchmark at the same concurrency.
    async fn queue_throughput(&mut self) -> anyhow::Result<()> {
        let users = self.sizes.small_line;
        let queue = self.fresh_queue("bench-1k", users).await?;
        let keys = status_keys(&self.pool().keyspace().queue(&queue));

        // The same user (last in line) on both sides, so both do equal work.
        let last = users - 1;
        let user = bench_user(last);
        let token = bench_token(&self.codec, &queue, last);
        let path = format!("/v1/queues/{queue}/heartbeat");
        let heartbeat = request(
            "POST",
            &path,
            &[("X-User-Id", &user), ("X-Queue-Token", &token)],
            None,
        );
        let make: RequestMaker = Arc::new(move |_, _, _| heartbeat.clone());
        let sha = self.script_sha(lua::HEARTBEAT).await?;
        let mut args = vec!["evalsha".to_owned(), sha, keys.len().to_string()];
        args.extend(keys.iter().cloned());
        args.extend([user.clone(), (last + 1).to_string()]);
        let (http, raw) = self
            .compare_with_redis(&make, &args, None, "heartbeat")
            .await?;
        self.push_comparison(
            format!("heartbeat req/s, {users} waiting, {QUEUE_CLIENTS} clients"),
            "heartbeat p50 / p99",
            &http,
            &raw,
        );

        let issue_path = format!("/v1/queues/{queue}/tokens");
        let run_id = std::process::id();
        // Every request, in every round, from a user not seen before.
        let next_user = Arc::new(AtomicU64::new(0));
        let make: RequestMaker = Arc::new(move |_, _, _| {
            let user = format!("h{run_id}n{}", next_user.fetch_add(1, Ordering::Relaxed));
            request("POST", &issue_path, &[("X-User-Id", &user)], None)
        });
        let sha = self.script_sha(lua::ISSUE).await?;
        let queue_keys = self.pool().keyspace().queue(&queue);
        let mut args = vec!["evalsha".to_owned(), sha, (keys.len() + 3).to_string()];
        args.extend(keys.iter().cloned());
        args.extend([
            queue_keys.issue_limit_address("bench"),
            queue_keys.issue_limit_user("bench"),
            queue_keys.pow_marker("-"),
        ]);
        args.extend(["r__rand_int__".to_owned(), "0".to_owned(), "0".to_owned()]);
        let (http, raw) = self
            .compare_with_redis(&make, &args, Some(1_000_000_000), "issue")
            .await?;
        self.push_comparison(
            format!("token issue req/s, {QUEUE_CLIENTS} clients"),
            "token issue p50 / p99",
            &http,
            &raw,
        );
        Ok(())
    }

    /// What the abuse limits cost: heartbeat and issue throughput with the
    /// queue's default limits on beside the same queue with them off, every
    /// request within the limits (so both sides do the full work of an
    /// accepted request). Heartbeats rotate over enough tokens that each is
    /// polled less often than the half-second the limit allows; every issue
    /// is a new user from a new client address, named through
    /// `X-Forwarded-For` (bench.sh trusts 127.0.0.1 as a proxy).
    async fn cost_of_the_limits(&mut self) -> anyhow::Result<()> {
        let tokens = self.sizes.paced_tokens;
        let paced = |limits| QueueConfig {
            // A 3 s heartbeat TTL caps every advice at 1 s: polls half a
            // second apart are allowed, faster ones are not.
            heartbeat_ttl_seconds: 3,
            limits,
            ..bench_queue_config()
        };
        let mut runs: Vec<(&str, QueueConfig)> = vec![
            ("off", paced(super::fixtures::NO_LIMITS)),
            ("on", paced(queue_service::domain::AbuseLimits::default())),
        ];
        let mut heartbeat = [Vec::new(), Vec::new()];
        let mut issue = [Vec::new(), Vec::new()];
        for round in 0..self.sizes.rounds {
            // Alternate which side goes first, so drift lands on both.
            if round % 2 == 1 {
                runs.reverse();
            }
            for (side, config) in &runs {
                let index = usize::from(*side == "on");
                let queue = QueueId::parse(&format!("bench-limits-{side}"))?;
                let keys = self.pool().keyspace().queue(&queue);
                let mut conn = self.pool().get().await?;
                let _: () = redis::cmd("DEL")
                    .arg(&keys.all()[..])
                    .query_async(&mut conn)
                    .await?;
                drop(conn);
                // Filled with the limits off (the fixture is one address),
                // then measured with the side's own settings.
                self.store
                    .configure(&queue, &paced(super::fixtures::NO_LIMITS))
                    .await?;
                preload_waiting(self.pool(), &queue, 0, tokens).await?;
                self.store.configure(&queue, config).await?;
                // Preloading counts as each token's last poll: wait out the
                // longest advice (a third of the TTL) so the first round of
                // polls is on time, not early.
                tokio::time::sleep(Duration::from_millis(config.heartbeat_ttl_ms() / 3 + 100))
                    .await;

                let path = format!("/v1/queues/{queue}/heartbeat");
                let polls: Arc<Vec<Vec<u8>>> = Arc::new(
                    (0..tokens)
                        .map(|i| {
                            let (user, token) =
                                (bench_user(i), bench_token(&self.codec, &queue, i));
                            request(
                                "POST",
                                &path,
                                &[("X-User-Id", &user), ("X-Queue-Token", &token)],
                                None,
                            )
                        })
                        .collect(),
                );
                let next = Arc::new(AtomicU64::new(0));
                let make: RequestMaker = Arc::new(move |_, _, _| {
                    polls[next.fetch_add(1, Ordering::Relaxed) as usize % polls.len()].clone()
                });
                let report = run(self.spec(self.cfg.queue_addr, QUEUE_CLIENTS, None), make).await;
                check_all_accepted(&report, "heartbeat with limits")?;
                heartbeat[index].push(Measured::of(&report));

                let issue_path = format!("/v1/queues/{queue}/tokens");
                let run_id = std::process::id();
                let next = Arc::new(AtomicU64::new(0));
                let make: RequestMaker = Arc::new(move |_, _, _| {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let user = format!("l{run_id}n{n}");
                    let address = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                    request(
                        "POST",
                        &issue_path,
                        &[("X-User-Id", &user), ("X-Forwarded-For", &address)],
                        None,
                    )
                });
                let report = run(self.spec(self.cfg.queue_addr, QUEUE_CLIENTS, None), make).await;
                check_all_accepted(&report, "issue with limits")?;
                issue[index].push(Measured::of(&report));
            }
        }
        for (what, [off, on]) in [("heartbeat", heartbeat), ("token issue", issue)] {
            let (off, on) = (Measured::median(off), Measured::median(on));
            let ratio = on.rps / off.rps;
            self.rows.push(
                Row::new(
                    format!("{what} req/s with the abuse limits on, {QUEUE_CLIENTS} clients"),
                    format!("{:.0}", on.rps),
                )
                .against(format!("{:.0} (limits off)", off.rps), ratio)
                .target("≥ 0.9 × off", ratio >= 0.9),
            );
        }
        Ok(())
    }

    /// Alternates HTTP runs and redis-benchmark runs; medians of each.
    async fn compare_with_redis(
        &self,
        make: &RequestMaker,
        redis_args: &[String],
        random: Option<u64>,
        what: &str,
    ) -> anyhow::Result<(Measured, Measured)> {
        let (mut http, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..self.sizes.rounds {
            let report = run(
                self.spec(self.cfg.queue_addr, QUEUE_CLIENTS, None),
                make.clone(),
            )
            .await;
            check(&report, what)?;
            http.push(Measured::of(&report));
            raw.push(redis_benchmark(
                self.cfg.redis_port,
                QUEUE_CLIENTS,
                self.sizes.redis_requests,
                random,
                redis_args,
            )?);
        }
        Ok((Measured::median(http), Measured::median(raw)))
    }

    fn push_comparison(
        &mut self,
        throughput: String,
        latency: &str,
        http: &Measured,
        raw: &Measured,
    ) {
        let ratio = http.rps / raw.rps;
        self.rows.push(
            Row::new(throughput, format!("{:.0}", http.rps))
                .against(format!("{:.0} (redis-benchmark EVALSHA)", raw.rps), ratio)
                .target("≥ 0.5 × raw", ratio >= 0.5),
        );
        self.rows.push(
            Row::new(
                latency,
                format!("{} / {}", ms(http.p50_ms), ms(http.p99_ms)),
            )
            .against(
                format!("{} / {}", ms(raw.p50_ms), ms(raw.p99_ms)),
                http.p99_ms / raw.p99_ms,
            ),
        );
    }

    /// Heartbeat latency at a fixed open-loop rate with a small and a huge
    /// line, and what the huge line costs in Redis memory.
    async fn line_length_and_memory(&mut self) -> anyhow::Result<()> {
        let small = self.fresh_queue("bench-1k", self.sizes.small_line).await?;
        let before = used_memory(self.pool()).await?;
        let big = self.fresh_queue("bench-1m", self.sizes.big_line).await?;
        let after = used_memory(self.pool()).await?;
        let per_user = (after.saturating_sub(before)) as f64 / self.sizes.big_line as f64;
        self.rows.push(
            Row::new(
                format!(
                    "Redis memory per waiting user ({} waiting, INFO used_memory delta)",
                    self.sizes.big_line
                ),
                format!("{per_user:.0} bytes"),
            )
            .target("≤ 250 bytes", per_user <= 250.0),
        );

        let rate = if self.cfg.smoke { 200.0 } else { 2_000.0 };
        // Alternating rounds, all samples pooled: a p99 at a modest rate on
        // two shared cores is mostly scheduling jitter, which must land on
        // both sides alike rather than decide the ratio by chance.
        let mut pooled = [LoadReport::empty(), LoadReport::empty()];
        for _ in 0..self.sizes.rounds {
            for (side, queue, users) in [
                (0, &small, self.sizes.small_line),
                (1, &big, self.sizes.big_line),
            ] {
                let report = self.random_heartbeats(queue, users, Some(rate)).await;
                check(&report, "heartbeat")?;
                pooled[side].absorb(&report);
            }
        }
        let p99 = [pooled[0].quantile_ms(0.99), pooled[1].quantile_ms(0.99)];
        let ratio = p99[1] / p99[0];
        self.rows.push(
            Row::new(
                format!(
                    "heartbeat p99 at {} vs {} waiting (open loop, {rate:.0} req/s)",
                    self.sizes.big_line, self.sizes.small_line
                ),
                ms(p99[1]),
            )
            .against(ms(p99[0]), ratio)
            .target("≤ 1.5 ×", ratio <= 1.5),
        );
        Ok(())
    }

    async fn random_heartbeats(
        &self,
        queue: &QueueId,
        users: u64,
        rate: Option<f64>,
    ) -> LoadReport {
        let codec = self.codec.clone();
        let queue = queue.clone();
        let path = format!("/v1/queues/{queue}/heartbeat");
        let make: RequestMaker = Arc::new(move |_, _, rng| {
            let i = rng.below(users);
            let token = bench_token(&codec, &queue, i);
            request(
                "POST",
                &path,
                &[("X-User-Id", &bench_user(i)), ("X-Queue-Token", &token)],
                None,
            )
        });
        run(self.spec(self.cfg.queue_addr, 64, rate), make).await
    }

    /// Redis time of one tick promoting 1,000 users out of the big line, and
    /// of one tick evicting 1,000 silent users, read from SLOWLOG.
    async fn ticks(&mut self) -> anyhow::Result<()> {
        let queue = QueueId::parse("bench-1m")?;
        let waiting = self.store.stats(&queue).await?.map_or(0, |s| s.waiting);
        if waiting < self.sizes.big_line {
            self.fresh_queue("bench-1m", self.sizes.big_line).await?;
        }
        self.store
            .configure(
                &queue,
                &QueueConfig {
                    max_active: 1_000,
                    admit_per_second: 1_000,
                    ..bench_queue_config()
                },
            )
            .await?;
        let (report, redis_us) = self.timed_tick(&queue).await?;
        if report.promoted != 1_000 {
            bail!(
                "the promotion tick promoted {} users, expected 1000",
                report.promoted
            );
        }
        self.rows.push(
            Row::new(
                format!(
                    "tick promoting 1,000 of {} waiting, Redis time",
                    self.sizes.big_line
                ),
                ms(redis_us as f64 / 1000.0),
            )
            .target("≤ 5 ms", redis_us <= 5_000),
        );

        // 1,000 users in the middle of the line fall silent.
        let keys = self.pool().keyspace().queue(&queue);
        let mut silence = redis::cmd("ZADD");
        silence.arg(keys.seen()).arg("XX");
        for i in 5_000..6_000 {
            silence.arg(0).arg(bench_user(i));
        }
        let mut conn = self.pool().get().await?;
        let _: i64 = silence.query_async(&mut conn).await?;
        drop(conn);
        let (report, redis_us) = self.timed_tick(&queue).await?;
        if report.evicted_silent_waiting != 1_000 {
            bail!(
                "the eviction tick evicted {}, expected 1000",
                report.evicted_silent_waiting
            );
        }
        self.rows.push(Row::new(
            format!(
                "tick evicting 1,000 silent of {} waiting, Redis time",
                self.sizes.big_line
            ),
            ms(redis_us as f64 / 1000.0),
        ));
        self.opening().await
    }

    /// Redis time of the step that opens a queue whose whole line joined
    /// before `opens_at`: the draw is made and the first 1,000 admitted.
    async fn opening(&mut self) -> anyhow::Result<()> {
        let queue = QueueId::parse("bench-opening")?;
        let keys = self.pool().keyspace().queue(&queue);
        let mut conn = self.pool().get().await?;
        let _: () = redis::cmd("DEL")
            .arg(&keys.all()[..])
            .query_async(&mut conn)
            .await?;
        drop(conn);
        let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let config = QueueConfig {
            max_active: 1_000,
            admit_per_second: 1_000,
            opens_at: Some(in_an_hour),
            ..bench_queue_config()
        };
        self.store.configure(&queue, &config).await?;
        preload_waiting(self.pool(), &queue, 0, self.sizes.big_line).await?;
        let now = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        self.store
            .configure(
                &queue,
                &QueueConfig {
                    opens_at: Some(now),
                    ..config
                },
            )
            .await?;
        let (report, redis_us) = self.timed_tick(&queue).await?;
        if report.opened_with_entrants != Some(self.sizes.big_line) || report.promoted != 1_000 {
            bail!("the opening step did not open the queue as expected: {report:?}");
        }
        self.rows.push(
            Row::new(
                format!(
                    "opening a line of {} pre-queued (draw made, first 1,000 admitted), Redis time",
                    self.sizes.big_line
                ),
                ms(redis_us as f64 / 1000.0),
            )
            .target("≤ 5 ms", redis_us <= 5_000),
        );
        let mut conn = self.pool().get().await?;
        let _: () = redis::cmd("DEL")
            .arg(&keys.all()[..])
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn timed_tick(
        &self,
        queue: &QueueId,
    ) -> anyhow::Result<(queue_service::store::TickReport, u64)> {
        let mut conn = self.pool().get().await?;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(0)
            .query_async(&mut conn)
            .await?;
        let _: () = redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async(&mut conn)
            .await?;
        let report = self
            .store
            .tick(queue, queue_service::store::TickParams::by_hand(10_000))
            .await?
            .context("bench queue is configured")?;
        let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(20)
            .query_async(&mut conn)
            .await?;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(10_000)
            .query_async(&mut conn)
            .await?;
        let micros = entries
            .iter()
            .filter_map(|entry| match entry {
                redis::Value::Array(fields) => {
                    let duration = match fields.get(2)? {
                        redis::Value::Int(us) => *us as u64,
                        _ => return None,
                    };
                    let is_evalsha = matches!(fields.get(3)?, redis::Value::Array(args)
                        if matches!(args.first(), Some(redis::Value::BulkString(name)) if name.eq_ignore_ascii_case(b"evalsha") || name.eq_ignore_ascii_case(b"eval")));
                    is_evalsha.then_some(duration)
                }
                _ => None,
            })
            .max()
            .context("the tick shows in SLOWLOG")?;
        Ok((report, micros))
    }

    /// Resident memory of the queue service while a 20,000-strong line
    /// polls at a steady rate.
    async fn polling_memory(&mut self) -> anyhow::Result<()> {
        let users = self.sizes.polling_line;
        let queue = self.fresh_queue("bench-20k", users).await?;
        let pid = self.cfg.queue_pid;
        let sampling = Arc::new(AtomicU64::new(0));
        let sampler = {
            let peak = sampling.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(kib) = pid.and_then(|pid| proc_status_kib(pid, "VmRSS")) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        // 20,000 users polling every ~10 s is ~2,000 heartbeats a second.
        let rate = if self.cfg.smoke { 200.0 } else { 2_000.0 };
        let report = self.random_heartbeats(&queue, users, Some(rate)).await;
        sampler.abort();
        check(&report, "heartbeat")?;
        let peak_mib = sampling.load(Ordering::Relaxed) as f64 / 1024.0;
        if pid.is_some() {
            self.rows.push(
                Row::new(
                    format!("queue-service peak RSS, {users} waiting polling at {rate:.0} req/s"),
                    format!("{peak_mib:.1} MiB"),
                )
                .target("< 64 MiB", peak_mib < 64.0),
            );
        }
        Ok(())
    }

    async fn admin_post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("http://{}{path}", self.cfg.reservation_addr))
            .bearer_auth(&self.cfg.admin_key)
            .json(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("{path}: {} {}", response.status(), response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// A concert on `queue` with one bookable schedule of `seats` seats;
    /// returns (schedule id, first seat id). Seat ids are consecutive.
    async fn concert(&self, queue: &QueueId, seats: u32, price: i64) -> anyhow::Result<(u64, u64)> {
        let now = time::OffsetDateTime::now_utc();
        let iso = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let concert = self
            .admin_post(
                "/v1/admin/concerts",
                &json!({
                    "title": format!("Bench {queue}"),
                    "queue_id": queue.as_str(),
                    "schedules": [{
                        "starts_at": iso(now + time::Duration::days(30)),
                        "booking_opens_at": iso(now - time::Duration::hours(1)),
                        "booking_closes_at": iso(now + time::Duration::days(29)),
                        "seat_count": seats,
                        "price": price,
                    }]
                }),
            )
            .await?;
        let schedule = concert["schedules"][0]["id"]
            .as_u64()
            .context("schedule id")?;
        let first: Value = self
            .http
            .get(format!(
                "http://{}/v1/schedules/{schedule}/seats?limit=1",
                self.cfg.reservation_addr
            ))
            .send()
            .await?
            .json()
            .await?;
        Ok((schedule, first[0]["id"].as_u64().context("first seat id")?))
    }

    async fn active_users(
        &self,
        queue: &QueueId,
        prefix: &str,
        n: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let users: Vec<UserId> = (0..n)
            .map(|i| UserId::parse(&format!("{prefix}{i}")))
            .collect::<Result<_, _>>()?;
        let tokens = admit(&self.store, &self.codec, queue, &users).await?;
        Ok(users.into_iter().map(String::from).zip(tokens).collect())
    }

    /// Holds on distinct seats through HTTP, beside the bare conditional
    /// UPDATE that decides a hold, on the same table at the same concurrency.
    /// Every round takes fresh seats on both sides, and both sides must win
    /// every seat they try: an UPDATE that matches nothing is no ceiling.
    async fn holds(&mut self) -> anyhow::Result<()> {
        let queue = QueueId::parse(&format!("bench-shop-{}", std::process::id()))?;
        let seats = self.sizes.hold_seats;
        let users = Arc::new(self.active_users(&queue, "holder", SHOP_CLIENTS).await?);
        let (mut http, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..self.sizes.rounds {
            let (schedule, first_seat) = self.concert(&queue, seats, 1_000).await?;
            let next_seat = Arc::new(AtomicU64::new(0));
            let users = users.clone();
            let make: RequestMaker = Arc::new(move |conn, _, _| {
                let seat =
                    first_seat + next_seat.fetch_add(1, Ordering::Relaxed) % u64::from(seats);
                let (user, token) = &users[conn % users.len()];
                let body = format!("{{\"schedule_id\":{schedule},\"seat_id\":{seat}}}");
                request(
                    "POST",
                    "/v1/reservations",
                    &[("X-User-Id", user), ("X-Queue-Token", token)],
                    Some(&body),
                )
            });
            let report = run(
                self.spec(self.cfg.reservation_addr, SHOP_CLIENTS, None),
                make,
            )
            .await;
            check(&report, "hold")?;
            let held = report.by_status.get(&201).copied().unwrap_or(0);
            if held != report.requests() {
                bail!(
                    "holds on free seats were refused (more than {seats} a round?): {}",
                    report.summary()
                );
            }
            http.push(Measured::of(&report));

            let (raw_schedule, raw_first) = self.concert(&queue, seats, 1_000).await?;
            raw.push(
                raw_updates(
                    &self.cfg.mysql_url,
                    raw_schedule,
                    raw_first,
                    seats,
                    self.sizes.seconds,
                )
                .await?,
            );
        }
        let (http, raw) = (Measured::median(http), Measured::median(raw));
        let ratio = http.rps / raw.rps;
        self.rows.push(
            Row::new(
                format!(
                    "seat holds/s, distinct seats, {SHOP_CLIENTS} clients (p99 {})",
                    ms(http.p99_ms)
                ),
                format!("{:.0}", http.rps),
            )
            .against(
                format!(
                    "{:.0} (bare conditional UPDATE, p99 {})",
                    raw.rps,
                    ms(raw.p99_ms)
                ),
                ratio,
            )
            .target("≥ 0.6 × raw", ratio >= 0.6),
        );
        Ok(())
    }

    /// Everyone holds the same seat at the same moment.
    async fn hot_seat(&mut self) -> anyhow::Result<()> {
        let clients = self.sizes.one_seat_clients;
        let queue = QueueId::parse(&format!("bench-hot-{}", std::process::id()))?;
        let (schedule, seat) = self.concert(&queue, 10, 1_000).await?;
        let users = self.active_users(&queue, "fan", clients).await?;
        let barrier = Arc::new(Barrier::new(clients + 1));
        let addr = self.cfg.reservation_addr;
        let body = format!("{{\"schedule_id\":{schedule},\"seat_id\":{seat}}}");
        let tasks: Vec<_> = users
            .into_iter()
            .map(|(user, token)| {
                let barrier = barrier.clone();
                let request = request(
                    "POST",
                    "/v1/reservations",
                    &[("X-User-Id", &user), ("X-Queue-Token", &token)],
                    Some(&body),
                );
                tokio::spawn(async move {
                    let connection = Http1Connection::connect(addr).await;
                    barrier.wait().await;
                    let mut connection = connection.ok()?;
                    connection
                        .round_trip(&request)
                        .await
                        .ok()
                        .map(|reply| reply.status)
                })
            })
            .collect();
        barrier.wait().await;
        let started = Instant::now();
        let mut statuses = std::collections::BTreeMap::new();
        for task in tasks {
            let status = task.await?.unwrap_or(0);
            *statuses.entry(status).or_insert(0u32) += 1;
        }
        let elapsed = started.elapsed();
        let winners = statuses.get(&201).copied().unwrap_or(0);
        let losers = statuses.get(&409).copied().unwrap_or(0);
        self.rows.push(
            Row::new(
                format!("{clients} simultaneous holds on one seat: time until all answered"),
                format!(
                    "{} ms ({winners} × 201, {losers} × 409)",
                    elapsed.as_millis()
                ),
            )
            .target(
                "exactly one 201",
                winners == 1 && losers as usize == clients - 1,
            ),
        );
        Ok(())
    }

    /// Payments, each for its own user's hold, at fixed concurrency.
    async fn payments(&mut self) -> anyhow::Result<()> {
        let payers = self.sizes.payers;
        let queue = QueueId::parse(&format!("bench-pay-{}", std::process::id()))?;
        let (schedule, first_seat) = self.concert(&queue, payers as u32, 1_000).await?;
        let users = self.active_users(&queue, "payer", payers).await?;
        let charges: Vec<Vec<u8>> = users
            .iter()
            .map(|(user, _)| {
                request(
                    "POST",
                    "/v1/users/me/balance/charges",
                    &[("X-User-Id", user), ("Idempotency-Key", "bench-topup")],
                    Some("{\"amount\":5000}"),
                )
            })
            .collect();
        check(
            &run_fixed(self.cfg.reservation_addr, SHOP_CLIENTS, charges).await,
            "charge",
        )?;
        let holds: Vec<Vec<u8>> = users
            .iter()
            .enumerate()
            .map(|(i, (user, token))| {
                let body = format!(
                    "{{\"schedule_id\":{schedule},\"seat_id\":{}}}",
                    first_seat + i as u64
                );
                request(
                    "POST",
                    "/v1/reservations",
                    &[("X-User-Id", user), ("X-Queue-Token", token)],
                    Some(&body),
                )
            })
            .collect();
        check(
            &run_fixed(self.cfg.reservation_addr, SHOP_CLIENTS, holds).await,
            "hold",
        )?;
        let reservations = payer_reservations(&self.cfg.mysql_url).await?;
        let mut payments = Vec::with_capacity(payers);
        for (user, token) in &users {
            let reservation = reservations
                .get(user)
                .with_context(|| format!("{user} holds a seat"))?;
            payments.push(request(
                "POST",
                &format!("/v1/reservations/{reservation}/payment"),
                &[
                    ("X-User-Id", user),
                    ("X-Queue-Token", token),
                    ("Idempotency-Key", "bench-pay"),
                ],
                None,
            ));
        }
        let report = run_fixed(self.cfg.reservation_addr, SHOP_CLIENTS, payments).await;
        check(&report, "payment")?;
        let paid = report.by_status.get(&200).copied().unwrap_or(0);
        self.rows.push(Row::new(
            format!("payments/s, {SHOP_CLIENTS} clients, {payers} payments (p50 / p99)"),
            format!(
                "{:.0} ({paid} paid; {} / {})",
                paid as f64 / report.elapsed.as_secs_f64(),
                ms(report.quantile_ms(0.5)),
                ms(report.quantile_ms(0.99))
            ),
        ));
        Ok(())
    }

    fn reservation_memory(&mut self) {
        if let Some(kib) = self
            .cfg
            .reservation_pid
            .and_then(|pid| proc_status_kib(pid, "VmHWM"))
        {
            let mib = kib as f64 / 1024.0;
            self.rows.push(
                Row::new(
                    "reservation-service peak RSS over the seat and payment runs",
                    format!("{mib:.1} MiB"),
                )
                .target("< 64 MiB", mib < 64.0),
            );
        }
    }
}

/// Fails the run when a scenario saw errors: a figure built on failures
/// would flatter us.
/// Every request answered 2xx: a run meant to measure accepted requests.
fn check_all_accepted(report: &LoadReport, what: &str) -> anyhow::Result<()> {
    if report.io_errors > 0 || report.by_status.keys().any(|s| !(200..300).contains(s)) {
        bail!("{what} run was not all accepted: {}", report.summary());
    }
    Ok(())
}

fn check(report: &LoadReport, what: &str) -> anyhow::Result<()> {
    let server_errors: u64 = report
        .by_status
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    if report.io_errors > 0 || server_errors > 0 || report.requests() == 0 {
        bail!("{what} run had failures: {}", report.summary());
    }
    Ok(())
}

async fn used_memory(pool: &RedisPool) -> anyhow::Result<u64> {
    let mut conn = pool.get().await?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("INFO memory has used_memory")
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Throughput and latency of one run.
#[derive(Debug, Clone, Copy)]
struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    fn of(report: &LoadReport) -> Self {
        Self {
            rps: report.per_second(),
            p50_ms: report.quantile_ms(0.5),
            p99_ms: report.quantile_ms(0.99),
        }
    }

    /// Field-wise medians of several runs.
    fn median(runs: Vec<Self>) -> Self {
        let pick = |field: fn(&Self) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(field).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
        };
        Self {
            rps: pick(|m| m.rps),
            p50_ms: pick(|m| m.p50_ms),
            p99_ms: pick(|m| m.p99_ms),
        }
    }
}

fn redis_benchmark(
    port: u16,
    clients: usize,
    requests: u64,
    random: Option<u64>,
    args: &[String],
) -> anyhow::Result<Measured> {
    let mut command = Command::new("redis-benchmark");
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-c",
            &clients.to_string(),
            "-n",
            &requests.to_string(),
            "--csv",
        ]);
    if let Some(range) = random {
        command.args(["-r", &range.to_string()]);
    }
    let output = command.args(args).output().context("run redis-benchmark")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .nth(1)
        .context("redis-benchmark printed a result")?;
    let fields: Vec<f64> = line
        .split("\",\"")
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    match fields.as_slice() {
        [rps, _avg, _min, p50, _p95, p99, ..] => Ok(Measured {
            rps: *rps,
            p50_ms: *p50,
            p99_ms: *p99,
        }),
        _ => bail!("unexpected redis-benchmark output: {line}"),
    }
}

/// The statement that decides a hold, alone, autocommitted, on distinct
/// seats from `SHOP_CLIENTS` connections for `seconds`.
async fn raw_updates(
    mysql_url: &str,
    schedule: u64,
    first_seat: u64,
    seats: u32,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let pool = MySqlPoolOptions::new()
        .max_connections(SHOP_CLIENTS as u32)
        .connect(mysql_url)
        .await?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..SHOP_CLIENTS)
        .map(|_| {
            let pool = pool.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < stop {
                    let offset = next.fetch_add(1, Ordering::Relaxed);
                    if offset >= u64::from(seats) {
                        break;
                    }
                    let began = Instant::now();
                    let updated = sqlx::query(
                        "UPDATE seats SET status = 'HELD', holder_user_id = ?, hold_expires_at = ? \
                          WHERE id = ? AND schedule_id = ? \
                            AND (status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at < NOW(3)))",
                    )
                    .bind("raw-bench")
                    .bind(time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
                    .bind(first_seat + offset)
                    .bind(schedule)
                    .execute(&pool)
                    .await?
                    .rows_affected();
                    if updated != 1 {
                        anyhow::bail!("the bare UPDATE did not take free seat {}", first_seat + offset);
                    }
                    latencies.push(began.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    // Ends early if it ran out of seats; the rate is over the time it ran.
    let elapsed = started.elapsed().as_secs_f64().min(seconds);
    pool.close().await;
    all.sort();
    let quantile = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    Ok(Measured {
        rps: all.len() as f64 / elapsed,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
    })
}

/// Each payer's reservation id, in one query.
async fn payer_reservations(
    mysql_url: &str,
) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(mysql_url).await?;
    let rows: Vec<(String, u64)> = sqlx::query_as(
        "SELECT CONVERT(user_id USING utf8mb4), id FROM reservations WHERE user_id LIKE 'payer%'",
    )
    .fetch_all(&mut conn)
    .await?;
    Ok(rows.into_iter().collect())
}
