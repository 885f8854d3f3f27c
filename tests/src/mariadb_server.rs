//! A private `mariadbd` on a free port with its own data directory, for
//! tests that kill the database. It never touches the machine's shared
//! MariaDB that other tests use. Starting one costs a few seconds
//! (`mariadb-install-db`), so only the fault tests use it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::free_port;

pub struct ThrowawayMariaDb {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ThrowawayMariaDb {
    pub fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("throwaway-mariadb-{port}-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("a scratch directory for mariadb");
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        let installed = Command::new(install_db())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db is installed (scripts/test.sh installs mariadb-server)");
        assert!(installed.success(), "mariadb-install-db failed");
        let mut db = Self {
            port,
            dir,
            child: None,
        };
        db.restart();
        db
    }

    /// `mysql://root@127.0.0.1:<port>`: may create databases.
    pub fn admin_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// `kill -9`: InnoDB recovers from its redo log at the next start.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        let data = self.dir.join("data");
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        let child = Command::new(server_binary())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--socket={}",
                self.dir.join("mysql.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysql.pid").display()
            ))
            .arg(format!("--user={user}"))
            .args([
                "--innodb-buffer-pool-size=64M",
                "--skip-log-bin",
                "--max-connections=500",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "throwaway mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn install_db() -> &'static str {
    if std::path::Path::new("/usr/bin/mariadb-install-db").exists() {
        "/usr/bin/mariadb-install-db"
    } else {
        "mariadb-install-db"
    }
}

fn server_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/mariadbd").exists() {
        "/usr/sbin/mariadbd"
    } else {
        "mariadbd"
    }
}
