//! Real components for integration tests: each helper starts the real
//! program on 127.0.0.1 on a free port, waits until it answers, and stops it
//! when dropped. A missing program skips the test, or fails it under
//! `CI=true` so CI can never pass by skipping.
#![allow(dead_code)]

pub mod alertmanager;
pub mod gitlab;
pub mod keyring;
#[cfg(feature = "ec2")]
pub mod moto;
pub mod prometheus;
pub mod sshd;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Finds `program` (a path, or a name searched on PATH). `None` means the
/// test should be skipped; under `CI=true` a missing program panics.
pub fn require_program(program: &str, install_hint: &str) -> Option<PathBuf> {
    let found = if program.contains('/') {
        Path::new(program).is_file().then(|| PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("`{program}` is required for this test in CI: {install_hint}");
        }
        eprintln!("skipping: `{program}` not found ({install_hint})");
    }
    found
}

/// A plain HTTP/1.0 GET to 127.0.0.1:`port` (no client library, so the
/// harness does not depend on the code under test). Returns status and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(1),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Polls `ready` every 100 ms until it is true or `within` has passed.
pub fn wait_until(within: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
