//! A private Redis Cluster (three masters, one replica each) on free loopback ports, for
//! tests that kill a node or flush its scripts (never the shared cluster of
//! `scripts/services.sh cluster`). Each node is a redis-server child with its own directory;
//! all are killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concert_queue::config::ClusterNodes;

use super::redis_process::free_port;

pub struct RedisCluster {
    nodes: Vec<(u16, Option<Child>)>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Six nodes, `redis-cli --cluster create --cluster-replicas 1`, a node timeout of one
    /// second (so a replica takes over within a few), ready when every slot is served and
    /// every master's replica is in sync.
    pub fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "cq-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port();
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                ])
                .args([
                    "--cluster-node-timeout",
                    "1000",
                    "--repl-diskless-sync-delay",
                    "0",
                ])
                // The bus on a port of its own (by default port + 10000, maybe taken or
                // past 65535 for an ephemeral port).
                .args(["--cluster-port", &free_port().to_string()])
                .arg("--cluster-config-file")
                .arg(node_dir.join("nodes.conf"))
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (scripts/services.sh installs it)");
            nodes.push((port, Some(child)));
        }
        let cluster = RedisCluster { nodes, dir };
        for &(port, _) in &cluster.nodes {
            wait_until(|| {
                cluster
                    .cli(port, &["PING"])
                    .is_some_and(|r| r.trim() == "PONG")
            });
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed (scripts/services.sh installs it)");
        assert!(created.success(), "redis-cli --cluster create failed");
        // Ready when every slot is served and every replica is in sync with its master (a
        // replica that never synced is refused the failover).
        let first = cluster.nodes[0].0;
        wait_until(|| {
            let info = cluster.cli(first, &["CLUSTER", "INFO"]).unwrap_or_default();
            let synced = cluster
                .nodes
                .iter()
                .filter(|(port, _)| {
                    cluster
                        .cli(*port, &["INFO", "replication"])
                        .is_some_and(|i| i.contains("master_link_status:up"))
                })
                .count();
            info.contains("cluster_state:ok") && synced == 3
        });
        cluster
    }

    /// Every node as seeds (`REDIS_CLUSTER_NODES`).
    pub fn nodes(&self) -> ClusterNodes {
        ClusterNodes(
            self.nodes
                .iter()
                .map(|(port, _)| format!("127.0.0.1:{port}"))
                .collect(),
        )
    }

    /// The port of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.live_port();
        let slot: u16 = self
            .cli(port, &["CLUSTER", "KEYSLOT", key])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let nodes = self.cli(port, &["CLUSTER", "NODES"]).unwrap();
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().ok() == Some(slot),
            });
            if serves {
                let address = fields[1].split('@').next().unwrap();
                return address.rsplit_once(':').unwrap().1.parse().unwrap();
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Kills the node on `port` (SIGKILL), as a crash does.
    pub fn kill(&mut self, port: u16) {
        for (p, child) in &mut self.nodes {
            if *p == port {
                if let Some(mut child) = child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    /// Runs one command on every live node (SCRIPT FLUSH, ...).
    pub fn on_every_node(&self, args: &[&str]) {
        for (port, child) in &self.nodes {
            if child.is_some() {
                assert!(self.cli(*port, args).is_some(), "{args:?} on {port}");
            }
        }
    }

    fn live_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|(_, child)| child.is_some())
            .unwrap()
            .0
    }

    fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn wait_until(mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "the private cluster is not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
