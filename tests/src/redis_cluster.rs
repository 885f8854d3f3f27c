//! A private Redis Cluster on loopback: three masters and three replicas
//! (`redis-server` from Debian, as scripts/test.sh installs it), in a
//! scratch directory, keeping nothing on disk. Dropping it kills every node
//! and removes the directory.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_redis::redis;

/// Nodes of the cluster: three masters, each with one replica.
const NODES: usize = 6;
/// Every node's cluster bus listens on its port plus this.
const BUS_OFFSET: u16 = 10_000;

pub struct ThrowawayCluster {
    ports: Vec<u16>,
    dir: PathBuf,
    children: Vec<Child>,
    killed: Vec<u16>,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub id: String,
    pub port: u16,
    pub master: bool,
    /// For a replica, the id of its master.
    pub master_id: Option<String>,
    /// Slot ranges served (masters only), inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
    }
}

impl ThrowawayCluster {
    /// Starts six nodes, joins them into a cluster with
    /// `redis-cli --cluster create --cluster-replicas 1` and waits until
    /// every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        Self::start_with_node_timeout(2_000)
    }

    /// Like [`Self::start`], with `cluster-node-timeout` in milliseconds:
    /// how long a silent master has until its replica takes over (the
    /// election adds 0.5 to 1 s).
    pub fn start_with_node_timeout(node_timeout_ms: u32) -> Self {
        let ports = free_ports();
        let dir = std::env::temp_dir().join(format!(
            "throwaway-redis-cluster-{}-{}",
            ports[0],
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for the cluster");
        let mut cluster = Self {
            ports,
            dir,
            children: Vec::new(),
            killed: Vec::new(),
        };
        for &port in &cluster.ports {
            let log = std::fs::File::create(cluster.dir.join(format!("{port}.log")))
                .expect("a node log file");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", &node_timeout_ms.to_string()])
                .args(["--appendonly", "no", "--save", ""])
                // Replicas sync at once, not after the default 5 s wait for
                // more replicas to share one diskless transfer: a failover
                // before the first sync would promote an empty node.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--dir", cluster.dir.to_str().expect("a UTF-8 temp path")])
                .stdout(Stdio::from(log))
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed (scripts/test.sh installs it)");
            cluster.children.push(child);
        }
        for &port in &cluster.ports {
            cluster.wait_for(port, "the node answers PING", |conn| {
                redis::cmd("PING").query::<String>(conn).is_ok()
            });
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli is installed (it comes with redis-server)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_healthy();
        cluster
    }

    /// Comma-separated seed URLs, as `REDIS_CLUSTER_URLS` takes them.
    pub fn seed_urls(&self) -> String {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// A plain connection to one node (no redirections followed).
    pub fn node(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .expect("a valid url")
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to a cluster node")
    }

    /// The cluster as a live node sees it (`CLUSTER NODES`).
    pub fn topology(&self) -> Vec<ClusterNode> {
        let text: String = self
            .live_ports()
            .find_map(|port| {
                redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut self.node(port))
                    .ok()
            })
            .expect("CLUSTER NODES from a live node");
        parse_nodes(&text)
    }

    /// Kills one node (`kill -9`).
    pub fn kill(&mut self, port: u16) {
        let index = self
            .ports
            .iter()
            .position(|&p| p == port)
            .expect("a node of this cluster");
        let _ = self.children[index].kill();
        let _ = self.children[index].wait();
        self.killed.push(port);
    }

    /// What one node has logged so far.
    pub fn node_log(&self, port: u16) -> String {
        std::fs::read_to_string(self.dir.join(format!("{port}.log"))).unwrap_or_default()
    }

    /// Stops one node (`SIGSTOP`): it keeps its sockets and answers
    /// nothing until [`Self::thaw`].
    pub fn freeze(&self, port: u16) {
        self.signal(port, "-STOP");
    }

    /// Lets a frozen node go on (`SIGCONT`).
    pub fn thaw(&self, port: u16) {
        self.signal(port, "-CONT");
    }

    fn signal(&self, port: u16, signal: &str) {
        let index = self
            .ports
            .iter()
            .position(|&p| p == port)
            .expect("a node of this cluster");
        let status = Command::new("kill")
            .args([signal, &self.children[index].id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {port} failed");
    }

    /// The replica of the master `master` (by node id).
    pub fn replica_of(&self, master: &ClusterNode) -> ClusterNode {
        self.topology()
            .into_iter()
            .find(|n| n.master_id.as_deref() == Some(master.id.as_str()))
            .unwrap_or_else(|| panic!("master {} has a replica", master.port))
    }

    /// Waits until a node other than `old` serves `slot` and every slot is
    /// served again (`cluster_state:ok` on every live node); returns the
    /// new master of the slot.
    pub fn wait_for_new_master(&self, slot: u16, old: u16, timeout: Duration) -> ClusterNode {
        let deadline = Instant::now() + timeout;
        loop {
            let promoted = self.live_ports().all(|port| {
                let text: Result<String, _> = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut self.node(port));
                text.is_ok_and(|text| {
                    parse_nodes(&text)
                        .iter()
                        .any(|n| n.master && n.port != old && n.serves(slot))
                })
            });
            if promoted {
                return self.master_of(slot);
            }
            assert!(
                Instant::now() < deadline,
                "no node took over slot {slot} from {old} within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn live_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports
            .iter()
            .copied()
            .filter(|port| !self.killed.contains(port))
    }

    pub fn masters(&self) -> Vec<ClusterNode> {
        self.topology().into_iter().filter(|n| n.master).collect()
    }

    /// The master serving `slot`.
    pub fn master_of(&self, slot: u16) -> ClusterNode {
        self.masters()
            .into_iter()
            .find(|n| n.serves(slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// `CLUSTER KEYSLOT key`, as the server computes it.
    pub fn keyslot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.node(self.live_ports().next().expect("a live node")))
            .expect("CLUSTER KEYSLOT")
    }

    /// Promotes `replica` in place of its master (`CLUSTER FAILOVER`, the
    /// coordinated kind: no write is lost) and waits until every node
    /// agrees and the cluster serves again.
    pub fn fail_over_to(&self, replica: &ClusterNode) {
        let answer: String = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query(&mut self.node(replica.port))
            .expect("CLUSTER FAILOVER");
        assert_eq!(answer, "OK");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let promoted = self.live_ports().all(|port| {
                let text: Result<String, _> = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut self.node(port));
                text.is_ok_and(|text| {
                    parse_nodes(&text)
                        .iter()
                        .any(|n| n.id == replica.id && n.master && !n.slots.is_empty())
                })
            });
            if promoted {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} was not promoted",
                replica.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_until_healthy();
    }

    fn wait_until_healthy(&self) {
        for port in self.live_ports() {
            self.wait_for(port, "cluster_state:ok", |conn| {
                let info: Result<String, _> = redis::cmd("CLUSTER").arg("INFO").query(conn);
                info.is_ok_and(|info| {
                    let field = |name: &str| {
                        info.lines()
                            .find_map(|line| line.trim().strip_prefix(name))
                            .map(str::to_owned)
                    };
                    field("cluster_state:").as_deref() == Some("ok")
                        && field("cluster_known_nodes:").as_deref() == Some("6")
                        && field("cluster_slots_ok:").as_deref() == Some("16384")
                })
            });
            // A replica has synced with its master and follows it.
            self.wait_for(port, "a replica's link to its master up", |conn| {
                let info: Result<String, _> = redis::cmd("INFO").arg("replication").query(conn);
                info.is_ok_and(|info| {
                    !info.contains("role:slave") || info.contains("master_link_status:up")
                })
            });
            // Every replica known as one, by every node.
            self.wait_for(port, "three replicas known", |conn| {
                let text: Result<String, _> = redis::cmd("CLUSTER").arg("NODES").query(conn);
                text.is_ok_and(|text| {
                    let nodes = parse_nodes(&text);
                    nodes
                        .iter()
                        .filter(|n| n.master && !n.slots.is_empty())
                        .count()
                        == 3
                        && nodes.iter().filter(|n| n.master_id.is_some()).count() == 3
                })
            });
        }
    }

    fn wait_for(
        &self,
        port: u16,
        what: &str,
        mut ready: impl FnMut(&mut redis::Connection) -> bool,
    ) {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("valid url");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200))
                && ready(&mut conn)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join(format!("{port}.log"))).unwrap_or_default();
        panic!("cluster node {port}: {what} did not happen in time; its log:\n{log}");
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        // A failing test shows what the cluster went through.
        if std::thread::panicking() {
            for &port in &self.ports {
                let log = self.node_log(port);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- redis cluster node {port}, last lines of its log:");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
            let port = fields[1]
                .split('@')
                .next()?
                .rsplit_once(':')?
                .1
                .parse()
                .ok()?;
            let flags: Vec<&str> = fields[2].split(',').collect();
            let master = flags.contains(&"master") && !flags.contains(&"fail");
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .filter_map(|range| match range.split_once('-') {
                    Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some(ClusterNode {
                id: fields[0].to_owned(),
                port,
                master,
                master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
            })
        })
        .collect()
}

/// Six ports below 55535 that are free, with their bus ports (+10000).
fn free_ports() -> Vec<u16> {
    let mut ports = Vec::new();
    let mut taken = BTreeMap::new();
    while ports.len() < NODES {
        let candidate = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("can bind an ephemeral port");
        // Nodes in 20000..30000, so their buses (30000..40000) can never
        // be another node's port.
        let port = 20_000 + candidate % 10_000;
        let bindable = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if taken.insert(port, ()).is_none() && bindable(port) && bindable(port + BUS_OFFSET) {
            ports.push(port);
        }
    }
    ports
}
