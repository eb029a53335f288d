//! A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1,
//! routing every alert to a webhook with a one-second group wait, with its
//! own config and storage in a temp dir and clustering off; and the loopback
//! HTTP receiver its webhook posts to.

use super::{free_port, http_get, require_program, wait_until};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Alertmanager {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager sending every alert group to `webhook_url` and
    /// waits until it is ready. `None` when the binary is missing outside CI.
    pub fn start(webhook_url: &str) -> Option<Alertmanager> {
        let bin = std::env::var("ALERTMANAGER_BIN")
            .unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
        let bin = require_program(&bin, "apt-get install -y prometheus-alertmanager")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: runbook\n  group_by: [alertname]\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: runbook\n    webhook_configs:\n      - url: '{webhook_url}'\n        send_resolved: false\n"
            ),
        )
        .expect("write alertmanager.yml");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log file");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip port: several test daemons may run at once.
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn alertmanager");
        let am = Alertmanager { child, port, dir };
        let ready = wait_until(Duration::from_secs(60), || {
            matches!(http_get(port, "/-/ready"), Some((200, _)))
        });
        if !ready {
            panic!(
                "alertmanager on 127.0.0.1:{port} was not ready within 60s; log:\n{}",
                am.log()
            );
        }
        Some(am)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback HTTP server that answers every POST with 200 and hands over
/// its body. The accepting thread ends with the test process.
pub struct WebhookReceiver {
    pub port: u16,
    bodies: mpsc::Receiver<String>,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().expect("local addr").port();
        let (tx, bodies) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if tx
                    .send(String::from_utf8_lossy(&body).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        WebhookReceiver { port, bodies }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/alerts", self.port)
    }

    /// The next body posted, or `None` after `within`.
    pub fn next(&self, within: Duration) -> Option<String> {
        self.bodies.recv_timeout(within).ok()
    }
}
