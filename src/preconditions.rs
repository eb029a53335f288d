//! Preconditions (`requires:` in the front matter), checked before any step
//! runs: commands on PATH, environment variables, files, HTTP endpoints,
//! reachable hosts and arbitrary `check` commands. Every precondition is
//! evaluated — a run that stops reports all that failed, not just the
//! first — and each gives a [`PreconditionResult`] with a short detail
//! saying what was found.
//!
//! Targets are rendered through the caller's template callback first (e.g.
//! `{{ params.prometheus_url }}/-/ready`); host reachability goes through a
//! [`HostProbe`] so the runner can plug in its SSH check, with a plain TCP
//! connect ([`TcpProbe`]) as the default.

use crate::document::Requires;
use crate::duration::format_duration;
use crate::exec::http::describe_error;
use crate::exec::path::find_on_path;
use crate::record::PreconditionResult;
use std::future::Future;

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Time limits for the checks that can hang.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per `http` endpoint (connect and response head).
    pub http_timeout: Duration,
    /// Per `check` command.
    pub check_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http_timeout: Duration::from_secs(10),
            check_timeout: Duration::from_secs(30),
        }
    }
}

/// A boxed future, so probes can be used as trait objects.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Checks that a `requires.hosts` entry is reachable. `Ok` carries the
/// detail for the report, `Err` says why not.
pub trait HostProbe: Sync {
    fn probe<'a>(&'a self, host: &'a str) -> ProbeFuture<'a>;
}

/// The default host check: a TCP connect to `host:port` within a timeout.
/// Targets are `[user@]host[:port]` (IPv6 as `[::1]:22`); the user is
/// ignored, the port defaults to `default_port`.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    pub default_port: u16,
    pub timeout: Duration,
}

impl Default for TcpProbe {
    fn default() -> Self {
        TcpProbe {
            default_port: 22,
            timeout: Duration::from_secs(5),
        }
    }
}

impl TcpProbe {
    /// `host:port` for a target.
    pub fn address(&self, target: &str) -> String {
        let host = target.rsplit_once('@').map_or(target, |(_, h)| h);
        if host.starts_with('[') {
            if host.contains("]:") {
                host.to_string()
            } else {
                format!("{host}:{}", self.default_port)
            }
        } else if host.matches(':').count() == 1 {
            host.to_string()
        } else if host.contains(':') {
            // A bare IPv6 address.
            format!("[{host}]:{}", self.default_port)
        } else {
            format!("{host}:{}", self.default_port)
        }
    }
}

impl HostProbe for TcpProbe {
    fn probe<'a>(&'a self, host: &'a str) -> ProbeFuture<'a> {
        Box::pin(async move {
            let addr = self.address(host);
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => Ok(format!("{addr} accepts connections")),
                Ok(Err(e)) => Err(format!("{addr}: {}", describe_error(&e))),
                Err(_) => Err(format!(
                    "{addr}: no answer within {}",
                    format_duration(self.timeout)
                )),
            }
        })
    }
}

/// [`evaluate_with`] with the default [`Options`].
pub async fn evaluate(
    req: &Requires,
    render: &(dyn Fn(&str) -> Result<String, String> + Sync),
    hosts: &dyn HostProbe,
) -> Vec<PreconditionResult> {
    evaluate_with(req, render, hosts, &Options::default()).await
}

/// Evaluates every precondition, concurrently (a slow or unreachable
/// endpoint costs its own timeout once, not once per entry), and returns
/// the results in the order `commands`, `env`, `files`, `http`, `hosts`,
/// `check`, each list in the order written. `target` is the rendered text
/// (the raw text when rendering failed).
pub async fn evaluate_with(
    req: &Requires,
    render: &(dyn Fn(&str) -> Result<String, String> + Sync),
    hosts: &dyn HostProbe,
    opts: &Options,
) -> Vec<PreconditionResult> {
    type Check<'a> = Pin<Box<dyn Future<Output = (bool, Option<String>)> + Send + 'a>>;
    let kinds: [(&str, &Vec<String>); 6] = [
        ("commands", &req.commands),
        ("env", &req.env),
        ("files", &req.files),
        ("http", &req.http),
        ("hosts", &req.hosts),
        ("check", &req.check),
    ];
    let mut targets = Vec::new();
    let mut checks: Vec<Check<'_>> = Vec::new();
    for (kind, items) in kinds {
        for raw in items {
            let target = match render(raw) {
                Ok(t) => t,
                Err(e) => {
                    targets.push((kind, raw.clone()));
                    let detail = format!("template error: {e}");
                    checks.push(Box::pin(async move { (false, Some(detail)) }));
                    continue;
                }
            };
            targets.push((kind, target.clone()));
            let check: Check<'_> = match kind {
                "commands" => Box::pin(async move { check_command(&target) }),
                "env" => Box::pin(async move { check_env(&target) }),
                "files" => Box::pin(async move { check_file(&target) }),
                "http" => Box::pin(check_http(target, opts.http_timeout)),
                "hosts" => Box::pin(async move {
                    match hosts.probe(&target).await {
                        Ok(d) => (true, Some(d)),
                        Err(d) => (false, Some(d)),
                    }
                }),
                _ => Box::pin(check_shell(target, opts.check_timeout)),
            };
            checks.push(check);
        }
    }
    join_all(checks)
        .await
        .into_iter()
        .zip(targets)
        .map(|((ok, detail), (kind, target))| PreconditionResult {
            kind: kind.to_string(),
            target,
            ok,
            detail,
        })
        .collect()
}

/// Drives all futures to completion on the current task; results in order.
async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut pending: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + '_>>>> =
        futures.into_iter().map(Some).collect();
    let mut done: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *out = Some(v);
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

fn check_command(command: &str) -> (bool, Option<String>) {
    if command.trim().is_empty() {
        return (false, Some("empty command name".into()));
    }
    match find_on_path(command) {
        Some(p) => (true, Some(p.display().to_string())),
        None if command.contains('/') => {
            if Path::new(command).exists() {
                (false, Some("not an executable file".into()))
            } else {
                (false, Some("does not exist".into()))
            }
        }
        None => (false, Some("not found on PATH".into())),
    }
}

fn check_env(name: &str) -> (bool, Option<String>) {
    match std::env::var_os(name) {
        None => (false, Some("not set".into())),
        Some(v) if v.is_empty() => (false, Some("set but empty".into())),
        // Never the value: it may be a secret.
        Some(_) => (true, Some("set".into())),
    }
}

fn check_file(path: &str) -> (bool, Option<String>) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => (true, Some("directory exists".into())),
        Ok(_) => (true, Some("file exists".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (false, Some("does not exist".into()))
        }
        Err(e) => (false, Some(describe_io(&e))),
    }
}

/// An io error without the `(os error N)` suffix, lowercase first letter.
fn describe_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// A GET that must answer 2xx or 3xx (redirects are not followed: a
/// redirecting endpoint is up).
async fn check_http(url: String, timeout: Duration) -> (bool, Option<String>) {
    let url = url.as_str();
    if let Err(e) = reqwest::Url::parse(url) {
        return (false, Some(format!("invalid URL: {e}")));
    }
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (false, Some(describe_error(&e))),
    };
    match tokio::time::timeout(timeout, client.get(url).send()).await {
        Err(_) => (
            false,
            Some(format!("no answer within {}", format_duration(timeout))),
        ),
        Ok(Err(e)) => (false, Some(describe_error(&e))),
        Ok(Ok(resp)) => {
            let s = resp.status();
            let line = format!("HTTP {} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
                .trim_end()
                .to_string();
            if s.is_success() || s.is_redirection() {
                (true, Some(line))
            } else {
                (false, Some(format!("{line} (expected 2xx or 3xx)")))
            }
        }
    }
}

/// Most output kept from a `check` command.
const CHECK_OUTPUT_LIMIT: usize = 64 * 1024;

fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Runs `sh -c command` in its own process group with stdin closed. Passes
/// on exit 0. The detail is the first non-empty output line (stdout first
/// on success, stderr first on failure), prefixed with the exit status on
/// failure.
async fn check_shell(command: String, timeout: Duration) -> (bool, Option<String>) {
    // The command (secrets rendered in) goes in the environment, never on
    // the command line.
    let mut child = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg("__rb_c=$__RB_CHECK; unset __RB_CHECK; eval \"$__rb_c\"")
        .env("__RB_CHECK", &command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return (false, Some(format!("cannot run sh: {}", describe_io(&e)))),
    };
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let kill_group = || {
        if let Some(pgid) = pgid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    };
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(tokio::spawn(read_into(pipe, Arc::clone(&stdout))));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(tokio::spawn(read_into(pipe, Arc::clone(&stderr))));
    }
    let status = tokio::time::timeout(timeout, child.wait()).await;
    if status.is_err() {
        kill_group();
    }
    // A background process may keep the pipes open: give them a moment,
    // then stop the whole group and keep what arrived.
    let drained = tokio::time::timeout(Duration::from_secs(1), async {
        for r in &mut readers {
            let _ = r.await;
        }
    })
    .await
    .is_ok();
    if !drained {
        kill_group();
        for r in &readers {
            r.abort();
        }
    }
    let out = stdout.lock().map(|b| b.clone()).unwrap_or_default();
    let err = stderr.lock().map(|b| b.clone()).unwrap_or_default();
    let status = match status {
        Err(_) => {
            let _ = child.wait().await;
            return (
                false,
                Some(format!("timed out after {}", format_duration(timeout))),
            );
        }
        Ok(Err(e)) => {
            return (
                false,
                Some(format!("cannot wait for sh: {}", describe_io(&e))),
            );
        }
        Ok(Ok(s)) => s,
    };
    if status.success() {
        return (true, first_line(&out).or_else(|| first_line(&err)));
    }
    let how = match status.code() {
        Some(code) => format!("exit {code}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            format!("killed by signal {}", status.signal().unwrap_or(0))
        }
    };
    match first_line(&err).or_else(|| first_line(&out)) {
        Some(line) => (false, Some(format!("{how}: {line}"))),
        None => (false, Some(how)),
    }
}

async fn read_into<R: tokio::io::AsyncRead + Unpin>(mut pipe: R, buf: Arc<Mutex<Vec<u8>>>) {
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut b) = buf.lock() {
                    let room = CHECK_OUTPUT_LIMIT.saturating_sub(b.len());
                    b.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_probe_addresses() {
        let p = TcpProbe::default();
        assert_eq!(p.address("127.0.0.1"), "127.0.0.1:22");
        assert_eq!(p.address("root@127.0.0.1:2222"), "127.0.0.1:2222");
        assert_eq!(p.address("localhost:80"), "localhost:80");
        assert_eq!(p.address("::1"), "[::1]:22");
        assert_eq!(p.address("[::1]"), "[::1]:22");
        assert_eq!(p.address("u@[::1]:2200"), "[::1]:2200");
    }

    #[test]
    fn io_errors_read_well() {
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(describe_io(&e), "permission denied");
    }
}
