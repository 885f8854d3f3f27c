//! Load generator for the benchmarks (see BENCHMARKS.md). Each subcommand
//! prepares its data, drives one endpoint and prints one summary line (or
//! JSON with `--json`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use queue_service::store::QueueStore;
use secrecy::SecretString;
use shared::config::RedisSettings;
use shared::ids::QueueId;
use shared::token::TokenCodec;
use tests::load::fixtures::{bench_token, bench_user, preload_waiting};
use tests::load::http1::request;
use tests::load::runner::{LoadReport, LoadSpec, RequestMaker, run};
use tests::load::suite::{ClusterTarget, SuiteConfig, bench_queue_config, render_table, run_suite};

#[derive(Parser)]
#[command(about = "Drives the services with HTTP load and reports latency")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Print the report as one JSON object.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args, Clone)]
struct Load {
    /// Service address, e.g. 127.0.0.1:8081.
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Open-loop requests per second (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Args, Clone)]
struct QueueTarget {
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[arg(long, default_value = "")]
    key_prefix: String,
    #[arg(long, default_value = "bench")]
    queue: String,
    #[arg(long, env = "QUEUE_TOKEN_SECRET")]
    secret: String,
}

#[derive(Subcommand)]
enum Scenario {
    /// Fill a queue with waiting users (straight into Redis).
    Preload {
        #[command(flatten)]
        target: QueueTarget,
        #[arg(long)]
        users: u64,
    },
    /// Heartbeats from random users among the first `users` preloaded ones.
    Heartbeat {
        #[command(flatten)]
        load: Load,
        #[command(flatten)]
        target: QueueTarget,
        #[arg(long)]
        users: u64,
    },
    /// The whole benchmark table (what scripts/bench.sh runs).
    Suite {
        #[arg(long)]
        queue_addr: SocketAddr,
        #[arg(long)]
        reservation_addr: SocketAddr,
        #[arg(long)]
        redis_port: u16,
        #[arg(long)]
        mysql_url: String,
        #[arg(long, env = "QUEUE_TOKEN_SECRET")]
        secret: String,
        #[arg(long, env = "ADMIN_API_KEY")]
        admin_key: String,
        #[arg(long)]
        queue_pid: Option<u32>,
        #[arg(long)]
        reservation_pid: Option<u32>,
        /// Seconds instead of minutes: proves the harness works.
        #[arg(long)]
        smoke: bool,
        /// Only these scenario groups (comma-separated): queue, limits,
        /// line, ticks, polling, cluster, holds, hot-seat, payments.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// A queue service on Redis Cluster (the `cluster` group compares
        /// it with the one at --queue-addr).
        #[arg(long, requires = "cluster_urls")]
        cluster_queue_addr: Option<SocketAddr>,
        /// That cluster's seed nodes, as REDIS_CLUSTER_URLS names them.
        #[arg(long, requires = "cluster_queue_addr")]
        cluster_urls: Option<String>,
    },
    /// GET one path (for calibrating the generator itself).
    Get {
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Token issues, every request from a new user.
    Issue {
        #[command(flatten)]
        load: Load,
        #[command(flatten)]
        target: QueueTarget,
    },
}

fn spec(load: &Load) -> LoadSpec {
    LoadSpec {
        addr: load.addr,
        connections: load.connections,
        duration: Duration::from_secs_f64(load.seconds),
        warmup: Duration::from_secs_f64(load.warmup_seconds),
        rate: load.rate,
    }
}

async fn store(target: &QueueTarget) -> anyhow::Result<(QueueStore, QueueId)> {
    let pool = shared::redis_pool::build_pool(&RedisSettings {
        url: target.redis_url.clone(),
        cluster_urls: String::new(),
        pool_size: 4,
        timeout_ms: 60_000,
        key_prefix: target.key_prefix.clone(),
    })?;
    let queue = QueueId::parse(&target.queue)?;
    Ok((QueueStore::new(pool), queue))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = match cli.scenario {
        Scenario::Preload { target, users } => {
            let (store, queue) = store(&target).await?;
            store.configure(&queue, &bench_queue_config()).await?;
            let have = store.stats(&queue).await?.map(|s| s.waiting).unwrap_or(0);
            if have < users {
                preload_waiting(store.pool(), &queue, have, users).await?;
            }
            say(&format!("{} waiting in {queue}", users.max(have)));
            return Ok(());
        }
        Scenario::Heartbeat {
            load,
            target,
            users,
        } => {
            let queue = QueueId::parse(&target.queue)?;
            let codec = TokenCodec::new(&SecretString::from(target.secret.clone()));
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
            run(spec(&load), make).await
        }
        Scenario::Suite {
            queue_addr,
            reservation_addr,
            redis_port,
            mysql_url,
            secret,
            admin_key,
            queue_pid,
            reservation_pid,
            smoke,
            only,
            cluster_queue_addr,
            cluster_urls,
        } => {
            let rows = run_suite(SuiteConfig {
                queue_addr,
                reservation_addr,
                redis_url: format!("redis://127.0.0.1:{redis_port}"),
                redis_port,
                mysql_url,
                token_secret: secret,
                admin_key,
                queue_pid,
                reservation_pid,
                smoke,
                only,
                cluster: cluster_queue_addr
                    .zip(cluster_urls)
                    .map(|(queue_addr, seed_urls)| ClusterTarget {
                        queue_addr,
                        seed_urls,
                    }),
            })
            .await?;
            say(&render_table(&rows));
            return Ok(());
        }
        Scenario::Get { load, path } => {
            let make: RequestMaker = Arc::new(move |_, _, _| request("GET", &path, &[], None));
            run(spec(&load), make).await
        }
        Scenario::Issue { load, target } => {
            let (store, queue) = store(&target).await?;
            store.configure(&queue, &bench_queue_config()).await?;
            let path = format!("/v1/queues/{queue}/tokens");
            let run_id = std::process::id();
            let make: RequestMaker = Arc::new(move |conn, n, _| {
                let user = format!("n{run_id}-{conn}-{n}");
                request("POST", &path, &[("X-User-Id", &user)], None)
            });
            run(spec(&load), make).await
        }
    };
    print_report(&report, cli.json);
    Ok(())
}

fn print_report(report: &LoadReport, json: bool) {
    if json {
        say(&report.to_json().to_string());
    } else {
        say(&report.summary());
    }
}

#[expect(clippy::print_stdout, reason = "the report is the program's output")]
fn say(line: &str) {
    println!("{line}");
}
