//! Local execution through real processes: process groups, timeouts,
//! interrupts, leaked pipes, output capture and the shell kernel.

use runbook::exec::capture::{CaptureConfig, LOG_DEFER_BYTES, OutputCapture, strip_ansi};
use runbook::exec::process::{Interrupt, ProcessOutcome, ProcessSpec, Stream, Termination, run};
use runbook::exec::shell::{ShellKernel, ShellState, interpreter_spec};
use runbook::secrets::Redactor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn bash(script: &str) -> ProcessSpec {
    ProcessSpec::new("bash", vec!["-c".into(), script.into()])
}

/// Runs `spec`, returning the outcome and the chunks in arrival order.
async fn run_collect(spec: &ProcessSpec) -> (ProcessOutcome, Vec<(Stream, Vec<u8>)>) {
    let (_tx, rx) = watch::channel(Interrupt::None);
    let mut chunks = Vec::new();
    let outcome = run(spec, &mut |s, b| chunks.push((s, b.to_vec())), rx)
        .await
        .expect("spawn");
    (outcome, chunks)
}

fn text(chunks: &[(Stream, Vec<u8>)]) -> String {
    let all: Vec<u8> = chunks.iter().flat_map(|(_, b)| b.clone()).collect();
    String::from_utf8_lossy(&all).into_owned()
}

/// Live (non-zombie) processes whose process group is `pgid`.
fn live_in_group(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            found.push(stat[..close + 1].to_string());
        }
    }
    found
}

fn first_number(s: &str) -> i32 {
    s.split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("a pid in the output")
}

#[tokio::test]
async fn timeout_kills_the_whole_group_including_background_children() {
    let mut spec = bash("echo $$; sleep 600 & wait");
    spec.timeout = Some(Duration::from_secs(1));
    spec.kill_grace = Duration::from_secs(2);
    let started = Instant::now();
    let (outcome, chunks) = run_collect(&spec).await;
    assert_eq!(outcome.termination, Termination::TimedOut);
    assert_eq!(outcome.exit_code(), None);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let pgid = first_number(&text(&chunks));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(live_in_group(pgid), Vec::<String>::new());
}

#[tokio::test]
async fn timeout_fires_even_under_a_flood_of_output() {
    let mut spec = ProcessSpec::new("yes", vec!["flood".into()]);
    spec.timeout = Some(Duration::from_millis(500));
    let (_tx, rx) = watch::channel(Interrupt::None);
    let mut bytes = 0usize;
    let started = Instant::now();
    let outcome = run(&spec, &mut |_, b| bytes += b.len(), rx)
        .await
        .expect("spawn");
    assert_eq!(outcome.termination, Termination::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(bytes > 0);
}

#[tokio::test]
async fn process_ignoring_sigterm_is_killed_after_the_grace_period() {
    let mut spec = bash("trap '' TERM; echo $$; sleep 600; echo not reached");
    spec.timeout = Some(Duration::from_millis(500));
    spec.kill_grace = Duration::from_millis(1500);
    let started = Instant::now();
    let (outcome, chunks) = run_collect(&spec).await;
    let took = started.elapsed();
    assert_eq!(outcome.termination, Termination::TimedOut);
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let out = text(&chunks);
    assert!(!out.contains("not reached"));
    let pgid = first_number(&out);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(live_in_group(pgid), Vec::<String>::new());
}

#[tokio::test]
async fn leaked_grandchild_holding_stdout_does_not_hang() {
    let spec = bash("echo $$; sleep 30 & echo done; exit 0");
    let started = Instant::now();
    let (outcome, chunks) = run_collect(&spec).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert!(outcome.leaked);
    let out = text(&chunks);
    assert!(out.ends_with("done\n"), "{out:?}");
    // The background sleep was left alone (it is not ours to kill), so end
    // it here: it is in the group we started.
    let pgid = first_number(&out);
    assert_eq!(live_in_group(pgid).len(), 1);
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[tokio::test]
async fn background_child_with_redirected_output_is_not_leaked() {
    let (outcome, _) = run_collect(&bash("echo $$; sleep 0.3 >/dev/null 2>&1 & echo ok")).await;
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert!(!outcome.leaked);
}

#[tokio::test]
async fn graceful_interrupt_stops_the_step_and_keeps_earlier_output() {
    let spec = bash("echo before; echo $$; sleep 600");
    let (tx, rx) = watch::channel(Interrupt::None);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = tx.send(Interrupt::Graceful);
        // Keep the sender alive until the run is over.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut chunks = Vec::new();
    let started = Instant::now();
    let outcome = run(&spec, &mut |s, b| chunks.push((s, b.to_vec())), rx)
        .await
        .expect("spawn");
    sender.abort();
    assert_eq!(outcome.termination, Termination::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let out = text(&chunks);
    assert!(out.starts_with("before\n"), "{out:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(live_in_group(first_number(&out)), Vec::<String>::new());
}

#[tokio::test]
async fn second_interrupt_kills_at_once() {
    let mut spec = bash("trap '' TERM; echo $$; sleep 600");
    spec.kill_grace = Duration::from_secs(60);
    let (tx, rx) = watch::channel(Interrupt::None);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(Interrupt::Graceful);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(Interrupt::Immediate);
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut chunks = Vec::new();
    let started = Instant::now();
    let outcome = run(&spec, &mut |s, b| chunks.push((s, b.to_vec())), rx)
        .await
        .expect("spawn");
    sender.abort();
    assert_eq!(outcome.termination, Termination::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        live_in_group(first_number(&text(&chunks))),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let spec = bash("echo $$; sleep 600");
    let (_tx, rx) = watch::channel(Interrupt::None);
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&seen);
    let mut on_output = move |_: Stream, b: &[u8]| sink.lock().expect("lock").extend_from_slice(b);
    let r = tokio::time::timeout(Duration::from_millis(500), run(&spec, &mut on_output, rx)).await;
    assert!(r.is_err(), "the step cannot finish in 500 ms");
    let out = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(live_in_group(first_number(&out)), Vec::<String>::new());
}

#[tokio::test]
async fn stdout_and_stderr_arrive_in_order() {
    let spec = bash("for i in 1 2 3; do echo out$i; sleep 0.1; echo err$i >&2; sleep 0.1; done");
    let (outcome, chunks) = run_collect(&spec).await;
    assert_eq!(outcome.termination, Termination::Exited(0));
    let seen: Vec<(Stream, String)> = chunks
        .iter()
        .map(|(s, b)| (*s, String::from_utf8_lossy(b).into_owned()))
        .collect();
    let expected: Vec<(Stream, String)> = (1..=3)
        .flat_map(|i| {
            [
                (Stream::Stdout, format!("out{i}\n")),
                (Stream::Stderr, format!("err{i}\n")),
            ]
        })
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn exit_codes_and_signals() {
    let (o, _) = run_collect(&bash("exit 7")).await;
    assert_eq!(o.termination, Termination::Exited(7));
    assert_eq!(o.exit_code(), Some(7));
    assert!(!o.success());
    let (o, _) = run_collect(&bash("kill -9 $$")).await;
    assert_eq!(o.termination, Termination::Signaled(9));
    assert_eq!(o.exit_code(), None);
    let (o, _) = run_collect(&bash("true")).await;
    assert!(o.success());
}

#[tokio::test]
async fn stdin_is_fed_and_closed() {
    let mut spec = ProcessSpec::new("wc", vec!["-c".into()]);
    spec.stdin = Some(vec![b'x'; 3 * 1024 * 1024]);
    let (o, chunks) = run_collect(&spec).await;
    assert_eq!(o.termination, Termination::Exited(0));
    assert_eq!(text(&chunks).trim(), (3 * 1024 * 1024).to_string());

    // No stdin: /dev/null, so `cat` ends at once.
    let (o, chunks) = run_collect(&ProcessSpec::new("cat", vec![])).await;
    assert_eq!(o.termination, Termination::Exited(0));
    assert!(chunks.is_empty());
}

#[tokio::test]
async fn cwd_and_env_are_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = bash("pwd; echo \"$RB_X\"");
    spec.cwd = Some(dir.path().to_path_buf());
    spec.env = vec![("RB_X".into(), "hello world".into())];
    let (_, chunks) = run_collect(&spec).await;
    let real = std::fs::canonicalize(dir.path()).expect("canonicalize");
    assert_eq!(text(&chunks), format!("{}\nhello world\n", real.display()));
}

#[tokio::test]
async fn missing_program_is_an_error_naming_it() {
    let (_tx, rx) = watch::channel(Interrupt::None);
    let spec = ProcessSpec::new("/nonexistent/prog", vec![]);
    let err = run(&spec, &mut |_, _| {}, rx)
        .await
        .expect_err("no such program");
    assert_eq!(
        err.to_string(),
        "cannot run /nonexistent/prog: No such file or directory (os error 2)"
    );
}

// ---------------------------------------------------------------- capture

fn capture_cfg(max_lines: usize, log: Option<&Path>) -> CaptureConfig {
    CaptureConfig {
        max_lines,
        log_path: log.map(Path::to_path_buf),
        keep_stdout: 1024 * 1024,
    }
}

#[tokio::test]
async fn fifty_megabytes_keep_exact_head_tail_and_full_log_in_flat_memory() {
    const N: u64 = 6_500_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    let mut cap =
        OutputCapture::new(capture_cfg(100, Some(&log)), &Redactor::empty()).expect("capture");
    let mut max_retained = 0;
    let (_tx, rx) = watch::channel(Interrupt::None);
    let spec = ProcessSpec::new("seq", vec!["1".into(), N.to_string()]);
    let outcome = run(
        &spec,
        &mut |s, b| {
            cap.push(s, b);
            max_retained = max_retained.max(cap.retained_bytes());
        },
        rx,
    )
    .await
    .expect("spawn");
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert_eq!(cap.last_line().as_deref(), Some(N.to_string().as_str()));
    let got = cap.finish().expect("finish");

    let expected_bytes: u64 = (1..=N).map(|i| i.to_string().len() as u64 + 1).sum();
    assert!(expected_bytes > 50_000_000);
    let head: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
    let tail: Vec<String> = (N - 49..=N).map(|i| i.to_string()).collect();
    assert_eq!(got.output.head, head.join("\n"));
    assert_eq!(got.output.tail, tail.join("\n"));
    assert_eq!(got.output.total_lines, N);
    assert_eq!(got.output.omitted_lines, N - 100);
    assert_eq!(got.output.total_bytes, expected_bytes);
    assert_eq!(
        got.output.log_path.as_deref(),
        Some(log.to_str().expect("utf-8"))
    );
    assert_eq!(std::fs::metadata(&log).expect("log").len(), expected_bytes);
    assert!(got.stdout_truncated);
    assert_eq!(got.stdout.len(), 1024 * 1024);
    assert!(got.stdout.starts_with("1\n2\n3\n"));
    assert_eq!(got.stderr, "");
    // Kept stdout (1 MiB) + 100 short lines + buffers.
    assert!(
        max_retained < 2 * 1024 * 1024,
        "retained {max_retained} bytes"
    );
}

#[test]
fn short_output_is_whole_in_head_and_the_log_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    let mut cap =
        OutputCapture::new(capture_cfg(10, Some(&log)), &Redactor::empty()).expect("capture");
    cap.push(Stream::Stdout, b"one\ntwo\n");
    cap.push(Stream::Stderr, b"three\n");
    cap.push(Stream::Stdout, b"four");
    assert_eq!(cap.last_line().as_deref(), Some("four"));
    let got = cap.finish().expect("finish");
    assert_eq!(got.output.head, "one\ntwo\nthree\nfour");
    assert_eq!(got.output.tail, "");
    assert_eq!(got.output.total_lines, 4);
    assert_eq!(got.output.total_bytes, 18);
    assert_eq!(got.output.omitted_lines, 0);
    assert_eq!(got.output.log_path, None);
    assert!(!log.exists());
    assert_eq!(got.stdout, "one\ntwo\nfour");
    assert_eq!(got.stderr, "three\n");
    assert!(!got.stdout_truncated);
}

#[test]
fn a_log_is_only_created_when_needed_and_a_stale_one_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    std::fs::write(&log, "left by an earlier run\n").expect("stale log");
    let mut cap =
        OutputCapture::new(capture_cfg(10, Some(&log)), &Redactor::empty()).expect("capture");
    cap.push(Stream::Stdout, b"one\n");
    // Held in memory: the stale file is untouched until the end.
    assert_eq!(
        std::fs::read_to_string(&log).expect("stale log"),
        "left by an earlier run\n"
    );
    let got = cap.finish().expect("finish");
    assert_eq!(got.output.log_path, None);
    assert!(!log.exists());

    // Past LOG_DEFER_BYTES the file is created and streamed to at once,
    // starting with what was held back.
    let mut cap =
        OutputCapture::new(capture_cfg(10, Some(&log)), &Redactor::empty()).expect("capture");
    let line = format!("{}\n", "x".repeat(99));
    let mut expected = String::new();
    while expected.len() <= LOG_DEFER_BYTES {
        cap.push(Stream::Stdout, line.as_bytes());
        expected.push_str(&line);
    }
    assert!(log.exists());
    let got = cap.finish().expect("finish");
    assert_eq!(
        got.output.log_path.as_deref(),
        Some(log.to_str().expect("utf-8"))
    );
    assert_eq!(std::fs::read_to_string(&log).expect("log"), expected);
}

#[test]
fn a_log_that_cannot_be_created_fails_only_when_it_is_needed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("missing").join("step.log");
    let mut cap =
        OutputCapture::new(capture_cfg(10, Some(&log)), &Redactor::empty()).expect("capture");
    cap.push(Stream::Stdout, b"short\n");
    assert_eq!(cap.finish().expect("finish").output.head, "short");

    let mut cap =
        OutputCapture::new(capture_cfg(2, Some(&log)), &Redactor::empty()).expect("capture");
    cap.push(Stream::Stdout, b"1\n2\n3\n");
    let err = cap.finish().expect_err("the log is needed");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create {}: No such file or directory (os error 2)",
            log.display()
        )
    );
}

#[test]
fn exactly_max_lines_is_not_cut_and_one_more_is() {
    for (lines, omitted) in [(6usize, 0u64), (7, 1)] {
        let mut cap =
            OutputCapture::new(capture_cfg(6, None), &Redactor::empty()).expect("capture");
        for i in 1..=lines {
            cap.push(Stream::Stdout, format!("l{i}\n").as_bytes());
        }
        let got = cap.finish().expect("finish");
        assert_eq!(got.output.omitted_lines, omitted);
        if omitted == 0 {
            assert_eq!(got.output.head, "l1\nl2\nl3\nl4\nl5\nl6");
            assert_eq!(got.output.tail, "");
        } else {
            assert_eq!(got.output.head, "l1\nl2\nl3");
            assert_eq!(got.output.tail, "l5\nl6\nl7");
        }
    }
}

#[test]
fn long_line_is_cut_in_the_record_and_kept_whole_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    let mut cap =
        OutputCapture::new(capture_cfg(10, Some(&log)), &Redactor::empty()).expect("capture");
    // 10 000 'é' (2 bytes each) in small chunks: the cut must not split one.
    let line = "é".repeat(10_000);
    for chunk in line.as_bytes().chunks(333) {
        cap.push(Stream::Stdout, chunk);
    }
    cap.push(Stream::Stdout, b"\nshort\n");
    let got = cap.finish().expect("finish");
    let head_first = got.output.head.lines().next().expect("a line");
    assert_eq!(head_first, format!("{}…", "é".repeat(2048)));
    assert_eq!(got.output.head.lines().nth(1), Some("short"));
    assert_eq!(got.output.omitted_lines, 0);
    assert_eq!(
        got.output.log_path.as_deref(),
        Some(log.to_str().expect("utf-8"))
    );
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        format!("{line}\nshort\n")
    );
}

#[test]
fn ansi_sequences_and_control_characters_are_stripped() {
    let raw = "\x1b[1;31mred\x1b[0m \x1b]0;title\x07plain\x1b(B ok\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x07\x08\r\nnext\rline\x1bPdcs\x1b\\ end\x1b7\x1b[?25h\tX";
    let expected = "red plain oklink\nnext\nline end\tX";
    // Whole.
    let mut cap = OutputCapture::new(capture_cfg(100, None), &Redactor::empty()).expect("capture");
    cap.push(Stream::Stdout, raw.as_bytes());
    assert_eq!(cap.finish().expect("finish").output.head, expected);
    // Byte by byte: the state machine keeps its state across chunks.
    let mut cap = OutputCapture::new(capture_cfg(100, None), &Redactor::empty()).expect("capture");
    for b in raw.as_bytes() {
        cap.push(Stream::Stdout, std::slice::from_ref(b));
    }
    assert_eq!(cap.finish().expect("finish").output.head, expected);
    // A stray OSC does not swallow the following lines.
    assert_eq!(strip_ansi("a\x1b]junk\nb\n"), "a\nb\n");
    // An unfinished CSI at a newline is dropped, the newline kept.
    assert_eq!(strip_ansi("a\x1b[12\nb"), "a\nb");
}

#[tokio::test]
async fn colored_output_from_a_real_process_is_stripped() {
    let mut cap = OutputCapture::new(capture_cfg(100, None), &Redactor::empty()).expect("capture");
    let (_tx, rx) = watch::channel(Interrupt::None);
    let spec =
        bash("printf '\\033[1;32mOK\\033[0m done\\r\\n'; printf '\\033[31merr\\033[0m\\n' >&2");
    run(&spec, &mut |s, b| cap.push(s, b), rx)
        .await
        .expect("spawn");
    let got = cap.finish().expect("finish");
    assert_eq!(got.output.head, "OK done\nerr");
    assert_eq!(got.stdout, "OK done\n");
    assert_eq!(got.stderr, "err\n");
}

#[test]
fn capture_redacts_secrets_split_across_chunks_and_hidden_by_escapes() {
    let r = Redactor::new(vec![("TOKEN".into(), "hunter2-secret".into())]);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    let input = "token=hunter2-secret\ncolored=hunter2-\x1b[0msecret\n";
    for split in 0..=input.len() {
        let mut cap = OutputCapture::new(capture_cfg(1, Some(&log)), &r).expect("capture");
        cap.push(Stream::Stdout, &input.as_bytes()[..split]);
        cap.push(Stream::Stdout, &input.as_bytes()[split..]);
        let got = cap.finish().expect("finish");
        assert_eq!(got.output.head, "");
        assert_eq!(got.output.tail, "colored=[REDACTED:TOKEN]");
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            "token=[REDACTED:TOKEN]\ncolored=[REDACTED:TOKEN]\n"
        );
        assert_eq!(
            got.stdout,
            "token=[REDACTED:TOKEN]\ncolored=[REDACTED:TOKEN]\n"
        );
    }
}

// ------------------------------------------------------------ shell kernel

async fn step(k: &ShellKernel, code: &str) -> (Termination, String) {
    step_with(k, code, None, &[]).await
}

async fn step_with(
    k: &ShellKernel,
    code: &str,
    cwd: Option<&str>,
    env: &[(String, String)],
) -> (Termination, String) {
    let spec = k.prepare(code, cwd, env).expect("prepare");
    let (o, chunks) = run_collect(&spec).await;
    (o.termination, text(&chunks))
}

fn shells() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("bash", "set -eo pipefail"), ("sh", "set -e")];
    if Path::new("/usr/bin/zsh").exists() || Path::new("/bin/zsh").exists() {
        v.push(("zsh", "set -eo pipefail"));
    } else {
        eprintln!("zsh is not installed: its kernel is not tested");
    }
    v
}

#[tokio::test]
async fn the_shell_is_found_in_path_once_and_a_missing_one_fails_by_name() {
    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    let spec = k.prepare("echo \"$0\"", None, &[]).expect("prepare");
    let expected = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|d| d.join("bash"))
        .find(|p| p.is_file())
        .expect("bash in PATH");
    assert_eq!(spec.program, expected.to_str().expect("utf-8"));
    // `$0` is still the name the runbook used.
    let (t, out) = step(&k, "echo \"$0\"").await;
    assert_eq!((t, out.as_str()), (Termination::Exited(0), "bash\n"));

    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "no-such-shell-rb", "").expect("kernel");
    let spec = k.prepare("true", None, &[]).expect("prepare");
    assert_eq!(spec.program, "no-such-shell-rb");
    let (_tx, rx) = watch::channel(Interrupt::None);
    let err = run(&spec, &mut |_, _| {}, rx)
        .await
        .expect_err("no such shell");
    assert_eq!(
        err.to_string(),
        "cannot run no-such-shell-rb: `no-such-shell-rb` is not installed (not found on PATH)"
    );
}

#[tokio::test]
async fn exports_and_cd_carry_over_to_the_next_step() {
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let work = tempfile::tempdir().expect("tempdir");
        let work_real = std::fs::canonicalize(work.path()).expect("canonicalize");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let (t, out) = step(
            &k,
            &format!(
                "export FOO=1\nexport TRICKY=\"it's \\\"quoted\\\"\n  two lines \\$HOME\"\ncd '{}'\necho step1",
                work.path().display()
            ),
        )
        .await;
        assert_eq!(
            (t, out.as_str()),
            (Termination::Exited(0), "step1\n"),
            "{shell}"
        );
        let (t, _) = step(
            &k,
            "export CTRL=\"$(printf 'a\\001b\\033c\\td\\177é *?[x] $(x) `y`')\"",
        )
        .await;
        assert_eq!(t, Termination::Exited(0), "{shell}");
        let (t, out) = step(&k, "printf '%s|' \"$CTRL\" | od -An -c -w100 | tr -s ' '").await;
        assert_eq!(t, Termination::Exited(0), "{shell}");
        assert_eq!(
            out, " a 001 b 033 c \\t d 177 303 251 * ? [ x ] $ ( x ) ` y ` |\n",
            "{shell}"
        );
        let (t, out) = step(&k, "echo \"FOO=$FOO\"; pwd; printf '%s|' \"$TRICKY\"").await;
        assert_eq!(t, Termination::Exited(0), "{shell}");
        assert_eq!(
            out,
            format!(
                "FOO=1\n{}\nit's \"quoted\"\n  two lines $HOME|",
                work_real.display()
            ),
            "{shell}"
        );
        // Still there two steps later, and a plain variable does not carry.
        let (_, out) = step(&k, "BAR=2; echo \"$FOO\"").await;
        assert_eq!(out, "1\n", "{shell}");
        let (_, out) = step(&k, "echo \"[${BAR-}]\"").await;
        assert_eq!(out, "[]\n", "{shell}");
    }
}

#[tokio::test]
async fn shell_errors_give_the_line_in_the_step() {
    // (shell, message start, message end)
    let expected = [
        (
            "bash",
            "bash: line 2: ",
            "no_such_command_rb: command not found\n",
        ),
        ("sh", "sh: 2: eval: ", "no_such_command_rb: not found\n"),
        (
            "zsh",
            "(eval):2: ",
            "command not found: no_such_command_rb\n",
        ),
    ];
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let (t, out) = step(&k, "true\nno_such_command_rb").await;
        assert_eq!(t, Termination::Exited(127), "{shell}");
        let (_, start, end) = expected
            .iter()
            .find(|(s, _, _)| *s == shell)
            .expect("known shell");
        assert!(
            out.starts_with(start) && out.ends_with(end),
            "{shell}: {out:?}"
        );
        assert_eq!(out.lines().count(), 1, "{shell}: {out:?}");
    }
}

#[tokio::test]
async fn very_long_steps_are_sourced_from_a_file() {
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let mut code = "# padding padding padding padding padding padding\n".repeat(3000);
        code.push_str("export BIG=yes; echo big\nno_such_command_rb\n");
        let spec = k.prepare(&code, None, &[]).expect("prepare");
        assert!(spec.args.iter().all(|a| a.len() < 100 * 1024));
        let (o, chunks) = run_collect(&spec).await;
        assert_eq!(o.termination, Termination::Exited(127), "{shell}");
        let out = text(&chunks);
        assert!(out.starts_with("big\n"), "{shell}: {out:?}");
        assert!(out.contains("3002"), "{shell}: {out:?}");
        let (_, out) = step(&k, "echo $BIG").await;
        assert_eq!(out, "yes\n", "{shell}");
    }
}

#[tokio::test]
async fn directory_with_quotes_and_newline_carries_over() {
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let work = tempfile::tempdir().expect("tempdir");
        let odd = work.path().join("it's a \"dir\"\nwith $x");
        std::fs::create_dir(&odd).expect("mkdir");
        let odd_real = std::fs::canonicalize(&odd).expect("canonicalize");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let env = vec![("TARGET".to_string(), odd.display().to_string())];
        step_with(&k, "cd \"$TARGET\"", None, &env).await;
        let (_, out) = step(&k, "printf '%s|' \"$PWD\"").await;
        assert_eq!(out, format!("{}|", odd_real.display()), "{shell}");
        assert_eq!(
            k.snapshot().cwd.as_deref(),
            Some(odd_real.to_str().expect("utf-8")),
            "{shell}"
        );
    }
}

#[tokio::test]
async fn unset_of_an_inherited_variable_carries_over() {
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let (_, out) = step(&k, "echo \"${HOME+set}\"; unset HOME").await;
        assert_eq!(out, "set\n", "{shell}");
        let (_, out) = step(&k, "echo \"${HOME-unset}\"").await;
        assert_eq!(out, "unset\n", "{shell}");
    }
}

#[tokio::test]
async fn failing_command_mid_block_fails_the_step() {
    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    let (t, out) = step(&k, "echo one\nfalse\necho two").await;
    assert_eq!((t, out.as_str()), (Termination::Exited(1), "one\n"));
    let (t, out) = step(&k, "false | true\necho after-pipe").await;
    assert_eq!((t, out.as_str()), (Termination::Exited(1), ""));
    // sh with `set -e`.
    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "sh", "set -e").expect("kernel");
    let (t, out) = step(&k, "echo one; false; echo two").await;
    assert_eq!((t, out.as_str()), (Termination::Exited(1), "one\n"));
}

#[tokio::test]
async fn exit_status_survives_the_exit_trap_and_state_is_still_saved() {
    for (shell, prelude) in shells() {
        let state = tempfile::tempdir().expect("tempdir");
        let k = ShellKernel::new(state.path(), shell, prelude).expect("kernel");
        let (t, _) = step(&k, "export KEPT=yes\nexit 7").await;
        assert_eq!(t, Termination::Exited(7), "{shell}");
        let (t, out) = step(&k, "echo $KEPT; (exit 3)").await;
        assert_eq!(
            (t, out.as_str()),
            (Termination::Exited(3), "yes\n"),
            "{shell}"
        );
        let (t, _) = step(&k, "true").await;
        assert_eq!(t, Termination::Exited(0), "{shell}");
    }
}

#[tokio::test]
async fn step_env_and_cwd_apply_to_that_step_only() {
    let state = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let work_real = std::fs::canonicalize(work.path()).expect("canonicalize");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    let (_, start) = step(&k, "export FOO=outer; pwd").await;
    let env = vec![("FOO".to_string(), "inner 'x'".to_string())];
    let cwd = work.path().to_str().expect("utf-8");
    let (t, out) = step_with(&k, "echo \"$FOO\"; pwd", Some(cwd), &env).await;
    assert_eq!(t, Termination::Exited(0));
    assert_eq!(out, format!("inner 'x'\n{}\n", work_real.display()));
    let (_, out) = step(&k, "echo \"$FOO\"; pwd").await;
    assert_eq!(out, format!("outer\n{start}"));
    // A step that changes them itself keeps its change.
    let (_, _) = step_with(&k, "export FOO=changed; cd /", Some(cwd), &env).await;
    let (_, out) = step(&k, "echo \"$FOO\"; pwd").await;
    assert_eq!(out, "changed\n/\n");
    // Bad names are refused.
    let err = k
        .prepare("true", None, &[("BAD-NAME".into(), "x".into())])
        .expect_err("bad name");
    assert_eq!(
        err.to_string(),
        "invalid environment variable name `BAD-NAME`"
    );
}

#[tokio::test]
async fn snapshot_restore_round_trip() {
    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    assert_eq!(k.snapshot(), ShellState::default());
    step(&k, "export RESUMED='a b'; cd /tmp").await;
    let snap = k.snapshot();
    assert_eq!(snap.cwd.as_deref(), Some("/tmp"));
    assert_eq!(snap.shell.as_deref(), Some("bash"));
    assert!(
        snap.env_script
            .as_deref()
            .is_some_and(|e| e.contains("export RESUMED='a b'\n")),
        "{snap:?}"
    );
    let json = serde_json::to_string(&snap).expect("json");
    let back: ShellState = serde_json::from_str(&json).expect("json");
    assert_eq!(back, snap);

    let other = tempfile::tempdir().expect("tempdir");
    let mut k2 = ShellKernel::new(other.path(), "bash", "set -eo pipefail").expect("kernel");
    k2.restore(back).expect("restore");
    let (_, out) = step(&k2, "echo \"$RESUMED\"; pwd").await;
    assert_eq!(out, "a b\n/tmp\n");
    // The saved state is portable: sh reads what bash saved.
    let third = tempfile::tempdir().expect("tempdir");
    let mut k3 = ShellKernel::new(third.path(), "sh", "set -e").expect("kernel");
    k3.restore(snap.clone()).expect("restore into sh");
    let (_, out) = step(&k3, "echo \"$RESUMED\"; pwd").await;
    assert_eq!(out, "a b\n/tmp\n");
    k2.restore(ShellState::default()).expect("restore");
    let (_, out) = step(&k2, "echo \"[${RESUMED-}]\"").await;
    assert_eq!(out, "[]\n");
}

#[tokio::test]
async fn carried_directory_that_was_removed_fails_the_next_step() {
    let state = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let gone = work.path().join("gone");
    std::fs::create_dir(&gone).expect("mkdir");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    step(&k, &format!("cd '{}'", gone.display())).await;
    std::fs::remove_dir(&gone).expect("rmdir");
    let (t, out) = step(&k, "echo should-not-run").await;
    assert_eq!(t, Termination::Exited(1));
    assert!(
        out.ends_with(&format!(
            "cd: {}: No such file or directory\n",
            gone.display()
        )),
        "{out:?}"
    );
}

#[tokio::test]
async fn killed_step_keeps_the_previous_state() {
    let state = tempfile::tempdir().expect("tempdir");
    let k = ShellKernel::new(state.path(), "sh", "set -e").expect("kernel");
    step(&k, "export V=first").await;
    let mut spec = k
        .prepare("export V=second; kill -9 $$", None, &[])
        .expect("prepare");
    spec.timeout = Some(Duration::from_secs(5));
    let (o, _) = run_collect(&spec).await;
    assert_eq!(o.termination, Termination::Signaled(9));
    let (_, out) = step(&k, "echo $V").await;
    assert_eq!(out, "first\n");
}

#[tokio::test]
async fn interpreter_steps_run_the_code_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = interpreter_spec(
        "python3 -u",
        "import sys\nprint('py', sys.argv[0].endswith('.py'))\n",
        dir.path(),
    )
    .expect("spec");
    assert_eq!(spec.program, "python3");
    assert_eq!(spec.args[0], "-u");
    let (o, chunks) = run_collect(&spec).await;
    assert_eq!(o.termination, Termination::Exited(0));
    assert_eq!(text(&chunks), "py True\n");

    let spec = interpreter_spec("perl", "print \"perl\\n\"; exit 4;", dir.path()).expect("spec");
    let (o, chunks) = run_collect(&spec).await;
    assert_eq!(
        (o.termination, text(&chunks).as_str()),
        (Termination::Exited(4), "perl\n")
    );

    let err = interpreter_spec("python3 'unclosed", "", dir.path()).expect_err("bad quoting");
    assert_eq!(
        err.to_string(),
        "invalid interpreter `python3 'unclosed`: missing closing quote"
    );
    let err = interpreter_spec("  ", "", dir.path()).expect_err("empty");
    assert_eq!(err.to_string(), "empty interpreter command");
}

/// The shell kernel must cost next to nothing over a plain `bash -c` per
/// step (the product benchmark: 1000 steps within 1.3x). Timing-sensitive,
/// so run on demand: `cargo test --test integration -- --ignored exec::kernel_overhead`.
#[tokio::test]
#[ignore]
async fn kernel_overhead_against_plain_bash() {
    const STEPS: usize = 500;
    let (_tx, rx) = watch::channel(Interrupt::None);
    let state = tempfile::tempdir_in(std::env::var("RB_BENCH_DIR").unwrap_or("/tmp".into()))
        .expect("tempdir");
    let k = ShellKernel::new(state.path(), "bash", "set -eo pipefail").expect("kernel");
    let (mut plain, mut kernel) = (Duration::ZERO, Duration::ZERO);
    let mut prep = Duration::ZERO;
    // Interleaved, so load on the machine hits both the same.
    for i in 0..STEPS {
        let t = Instant::now();
        let spec = bash(&format!("echo {i}"));
        run(&spec, &mut |_, _| {}, rx.clone()).await.expect("spawn");
        plain += t.elapsed();
        let t = Instant::now();
        let spec = k.prepare(&format!("echo {i}"), None, &[]).expect("prepare");
        prep += t.elapsed();
        run(&spec, &mut |_, _| {}, rx.clone()).await.expect("spawn");
        kernel += t.elapsed();
    }
    let ratio = kernel.as_secs_f64() / plain.as_secs_f64();
    eprintln!("plain {plain:?}, kernel {kernel:?}, ratio {ratio:.2} (prepare: {prep:?})");
    assert!(ratio < 1.3, "ratio {ratio:.2}");
}
