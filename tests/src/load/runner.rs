//! Runs a request generator over many keep-alive connections, closed-loop
//! (each connection sends as soon as its last reply arrived) or open-loop
//! (requests are due at a fixed overall rate; latency counts from when a
//! request was due, so a stalled server cannot hide its queueing delay).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::http1::Http1Connection;

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub connections: usize,
    pub duration: Duration,
    /// Requests sent but not measured before the measured window.
    pub warmup: Duration,
    /// Open-loop overall requests per second; `None` for closed-loop.
    pub rate: Option<f64>,
}

/// Makes the bytes of the `n`-th request of connection `conn`.
pub type RequestMaker = Arc<dyn Fn(usize, u64, &mut FastRng) -> Vec<u8> + Send + Sync>;

#[derive(Debug)]
pub struct LoadReport {
    pub elapsed: Duration,
    pub by_status: BTreeMap<u16, u64>,
    pub io_errors: u64,
    /// Latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl LoadReport {
    pub fn empty() -> Self {
        Self {
            elapsed: Duration::ZERO,
            by_status: BTreeMap::new(),
            io_errors: 0,
            latency_us: new_histogram(),
        }
    }

    /// Adds another run's samples and time to this one.
    pub fn absorb(&mut self, other: &LoadReport) {
        let _ = self.latency_us.add(&other.latency_us);
        for (status, n) in &other.by_status {
            *self.by_status.entry(*status).or_insert(0) += n;
        }
        self.io_errors += other.io_errors;
        self.elapsed += other.elapsed;
    }

    pub fn requests(&self) -> u64 {
        self.by_status.values().sum()
    }

    pub fn successes(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn summary(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, statuses {:?}, io errors {}",
            self.per_second(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            self.latency_us.max() as f64 / 1000.0,
            self.by_status,
            self.io_errors
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests(),
            "successes": self.successes(),
            "per_second": self.per_second(),
            "p50_ms": self.quantile_ms(0.5),
            "p90_ms": self.quantile_ms(0.9),
            "p99_ms": self.quantile_ms(0.99),
            "max_ms": self.latency_us.max() as f64 / 1000.0,
            "statuses": self.by_status,
            "io_errors": self.io_errors,
        })
    }
}

/// xorshift64*: cheap per-connection randomness for picking users.
pub struct FastRng(u64);

impl FastRng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// What one connection's task counted: latencies, answers by status, IO errors.
type ConnectionTally = (Histogram<u64>, BTreeMap<u16, u64>, u64);

/// Sums the connections' tallies; the caller sets the elapsed time.
async fn gather(tasks: Vec<tokio::task::JoinHandle<ConnectionTally>>) -> LoadReport {
    let mut report = LoadReport::empty();
    for task in tasks {
        if let Ok((latency_us, by_status, io_errors)) = task.await {
            report.absorb(&LoadReport {
                elapsed: Duration::ZERO,
                by_status,
                io_errors,
                latency_us,
            });
        }
    }
    report
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds")
}

pub async fn run(spec: LoadSpec, make: RequestMaker) -> LoadReport {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let stop_at = measure_from + spec.duration;
    // Open loop: request k is due at start + k / rate, and whichever
    // connection is free takes the next due request, so one slow reply
    // delays only itself while the schedule keeps going.
    let interval = spec.rate.map(|rate| Duration::from_secs_f64(1.0 / rate));
    let next_due = Arc::new(AtomicU64::new(0));

    let tasks: Vec<_> = (0..spec.connections)
        .map(|conn| {
            let make = make.clone();
            let next_due = next_due.clone();
            let addr = spec.addr;
            tokio::spawn(async move {
                let mut histogram = new_histogram();
                let mut by_status = BTreeMap::new();
                let mut io_errors = 0u64;
                let mut rng = FastRng::new(conn as u64 + 1);
                let mut connection = None;
                let mut n = 0u64;
                loop {
                    let due = match interval {
                        Some(interval) => {
                            start
                                + interval.mul_f64(next_due.fetch_add(1, Ordering::Relaxed) as f64)
                        }
                        None => Instant::now(),
                    };
                    if due >= stop_at {
                        break;
                    }
                    // Tokio timers round up to the next millisecond: never
                    // sleep for a request that is already due.
                    if due > Instant::now() {
                        tokio::time::sleep_until(due).await;
                    }
                    let request = make(conn, n, &mut rng);
                    n += 1;
                    if connection.is_none() {
                        connection = Http1Connection::connect(addr).await.ok();
                    }
                    let Some(open) = connection.as_mut() else {
                        io_errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let result = open.round_trip(&request).await;
                    let finished = Instant::now();
                    let measured = due >= measure_from;
                    match result {
                        Ok(reply) => {
                            if measured {
                                *by_status.entry(reply.status).or_insert(0u64) += 1;
                                let micros = (finished - due).as_micros().max(1) as u64;
                                let _ = histogram.record(micros.min(60_000_000));
                            }
                        }
                        Err(_) => {
                            connection = None;
                            if measured {
                                io_errors += 1;
                            }
                        }
                    }
                }
                (histogram, by_status, io_errors)
            })
        })
        .collect();

    let mut report = gather(tasks).await;
    report.elapsed = (Instant::now().min(stop_at) - measure_from).max(Duration::from_millis(1));
    report
}

/// Sends a fixed list of requests over `connections` keep-alive connections
/// as fast as they are answered; `elapsed` spans the whole list.
pub async fn run_fixed(addr: SocketAddr, connections: usize, requests: Vec<Vec<u8>>) -> LoadReport {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let requests = requests.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut histogram = new_histogram();
                let mut by_status = BTreeMap::new();
                let mut io_errors = 0u64;
                let mut connection: Option<Http1Connection> = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(request) = requests.get(i) else {
                        break;
                    };
                    if connection.is_none() {
                        connection = Http1Connection::connect(addr).await.ok();
                    }
                    let Some(open) = connection.as_mut() else {
                        io_errors += 1;
                        continue;
                    };
                    let sent = Instant::now();
                    match open.round_trip(request).await {
                        Ok(reply) => {
                            *by_status.entry(reply.status).or_insert(0u64) += 1;
                            let _ = histogram
                                .record((sent.elapsed().as_micros().max(1) as u64).min(60_000_000));
                        }
                        Err(_) => {
                            connection = None;
                            io_errors += 1;
                        }
                    }
                }
                (histogram, by_status, io_errors)
            })
        })
        .collect();
    let mut report = gather(tasks).await;
    report.elapsed = started.elapsed().max(Duration::from_millis(1));
    report
}
