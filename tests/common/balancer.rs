//! A real HAProxy (Debian's `haproxy`, from `scripts/setup.sh`) running the shipped
//! `deploy/haproxy/haproxy.cfg` in front of test nodes, its stats read as CSV, and the node
//! lifecycle steps a balancer test needs (SIGTERM and the exit status).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{free_port, poll_until, repo, stop, TestNode};

/// Check and agent interval of test clusters: short, so that state changes show quickly.
pub const CHECK_INTER: &str = "300ms";

/// One server line: the node's HTTP port, agent port and direct slots.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    pub http_port: u16,
    pub agent_port: u16,
    pub slots: u64,
}

/// HAProxy in the foreground (`-db`), stopped by PID on drop.
pub struct Haproxy {
    child: Child,
    pub port: u16,
    pub stats_port: u16,
    log_path: PathBuf,
    http: reqwest::Client,
}

impl Haproxy {
    /// Starts HAProxy for `backends` (server `node<i>` is `backends[i-1]`) and waits until
    /// every server is UP.
    pub async fn start(backends: &[Backend], log_dir: &std::path::Path) -> Self {
        let haproxy = PathBuf::from("/usr/sbin/haproxy");
        assert!(
            haproxy.exists(),
            "haproxy is missing: run scripts/setup.sh first"
        );
        let port = free_port();
        let stats_port = free_port();
        let log_path = log_dir.join("haproxy.log");
        let log = std::fs::File::create(&log_path).expect("haproxy log");
        let mut command = Command::new(haproxy);
        command
            .arg("-db")
            .arg("-f")
            .arg(repo().join("deploy/haproxy/haproxy.cfg"))
            .env("LB_BIND", format!("127.0.0.1:{port}"))
            .env("LB_STATS_BIND", format!("127.0.0.1:{stats_port}"))
            .env("LB_CHECK_INTER", CHECK_INTER)
            .env("LB_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (index, backend) in backends.iter().enumerate() {
            let name = format!("EXECUTOR_{}", index + 1);
            command
                .env(&name, format!("127.0.0.1:{}", backend.http_port))
                .env(format!("{name}_AGENT"), backend.agent_port.to_string())
                .env(format!("{name}_SLOTS"), backend.slots.to_string())
                .env(format!("{name}_WEIGHT"), (backend.slots * 10).to_string());
        }
        let child = command.spawn().expect("haproxy starts");
        let haproxy = Self {
            child,
            port,
            stats_port,
            log_path,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        };
        for index in 1..=backends.len() {
            haproxy.wait_status(&format!("node{index}"), "UP").await;
        }
        haproxy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Every server's row of the stats CSV (none while HAProxy is not listening yet).
    pub async fn servers(&self) -> Vec<ServerStats> {
        let url = format!("http://127.0.0.1:{}/stats;csv", self.stats_port);
        let Ok(response) = self.http.get(url).send().await else {
            return Vec::new();
        };
        let text = response.text().await.expect("stats body");
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .expect("CSV header")
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |row: &[&str], name: &str| -> String {
            let index = header.iter().position(|h| *h == name).expect("column");
            row.get(index).copied().unwrap_or_default().to_owned()
        };
        lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|row| row.first() == Some(&"executors"))
            .filter(|row| row.get(1).is_some_and(|name| name.starts_with("node")))
            .map(|row| ServerStats {
                name: column(&row, "svname"),
                status: column(&row, "status"),
                weight: column(&row, "weight").parse().unwrap_or(0),
                total: column(&row, "stot").parse().unwrap_or(0),
                current: column(&row, "scur").parse().unwrap_or(0),
                redispatched: column(&row, "wredis").parse().unwrap_or(0),
            })
            .collect()
    }

    /// One server's stats.
    pub async fn server(&self, name: &str) -> ServerStats {
        self.find(name).await.expect("server in stats")
    }

    async fn find(&self, name: &str) -> Option<ServerStats> {
        self.servers()
            .await
            .into_iter()
            .find(|server| server.name == name)
    }

    /// Waits until `name`'s status starts with `status` (`UP`, `DOWN`, `DRAIN`…).
    pub async fn wait_status(&self, name: &str, status: &str) {
        let reached = poll_until(Duration::from_secs(30), || async {
            self.find(name)
                .await
                .is_some_and(|server| server.status.starts_with(status))
        })
        .await;
        assert!(
            reached,
            "{name} never {status}: {:?}\n{}",
            self.servers().await,
            self.logs()
        );
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A server's line of the stats page.
#[derive(Debug, Clone)]
pub struct ServerStats {
    pub name: String,
    pub status: String,
    /// The effective weight (the configured one scaled by the agent's percentage).
    pub weight: u64,
    /// Requests sent to it so far.
    pub total: u64,
    /// Requests it has in flight now.
    pub current: u64,
    /// Requests that failed on it and were sent to another node.
    pub redispatched: u64,
}

impl TestNode {
    /// Sends SIGTERM (the graceful drain starts).
    pub fn terminate(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM sent");
    }

    /// Waits for the node process to exit and returns its status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node did not exit: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
