//! A private redis-server on a free port, for tests that stop, restart or flush Redis
//! (never the machine's shared one).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
    /// Its own working directory (`--dir`: where `SAVE` writes the RDB it reloads at a
    /// restart), removed on drop.
    dir: std::path::PathBuf,
    /// Arguments added to every start (e.g. `--enable-debug-command local`).
    extra: Vec<String>,
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisProcess {
    pub fn start() -> RedisProcess {
        Self::start_with(&[])
    }

    /// Starts one with `extra` arguments, on every start (restarts too).
    pub fn start_with(extra: &[&str]) -> RedisProcess {
        let dir =
            std::env::temp_dir().join(format!("cq-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut process = RedisProcess {
            port: free_port(),
            child: None,
            dir,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        process.spawn();
        process
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server (with `once`, arguments for this start only) and waits until
    /// `ready` holds.
    fn spawn_until(&mut self, once: &[&str], ready: fn(&RedisProcess) -> bool) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .args(once)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh installs it)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server on port {} did not start", self.port);
    }

    fn spawn(&mut self) {
        self.spawn_until(&[], |redis| redis.answers("PING"));
    }

    /// Whether `command` (no arguments) gets a string answer, not an error (`PING`, `INFO`).
    fn answers(&self, command: &str) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd(command).query::<String>(&mut c))
            .is_ok()
    }

    /// Kills the server (SIGKILL): its data is gone, as after a crash without persistence.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills it and starts it again on the same port and directory, with `once` added for
    /// this start, returning as soon as it accepts connections (it answers `INFO`), not
    /// once it serves: it may still be loading the RDB it finds there (commands other than
    /// `INFO`, `CONFIG` and a few more then answer `LOADING`).
    pub fn restart_without_waiting_for_load(&mut self, once: &[&str]) {
        self.stop();
        self.spawn_until(once, |redis| redis.answers("INFO"));
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
