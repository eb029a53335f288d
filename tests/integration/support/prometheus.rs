//! A real Prometheus (Debian's `prometheus` package) on 127.0.0.1, scraping
//! itself every second, with its own config and storage in a temp dir.

use super::{free_port, http_get, require_program, wait_until};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping itself every second and waits until `up`
    /// has a sample. `None` when the binary is missing outside CI.
    pub fn start() -> Option<Prometheus> {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            ),
        )
        .expect("write prometheus.yml");
        Self::launch(dir, port, "up", &[])
    }

    /// Starts Prometheus with the `prometheus.yml` of a fixture directory
    /// (every file of it is copied, so `rule_files` resolve), and waits until
    /// `ready_query` returns at least one sample.
    pub fn start_fixture(fixture_dir: &Path, ready_query: &str) -> Option<Prometheus> {
        Self::start_fixture_with(fixture_dir, ready_query, &[])
    }

    /// [`Prometheus::start_fixture`] with extra command-line flags.
    pub fn start_fixture_with(
        fixture_dir: &Path,
        ready_query: &str,
        flags: &[&str],
    ) -> Option<Prometheus> {
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(fixture_dir).expect("fixture dir") {
            let entry = entry.expect("fixture entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
                    .expect("copy fixture file");
            }
        }
        Self::launch(dir, free_port(), ready_query, flags)
    }

    /// [`Prometheus::start_fixture`] with history: `openmetrics` (OpenMetrics
    /// text ending in `# EOF`) is backfilled into the new storage with
    /// Debian's `promtool tsdb create-blocks-from openmetrics` first, so
    /// range queries over the last hour see data.
    pub fn start_fixture_backfilled(
        fixture_dir: &Path,
        ready_query: &str,
        openmetrics: &str,
    ) -> Option<Prometheus> {
        let promtool = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "/usr/bin/promtool".into());
        let promtool = require_program(&promtool, "apt-get install -y prometheus")?;
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(fixture_dir).expect("fixture dir") {
            let entry = entry.expect("fixture entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
                    .expect("copy fixture file");
            }
        }
        let history = dir.path().join("history.om");
        std::fs::write(&history, openmetrics).expect("write history");
        let out = Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&history)
            .arg(dir.path().join("data"))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool backfill failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self::launch(dir, free_port(), ready_query, &[])
    }

    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        ready_query: &str,
        flags: &[&str],
    ) -> Option<Prometheus> {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into());
        let bin = require_program(&bin, "apt-get install -y prometheus")?;
        let config = dir.path().join("prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut prom = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let path = format!("/api/v1/query?query={}", encode_query(ready_query));
        let ready = wait_until(Duration::from_secs(60), || {
            matches!(
                http_get(port, &path),
                Some((200, body)) if body.contains("\"value\"")
            )
        });
        if !ready {
            let log = std::fs::read_to_string(prom._dir.path().join("prometheus.log"))
                .unwrap_or_default();
            let _ = prom.child.kill();
            panic!(
                "prometheus on 127.0.0.1:{port} did not answer `{ready_query}` with a sample within 60s; log:\n{log}"
            );
        }
        Some(prom)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter value (everything but unreserved bytes).
pub fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
