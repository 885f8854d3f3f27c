//! A private `redis-server` on a free port, for tests that stop, kill,
//! freeze or wipe Redis. It never touches the machine's shared Redis that
//! other tests use.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ThrowawayRedis {
    port: u16,
    password: Option<String>,
    /// Where an AOF server keeps its data; gone with the server.
    dir: PathBuf,
    append_only: bool,
    child: Option<Child>,
}

impl ThrowawayRedis {
    /// A server that keeps nothing on disk: a restart loses everything.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A server with the append-only file on (fsync on every write), as
    /// production runs it: a restart, even after `kill -9`, keeps the data.
    pub fn start_with_aof() -> Self {
        Self::launch(true)
    }

    /// A server that asks clients for `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Self {
        let mut redis = Self::prepare(false);
        redis.password = Some(password.to_owned());
        redis.restart();
        redis
    }

    fn launch(append_only: bool) -> Self {
        let mut redis = Self::prepare(append_only);
        redis.restart();
        redis
    }

    fn prepare(append_only: bool) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("throwaway-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory for redis");
        Self {
            port,
            password: None,
            dir,
            append_only,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (`kill -9`): no chance to write anything more.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// Starts the server again on the same port (and, with AOF, the same data).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(["--dir", self.dir.to_str().expect("a UTF-8 temp path")])
            .args(if self.append_only {
                ["--appendonly", "yes", "--appendfsync", "always"].as_slice()
            } else {
                ["--appendonly", "no"].as_slice()
            })
            .args(
                self.password
                    .iter()
                    .flat_map(|password| ["--requirepass", password.as_str()]),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = deadpool_redis::redis::Client::open(self.url()).expect("valid url");
        while Instant::now() < deadline {
            if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200))
                && deadpool_redis::redis::cmd("PING")
                    .query::<String>(&mut conn)
                    .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("throwaway redis-server on port {} did not start", self.port);
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("can bind an ephemeral port")
}
