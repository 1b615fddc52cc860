//! Private service processes the outage tests stop and start: a mariadbd with its own
//! data directory and a tansu broker, each on a free port (never the machine's own).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis_process::free_port;

fn wait_for_port(port: u16, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} on port {port} did not start within {limit:?}");
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A mariadbd on a free port with a data directory of its own (initialised once by
/// mariadb-install-db, kept across restarts), authentication off.
pub struct MariadbProcess {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl MariadbProcess {
    pub fn start() -> MariadbProcess {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cq-mariadb-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args([
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db must be installed");
        assert!(status.success(), "mariadb-install-db failed");
        let mut process = MariadbProcess {
            port,
            dir,
            child: None,
        };
        process.spawn();
        process
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--performance-schema=OFF",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd must be installed");
        self.child = Some(child);
        wait_for_port(self.port, "private mariadbd", Duration::from_secs(60));
    }

    /// SIGKILL: committed transactions survive (InnoDB), connections break.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for MariadbProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The tansu binary: `TANSU_BIN`, the cached install, or `tansu` on the PATH.
pub fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return bin.into();
    }
    let cached = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/concert-queue/tansu-0.6.0/bin/tansu");
    if cached.exists() {
        cached
    } else {
        "tansu".into()
    }
}

/// A tansu broker (in-memory storage) on a free port: a restart starts it empty.
pub struct BrokerProcess {
    pub port: u16,
    child: Option<Child>,
}

impl BrokerProcess {
    pub fn start() -> BrokerProcess {
        let mut broker = BrokerProcess {
            port: free_port(),
            child: None,
        };
        broker.spawn();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu_bin())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tansu broker must be installed (scripts/services.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "private tansu broker", Duration::from_secs(20));
    }

    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
