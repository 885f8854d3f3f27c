//! The `cluster` group: the same heartbeat and token-issue load against two
//! queue services in the same run, one on the single Redis and one on a
//! three-master Redis Cluster (both started by scripts/bench.sh), rounds
//! alternating so that drift on the shared cores lands on both.
//!
//! One queue lives in one hash slot, so on a cluster it is served by one
//! master: the one-queue rows measure what the cluster client costs a
//! request, not what the cluster adds. The spread rows run the same load
//! over queues chosen so that each master holds the same number of them,
//! and count the script calls each master served. Each side's Redis CPU
//! (`INFO cpu`, summed over the masters) and script time (`INFO
//! commandstats`) per request are recorded too: they are what the sizing
//! in docs/SCALE.md starts from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use deadpool_redis::redis;
use queue_service::store::QueueStore;
use shared::config::RedisSettings;
use shared::ids::QueueId;
use shared::redis_pool::key_slot;

use super::{Bench, Measured, QUEUE_CLIENTS, Row, bench_queue_config, check, ms};
use crate::load::fixtures::{bench_token, bench_user, preload_waiting};
use crate::load::http1::request;
use crate::load::runner::{LoadReport, RequestMaker, run};

/// The queue service on Redis Cluster that the `cluster` group compares
/// with the one on the single Redis.
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    /// The second queue service, started with `REDIS_CLUSTER_URLS`.
    pub queue_addr: SocketAddr,
    /// Its seed nodes, as `REDIS_CLUSTER_URLS` names them.
    pub seed_urls: String,
}

/// Queues per master in the spread rows.
const QUEUES_PER_MASTER: usize = 2;

/// One side of the comparison.
struct Side {
    name: &'static str,
    addr: SocketAddr,
    store: QueueStore,
    /// Ports of the Redis processes that serve this side's data (the one
    /// Redis, or the cluster's masters).
    redis_ports: Vec<u16>,
}

/// What a set of Redis processes had done, summed: CPU seconds and, per
/// node, `EVALSHA` calls and their microseconds.
#[derive(Debug, Clone, Default)]
struct RedisCounters {
    cpu_seconds: f64,
    calls: BTreeMap<u16, u64>,
    script_usec: u64,
}

impl RedisCounters {
    async fn read(ports: &[u16]) -> anyhow::Result<Self> {
        let mut counters = Self::default();
        for &port in ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let info: String = redis::cmd("INFO")
                .arg("cpu")
                .arg("commandstats")
                .query_async(&mut conn)
                .await?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .map(str::trim)
            };
            let cpu = |name| field(name).and_then(|v| v.parse::<f64>().ok());
            counters.cpu_seconds += cpu("used_cpu_user").context("INFO cpu")?
                + cpu("used_cpu_sys").context("INFO cpu")?;
            // cmdstat_evalsha:calls=N,usec=N,usec_per_call=...
            let stat = |key: &str| {
                field("cmdstat_evalsha")
                    .and_then(|s| {
                        s.split(',')
                            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    })
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            counters.calls.insert(port, stat("calls"));
            counters.script_usec += stat("usec");
        }
        Ok(counters)
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            cpu_seconds: self.cpu_seconds - before.cpu_seconds,
            calls: self
                .calls
                .iter()
                .map(|(port, n)| (*port, n - before.calls.get(port).copied().unwrap_or(0)))
                .collect(),
            script_usec: self.script_usec - before.script_usec,
        }
    }

    fn add(&mut self, other: &Self) {
        self.cpu_seconds += other.cpu_seconds;
        for (port, n) in &other.calls {
            *self.calls.entry(*port).or_insert(0) += n;
        }
        self.script_usec += other.script_usec;
    }

    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Throughput of each side's rounds and what its Redis spent.
#[derive(Default)]
struct Tally {
    runs: Vec<Measured>,
    requests: u64,
    redis: RedisCounters,
}

/// How a scenario's request maker is built for one side.
type MakeFor<'a> = &'a dyn Fn(&[QueueId]) -> RequestMaker;

impl Bench {
    /// Heartbeat and issue through the queue service on the cluster beside
    /// the one on the single Redis: one queue, then queues spread over the
    /// masters.
    pub(super) async fn cluster_vs_single(&mut self) -> anyhow::Result<()> {
        let Some(target) = self.cfg.cluster.clone() else {
            bail!(
                "the cluster group needs a Redis Cluster and a queue service on it \
                 (scripts/bench.sh starts both)"
            );
        };
        let cluster_pool = shared::redis_pool::build_pool(&RedisSettings {
            url: String::new(),
            cluster_urls: target.seed_urls.clone(),
            pool_size: 8,
            timeout_ms: 120_000,
            key_prefix: String::new(),
        })?;
        let masters = masters(&target.seed_urls).await?;
        let sides = [
            Side {
                name: "single Redis",
                addr: self.cfg.queue_addr,
                store: self.store.clone(),
                redis_ports: vec![self.cfg.redis_port],
            },
            Side {
                name: "cluster",
                addr: target.queue_addr,
                store: QueueStore::new(cluster_pool),
                redis_ports: masters.iter().map(|(port, _)| *port).collect(),
            },
        ];
        let users = self.sizes.small_line;

        // One queue: one slot, one master.
        let one = [QueueId::parse("bench-cluster-1")?];
        // Spread: the first names whose slots fill each master equally.
        let spread = spread_queues(&masters, &self.store)?;
        for queues in [&one[..], &spread[..]] {
            for side in &sides {
                for queue in queues {
                    self.fresh_queue_on(&side.store, queue, users).await?;
                }
            }
        }

        let codec = self.codec.clone();
        let heartbeats = move |queues: &[QueueId]| -> RequestMaker {
            let queues = queues.to_vec();
            let codec = codec.clone();
            Arc::new(move |_, _, rng| {
                let queue = &queues[rng.below(queues.len() as u64) as usize];
                let i = rng.below(users);
                let token = bench_token(&codec, queue, i);
                request(
                    "POST",
                    &format!("/v1/queues/{queue}/heartbeat"),
                    &[("X-User-Id", &bench_user(i)), ("X-Queue-Token", &token)],
                    None,
                )
            })
        };
        let run_id = std::process::id();
        let next_user = Arc::new(AtomicU64::new(0));
        let issues = move |queues: &[QueueId]| -> RequestMaker {
            let queues = queues.to_vec();
            let next_user = next_user.clone();
            Arc::new(move |_, _, _| {
                // A user never seen before, in any round or on either side.
                let n = next_user.fetch_add(1, Ordering::Relaxed);
                let queue = &queues[(n % queues.len() as u64) as usize];
                let user = format!("c{run_id}n{n}");
                request(
                    "POST",
                    &format!("/v1/queues/{queue}/tokens"),
                    &[("X-User-Id", &user)],
                    None,
                )
            })
        };

        let layout = format!(
            "{} queues over the {} masters ({QUEUES_PER_MASTER} each)",
            spread.len(),
            masters.len()
        );
        let scenarios: [(&str, &str, &[QueueId], MakeFor<'_>); 4] = [
            ("heartbeat", "1 queue", &one, &heartbeats),
            ("token issue", "1 queue", &one, &issues),
            ("heartbeat", &layout, &spread, &heartbeats),
            ("token issue", &layout, &spread, &issues),
        ];
        let mut per_request = Vec::new();
        for (index, (what, layout, queues, make)) in scenarios.into_iter().enumerate() {
            let [single, cluster] = self.alternate(&sides, make(queues), what).await?;
            let (s, c) = (
                Measured::median(single.runs.clone()),
                Measured::median(cluster.runs.clone()),
            );
            let ratio = c.rps / s.rps;
            let shares = if index >= 2 {
                let total = cluster.redis.total_calls().max(1) as f64;
                let shares: Vec<String> = masters
                    .iter()
                    .map(|(port, _)| {
                        let calls = cluster.redis.calls.get(port).copied().unwrap_or(0);
                        format!("{:.0} %", 100.0 * calls as f64 / total)
                    })
                    .collect();
                format!("; script calls per master {}", shares.join(" / "))
            } else {
                String::new()
            };
            self.rows.push(
                Row::new(
                    format!(
                        "{what} req/s, cluster vs single Redis: {layout}, {} waiting in each, \
                         {QUEUE_CLIENTS} clients{shares}",
                        self.sizes.small_line
                    ),
                    format!("{:.0}", c.rps),
                )
                .against(format!("{:.0} (single Redis)", s.rps), ratio),
            );
            self.rows.push(
                Row::new(
                    format!("{what} p50 / p99, cluster vs single Redis: {layout}"),
                    format!("{} / {}", ms(c.p50_ms), ms(c.p99_ms)),
                )
                .against(
                    format!("{} / {}", ms(s.p50_ms), ms(s.p99_ms)),
                    c.p99_ms / s.p99_ms,
                ),
            );
            if index < 2 {
                per_request.push((what, single, cluster));
            }
        }
        for (what, single, cluster) in per_request {
            let cost = |tally: &Tally| {
                let n = tally.requests.max(1) as f64;
                (
                    tally.redis.cpu_seconds * 1e6 / n,
                    tally.redis.script_usec as f64 / n,
                )
            };
            let ((s_cpu, s_script), (c_cpu, c_script)) = (cost(&single), cost(&cluster));
            self.rows.push(
                Row::new(
                    format!(
                        "Redis CPU per {what} (INFO used_cpu; in brackets the script's own \
                         time, commandstats), cluster (all masters) vs single Redis: 1 queue"
                    ),
                    format!("{c_cpu:.1} µs ({c_script:.1} µs)"),
                )
                .against(
                    format!(
                        "{s_cpu:.1} µs ({s_script:.1} µs); one core: {:.0}/s",
                        1e6 / s_cpu
                    ),
                    c_cpu / s_cpu,
                ),
            );
        }
        for side in &sides {
            for queue in one.iter().chain(&spread) {
                side.store.delete(queue).await?;
            }
        }
        Ok(())
    }

    /// Runs `make`'s load against each side in turn, `rounds` times, the
    /// order alternating; returns each side's tally (single, cluster).
    async fn alternate(
        &self,
        sides: &[Side; 2],
        make: RequestMaker,
        what: &str,
    ) -> anyhow::Result<[Tally; 2]> {
        let mut tallies = [Tally::default(), Tally::default()];
        for round in 0..self.sizes.rounds {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for index in order {
                let side = &sides[index];
                let before = RedisCounters::read(&side.redis_ports).await?;
                let report: LoadReport =
                    run(self.spec(side.addr, QUEUE_CLIENTS, None), make.clone()).await;
                let after = RedisCounters::read(&side.redis_ports).await?;
                check(&report, &format!("{what} on the {}", side.name))?;
                let tally = &mut tallies[index];
                tally.runs.push(Measured::of(&report));
                // The counters span the warm-up too: count what it sent.
                tally.requests += after.since(&before).total_calls();
                tally.redis.add(&after.since(&before));
            }
        }
        Ok(tallies)
    }

    async fn fresh_queue_on(
        &self,
        store: &QueueStore,
        queue: &QueueId,
        users: u64,
    ) -> anyhow::Result<()> {
        store.delete(queue).await?;
        store.configure(queue, &bench_queue_config()).await?;
        preload_waiting(store.pool(), queue, 0, users).await?;
        Ok(())
    }
}

/// The cluster's masters: port and the slot ranges each serves, from
/// `CLUSTER NODES` as the first seed sees it.
async fn masters(seed_urls: &str) -> anyhow::Result<Vec<(u16, Vec<(u16, u16)>)>> {
    let seed = seed_urls
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .context("a seed node")?;
    let client = redis::Client::open(seed)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await?;
    let mut masters: Vec<(u16, Vec<(u16, u16)>)> = nodes
        .lines()
        .filter_map(|line| {
            // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            if !flags.split(',').any(|f| f == "master") || fields.len() < 9 {
                return None;
            }
            let port = fields[1]
                .split('@')
                .next()?
                .rsplit_once(':')?
                .1
                .parse()
                .ok()?;
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .filter_map(|range| match range.split_once('-') {
                    Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some((port, slots))
        })
        .collect();
    masters.sort();
    if masters.len() < 2 {
        bail!("expected a cluster of several masters, found {masters:?}");
    }
    Ok(masters)
}

/// Queue names, [`QUEUES_PER_MASTER`] served by each master.
fn spread_queues(
    masters: &[(u16, Vec<(u16, u16)>)],
    store: &QueueStore,
) -> anyhow::Result<Vec<QueueId>> {
    let mut placed: BTreeMap<u16, Vec<QueueId>> = BTreeMap::new();
    for n in 0..10_000 {
        let queue = QueueId::parse(&format!("bench-spread-{n}"))?;
        let slot = key_slot(store.pool().keyspace().queue(&queue).line().as_bytes());
        let Some((port, _)) = masters
            .iter()
            .find(|(_, slots)| slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot)))
        else {
            continue;
        };
        let on_master = placed.entry(*port).or_default();
        if on_master.len() < QUEUES_PER_MASTER {
            on_master.push(queue);
        }
        if placed.len() == masters.len() && placed.values().all(|q| q.len() == QUEUES_PER_MASTER) {
            // Interleaved, so that consecutive issues go to different masters.
            let mut queues = Vec::new();
            for i in 0..QUEUES_PER_MASTER {
                queues.extend(placed.values().map(|q| q[i].clone()));
            }
            return Ok(queues);
        }
    }
    bail!("no queue names found that spread over the masters")
}
