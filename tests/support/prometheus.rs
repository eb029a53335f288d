//! A real Prometheus (Debian's `prometheus` package) on 127.0.0.1, scraping
//! itself every second, with its own config and storage in a temp dir.

use super::{free_port, http_get, require_program, wait_until};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus and waits until `up` has a sample. `None` when the
    /// binary is missing outside CI.
    pub fn start() -> Option<Prometheus> {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into());
        let bin = require_program(&bin, "apt-get install -y prometheus")?;
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
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
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
        let ready = wait_until(Duration::from_secs(60), || {
            matches!(
                http_get(port, "/api/v1/query?query=up"),
                Some((200, body)) if body.contains("\"value\"")
            )
        });
        if !ready {
            let log = std::fs::read_to_string(prom._dir.path().join("prometheus.log"))
                .unwrap_or_default();
            let _ = prom.child.kill();
            panic!("prometheus on 127.0.0.1:{port} did not become ready with a scraped `up` within 60s; log:\n{log}");
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
