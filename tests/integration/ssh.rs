//! SSH steps against a real sshd on 127.0.0.1 (tests/integration/support/sshd.rs).

use crate::support::sshd::{Sshd, free_port};
use runbook::document::frontmatter::FrontMatter;
use runbook::exec::inventory::{self, HostKeyChecking, NoEc2, SshTarget};
use runbook::exec::process::{Interrupt, ProcessOutcome, Stream, Termination};
use runbook::exec::ssh::{OutputSink, SshError, SshOptions, SshPool};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

macro_rules! sshd_or_skip {
    () => {
        match Sshd::start() {
            Some(s) => s,
            None => return,
        }
    };
}

#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Captured {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn no_interrupts() -> watch::Receiver<Interrupt> {
    // The sender is dropped: the run stops watching, which is what a run
    // without Ctrl-C handling looks like.
    watch::channel(Interrupt::None).1
}

async fn run(
    pool: &SshPool,
    target: &SshTarget,
    script: &str,
    timeout: Option<Duration>,
) -> (Result<ProcessOutcome, SshError>, Captured) {
    let mut c = Captured::default();
    let mut sink = |s: Stream, b: &[u8]| match s {
        Stream::Stdout => c.stdout.extend_from_slice(b),
        Stream::Stderr => c.stderr.extend_from_slice(b),
    };
    let r = pool
        .run(target, script, timeout, &mut sink, no_interrupts())
        .await;
    (r, c)
}

/// Remote processes whose command line contains `pattern` (the "remote"
/// machine is this one).
fn remote_processes(pattern: &str) -> String {
    let out = Command::new("pgrep")
        .args(["-a", "-f", pattern])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits up to 3s for no process to match `pattern`.
fn assert_no_remote_process(pattern: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = remote_processes(pattern);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "remote processes survived: {left}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn runs_a_step_and_streams_both_outputs() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let (r, c) = run(&pool, &t, "echo hello\necho oops >&2\nexit 3\n", None).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.termination, Termination::Exited(3));
    assert!(!outcome.leaked);
    assert_eq!(c.out(), "hello\n");
    assert_eq!(c.err(), "oops\n");
    pool.close_all().await;
}

#[tokio::test]
async fn steps_run_with_errexit_and_pipefail_and_exact_status() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let (r, c) = run(&pool, &t, "echo before\nfalse | true\necho after\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(1));
    assert_eq!(c.out(), "before\n");
    // 127 and 255 are ordinary statuses for the step, not ssh errors.
    let (r, c) = run(&pool, &t, "no-such-command-xyz\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(127));
    assert!(
        c.err().contains("no-such-command-xyz: command not found"),
        "{}",
        c.err()
    );
    let (r, _) = run(&pool, &t, "exit 255\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(255));
    // The step's stdin is empty, and its arguments are not the wrapper's.
    let (r, c) = run(&pool, &t, "cat\necho \"args=$#\"\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "args=0\n");
    pool.close_all().await;
}

#[tokio::test]
async fn exported_env_and_cwd_carry_over_on_the_same_host() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let (r, c) = run(
        &pool,
        &t,
        "export GREETING='hello world'\nNOT_EXPORTED=1\nd=$(mktemp -d)\ncd \"$d\"\npwd\n",
        None,
    )
    .await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    let dir = c.out().trim().to_string();
    assert!(dir.starts_with('/'), "{dir}");
    let (r, c) = run(
        &pool,
        &t,
        "echo \"$GREETING|${NOT_EXPORTED:-unset}|$(pwd)\"\n",
        None,
    )
    .await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), format!("hello world|unset|{dir}\n"));

    // A failing step still saves its state.
    let (r, _) = run(&pool, &t, "export AFTER_FAIL=yes\nfalse\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(1));
    let (_, c) = run(&pool, &t, "echo \"$AFTER_FAIL\"\n", None).await;
    assert_eq!(c.out(), "yes\n");

    // Another target on the same server has its own state.
    let other = sshd.target("db2");
    let (_, c) = run(&pool, &other, "echo \"${GREETING:-none}\"\n", None).await;
    assert_eq!(c.out(), "none\n");
    pool.close_all().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn one_connection_is_reused_across_steps() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    for i in 0..5 {
        let (r, c) = run(&pool, &t, &format!("echo step{i}\n"), None).await;
        assert_eq!(r.unwrap().termination, Termination::Exited(0));
        assert_eq!(c.out(), format!("step{i}\n"));
    }
    pool.check_reachable(&t).await.unwrap();
    assert_eq!(pool.open_connections(), 1);
    assert_eq!(sshd.accepted_logins(), 1, "{}", sshd.log_text());
    let masters = pool.control_dir().to_string_lossy().into_owned();
    assert_eq!(
        remote_processes(&masters).lines().count(),
        1,
        "one ControlMaster"
    );
    pool.close_all().await;
    assert_eq!(pool.open_connections(), 0);
    assert_no_remote_process(&masters);
}

#[tokio::test]
async fn dropping_the_pool_closes_its_masters() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    pool.check_reachable(&sshd.target("a")).await.unwrap();
    pool.check_reachable(&sshd.target("b")).await.unwrap();
    let masters = pool.control_dir().to_string_lossy().into_owned();
    assert_eq!(remote_processes(&masters).lines().count(), 2);
    drop(pool);
    assert_no_remote_process(&masters);
}

#[tokio::test]
async fn timeout_kills_the_remote_process_group() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(SshOptions {
        // Long, so that finishing quickly proves SIGTERM did the work.
        kill_grace: Duration::from_secs(30),
        ..sshd.options()
    })
    .unwrap();
    let t = sshd.target("db1");
    pool.check_reachable(&t).await.unwrap();
    let started = Instant::now();
    let (r, _) = run(
        &pool,
        &t,
        "sleep 611 &\nsleep 612\n",
        Some(Duration::from_secs(2)),
    )
    .await;
    let outcome = r.unwrap();
    assert_eq!(outcome.termination, Termination::TimedOut);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(outcome.duration >= Duration::from_secs(2));
    assert_no_remote_process("sleep 61[12]");
    // The connection is still good afterwards.
    let (r, c) = run(&pool, &t, "echo alive\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "alive\n");
    pool.close_all().await;
}

#[tokio::test]
async fn term_ignoring_step_is_killed_after_the_grace_period() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(SshOptions {
        kill_grace: Duration::from_secs(1),
        ..sshd.options()
    })
    .unwrap();
    let t = sshd.target("db1");
    pool.check_reachable(&t).await.unwrap();
    let started = Instant::now();
    let (r, _) = run(
        &pool,
        &t,
        "trap '' TERM\nsleep 613\n",
        Some(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(r.unwrap().termination, Termination::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_no_remote_process("sleep 613");
    pool.close_all().await;
}

#[tokio::test]
async fn a_leftover_that_outlives_the_stopped_shell_is_still_killed() {
    // The step's shell dies on SIGTERM and writes its end marker, but a
    // child that ignores SIGTERM keeps the channel open: the stop goes on
    // to SIGKILL for the group after the grace.
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(SshOptions {
        kill_grace: Duration::from_secs(1),
        ..sshd.options()
    })
    .unwrap();
    let t = sshd.target("db1");
    pool.check_reachable(&t).await.unwrap();
    let started = Instant::now();
    let (r, _) = run(
        &pool,
        &t,
        "(trap '' TERM; exec sleep 618) &\nsleep 619\n",
        Some(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(r.unwrap().termination, Termination::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_no_remote_process("sleep 61[89]");
    pool.close_all().await;
}

#[tokio::test]
async fn interrupt_terminates_the_remote_step() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(SshOptions {
        // Long, so that finishing quickly proves SIGTERM did the work.
        kill_grace: Duration::from_secs(30),
        ..sshd.options()
    })
    .unwrap();
    let t = sshd.target("db1");
    // Connect first, so the timing below is about the interrupt only.
    pool.check_reachable(&t).await.unwrap();
    let (tx, rx) = watch::channel(Interrupt::None);
    let sent_at = Arc::new(Mutex::new(None));
    let sent_at2 = sent_at.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        *sent_at2.lock().unwrap() = Some(Instant::now());
        let _ = tx.send(Interrupt::Graceful);
        // Keep the sender alive until the run is over.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut out = Vec::new();
    let mut sink = |s: Stream, b: &[u8]| {
        if matches!(s, Stream::Stdout) {
            out.extend_from_slice(b)
        }
    };
    let outcome = pool
        .run(&t, "echo started\nsleep 614\n", None, &mut sink, rx)
        .await
        .unwrap();
    assert_eq!(outcome.termination, Termination::Interrupted);
    let sent_at = sent_at.lock().unwrap().expect("interrupt was sent");
    assert!(
        sent_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(String::from_utf8_lossy(&out), "started\n");
    assert_no_remote_process("sleep 614");

    // Already interrupted: nothing runs.
    let (_tx, rx) = watch::channel(Interrupt::Immediate);
    let outcome = pool
        .run(
            &t,
            "touch /nonexistent-should-not-run\n",
            None,
            &mut |_, _| {},
            rx,
        )
        .await
        .unwrap();
    assert_eq!(outcome.termination, Termination::Interrupted);
    pool.close_all().await;
}

#[tokio::test]
async fn background_process_holding_the_output_is_reported_as_leaked() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    pool.check_reachable(&t).await.unwrap();
    let started = Instant::now();
    let (r, c) = run(&pool, &t, "sleep 615 &\necho done\n", None).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert!(outcome.leaked);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(c.out(), "done\n");
    pool.close_all().await;
    Command::new("pkill")
        .args(["-f", "sleep 615"])
        .status()
        .ok();
}

#[tokio::test]
async fn unknown_host_key_fails_with_strict_checking_and_accept_new_trusts_it() {
    let sshd = sshd_or_skip!();
    let empty = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let pool = SshPool::new(SshOptions {
        known_hosts_file: Some(empty.clone()),
        ..SshOptions::default()
    })
    .unwrap();
    let t = sshd.target("db1");
    let (r, c) = run(&pool, &t, "echo never\n", None).await;
    let err = r.unwrap_err();
    assert!(matches!(err, SshError::HostKey { .. }), "{err:?}");
    let port = sshd.port;
    let user = &sshd.user;
    assert_eq!(
        err.to_string(),
        format!(
            "db1 ({user}@127.0.0.1:{port}): host key verification failed: No ED25519 host key is known for [127.0.0.1]:{port} and you have requested strict checking.; Host key verification failed."
        )
    );
    assert_eq!(c.out(), "");

    let t = SshTarget {
        host_key_checking: HostKeyChecking::AcceptNew,
        ..sshd.target("db1")
    };
    let (r, c) = run(&pool, &t, "echo trusted\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "trusted\n");
    // Debian's ssh_config hashes host names, so compare the key only.
    let known = std::fs::read_to_string(&empty).unwrap();
    let host_key = std::fs::read_to_string(sshd.dir.path().join("host_ed25519.pub")).unwrap();
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    assert_eq!(known.lines().count(), 1, "{known}");
    assert!(known.trim_end().ends_with(&host_key.join(" ")), "{known}");
    pool.close_all().await;
}

#[tokio::test]
async fn refused_port_fails_at_once_with_the_ssh_message() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let port = free_port();
    let t = SshTarget {
        port: Some(port),
        ..sshd.target("gone")
    };
    let started = Instant::now();
    let err = pool.check_reachable(&t).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        err.to_string(),
        format!(
            "gone ({}@127.0.0.1:{port}): cannot connect: connect to host 127.0.0.1 port {port}: Connection refused",
            sshd.user
        )
    );
}

#[tokio::test]
async fn silent_server_fails_within_the_connect_timeout() {
    let sshd = sshd_or_skip!();
    // Accepts TCP connections and never says a word: without the connect
    // timeout, ssh would wait for the banner forever.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            held2.lock().unwrap().push(s);
        }
    });
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = SshTarget {
        port: Some(port),
        connect_timeout: Duration::from_secs(2),
        ..sshd.target("mute")
    };
    let started = Instant::now();
    let (r, _) = run(&pool, &t, "echo never\n", None).await;
    let elapsed = started.elapsed();
    let err = r.unwrap_err();
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "mute ({}@127.0.0.1:{port}): cannot connect: Connection timed out during banner exchange; Connection to 127.0.0.1 port {port} timed out",
            sshd.user
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_fifty_targets_with_ten_forks() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let mut targets: Vec<SshTarget> = (0..50).map(|i| sshd.target(&format!("web[{i}]"))).collect();
    let dead_port = free_port();
    targets.insert(
        7,
        SshTarget {
            port: Some(dead_port),
            ..sshd.target("dead")
        },
    );
    type Sinks = Arc<Mutex<Vec<(String, Captured)>>>;
    let sinks: Sinks = Arc::new(Mutex::new(Vec::new()));
    let make_sink = |t: &SshTarget| -> OutputSink {
        let sinks = sinks.clone();
        let label = t.label.clone();
        let index = {
            let mut s = sinks.lock().unwrap();
            s.push((label, Captured::default()));
            s.len() - 1
        };
        Box::new(move |stream, bytes| {
            let mut s = sinks.lock().unwrap();
            let c = &mut s[index].1;
            match stream {
                Stream::Stdout => c.stdout.extend_from_slice(bytes),
                Stream::Stderr => c.stderr.extend_from_slice(bytes),
            }
        })
    };
    // Each run prints when it started and ended, to measure concurrency.
    let script = "date +%s.%N\nsleep 0.3\necho \"label-check\"\ndate +%s.%N\n";
    let started = Instant::now();
    let results = pool
        .run_many(
            &targets,
            10,
            script,
            Some(Duration::from_secs(30)),
            make_sink,
            no_interrupts(),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 51);
    let mut spans = Vec::new();
    for (i, (t, r)) in results.iter().enumerate() {
        assert_eq!(t, &targets[i], "results in input order");
        if t.label == "dead" {
            let err = r.as_ref().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "dead ({}@127.0.0.1:{dead_port}): cannot connect: connect to host 127.0.0.1 port {dead_port}: Connection refused",
                    sshd.user
                )
            );
            continue;
        }
        let outcome = r.as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.termination, Termination::Exited(0), "{}", t.label);
    }
    let sinks = std::mem::take(&mut *sinks.lock().unwrap());
    assert_eq!(sinks.len(), 51);
    for (label, c) in sinks.iter() {
        if label == "dead" {
            assert_eq!(c.out(), "");
            continue;
        }
        let lines: Vec<&str> = c
            .stdout
            .split(|&b| b == b'\n')
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{label}: {:?}", c.out());
        assert_eq!(lines[1], "label-check", "{label}");
        assert_eq!(lines[3], "", "{label}");
        let a: f64 = lines[0].parse().unwrap();
        let b: f64 = lines[2].parse().unwrap();
        spans.push((a, b));
    }
    assert_eq!(spans.len(), 50);
    // Most concurrent runs at any start instant.
    let max_overlap = spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap();
    assert!(
        max_overlap <= 10,
        "{max_overlap} runs at once with forks=10"
    );
    assert!(max_overlap >= 2, "runs did not overlap: {max_overlap}");
    assert_eq!(pool.open_connections(), 50);
    eprintln!("fan-out to 50 targets took {elapsed:?}");
    pool.close_all().await;
}

#[tokio::test]
async fn inventory_group_resolves_and_runs_on_each_member() {
    let sshd = sshd_or_skip!();
    let fm: FrontMatter = serde_saphyr::from_str(&format!(
        "hosts:\n  a: {{ ssh: \"{u}@127.0.0.1:{p}\", identity_file: {k} }}\n  b: {{ ssh: [\"{u}@127.0.0.1:{p}\", \"127.0.0.1\"], port: {p}, user: {u}, identity_file: {k}, connect_timeout: 3s }}\n  both: {{ group: [a, b] }}\n  loop1: {{ group: [both, loop2] }}\n  loop2: {{ group: [loop1] }}\n",
        u = sshd.user,
        p = sshd.port,
        k = sshd.identity_file.display()
    ))
    .unwrap();
    let targets = inventory::resolve("both", &fm.hosts, &NoEc2).await.unwrap();
    let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["a", "b[0]", "b[1]"]);
    let pool = SshPool::new(sshd.options()).unwrap();
    let results = pool
        .run_many(
            &targets,
            2,
            "echo ok\n",
            None,
            |_| Box::new(|_, _| {}),
            no_interrupts(),
        )
        .await;
    for (t, r) in &results {
        assert_eq!(
            r.as_ref().unwrap().termination,
            Termination::Exited(0),
            "{}",
            t.label
        );
    }
    assert_eq!(
        inventory::resolve("loop1", &fm.hosts, &NoEc2)
            .await
            .unwrap_err(),
        "host groups form a cycle: loop1 -> loop2 -> loop1"
    );
    pool.close_all().await;
}

#[tokio::test]
async fn a_dead_master_is_replaced_and_the_state_survives() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let (r, _) = run(&pool, &t, "export KEPT=1\ncd /usr\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    let masters = pool.control_dir().to_string_lossy().into_owned();
    let pids: Vec<String> = remote_processes(&masters)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(pids.len(), 1);
    Command::new("kill").arg(&pids[0]).status().unwrap();
    assert_no_remote_process(&masters);
    let (r, c) = run(&pool, &t, "echo \"$KEPT $(pwd)\"\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "1 /usr\n");
    assert_eq!(sshd.accepted_logins(), 2, "{}", sshd.log_text());
    pool.close_all().await;
}

#[tokio::test]
async fn jump_host_is_used() {
    let sshd = sshd_or_skip!();
    // The jump connection takes its key and known_hosts from the config
    // file, as it would from ~/.ssh/config.
    let pool = SshPool::new(SshOptions {
        config_file: Some(sshd.ssh_config.clone()),
        ..sshd.options()
    })
    .unwrap();
    let t = SshTarget {
        // A different name for the same server: ssh refuses a jump host
        // that is the destination itself.
        jump: Some(format!("{}@localhost:{}", sshd.user, sshd.port)),
        ..sshd.target("behind")
    };
    let (r, c) = run(&pool, &t, "echo \"via ${SSH_CLIENT%% *}\"\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "via 127.0.0.1\n");
    // One login for the jump host, one for the target through it.
    assert_eq!(sshd.accepted_logins(), 2, "{}", sshd.log_text());
    pool.close_all().await;
}

#[tokio::test]
async fn interrupt_right_after_the_start_still_kills_the_step() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(SshOptions {
        // Long, so that finishing quickly proves SIGTERM did the work.
        kill_grace: Duration::from_secs(30),
        ..sshd.options()
    })
    .unwrap();
    let t = sshd.target("db1");
    pool.check_reachable(&t).await.unwrap();
    let (tx, rx) = watch::channel(Interrupt::None);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = tx.send(Interrupt::Graceful);
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let started = Instant::now();
    let outcome = pool
        .run(&t, "sleep 616\n", None, &mut |_, _| {}, rx)
        .await
        .unwrap();
    assert_eq!(outcome.termination, Termination::Interrupted);
    // Well under the kill grace: SIGTERM reached the group.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_no_remote_process("sleep 616");
    pool.close_all().await;
}

#[tokio::test]
async fn interrupt_while_connecting_ends_the_step() {
    let sshd = sshd_or_skip!();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            held2.lock().unwrap().push(s);
        }
    });
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = SshTarget {
        port: Some(port),
        connect_timeout: Duration::from_secs(30),
        ..sshd.target("mute")
    };
    let (tx, rx) = watch::channel(Interrupt::None);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = tx.send(Interrupt::Graceful);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let started = Instant::now();
    let outcome = pool
        .run(&t, "echo never\n", None, &mut |_, _| {}, rx)
        .await
        .unwrap();
    assert_eq!(outcome.termination, Termination::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wrong_key_fails_authentication_with_a_clear_message() {
    let sshd = sshd_or_skip!();
    let other_key = sshd.dir.path().join("other_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(status.success());
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = SshTarget {
        identity_file: Some(other_key),
        ..sshd.target("db1")
    };
    let err = pool.check_reachable(&t).await.unwrap_err();
    assert!(matches!(err, SshError::Auth { .. }), "{err:?}");
    let (user, port) = (&sshd.user, sshd.port);
    assert_eq!(
        err.to_string(),
        format!(
            "db1 ({user}@127.0.0.1:{port}): authentication failed: {user}@127.0.0.1: Permission denied (publickey)."
        )
    );
}

/// The step's own state directory, as the wrapper named it.
async fn state_dir(pool: &SshPool, t: &SshTarget) -> std::path::PathBuf {
    let (r, c) = run(pool, t, "printf '%s\\n' \"$__runbook_state\"\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    let dir = std::path::PathBuf::from(c.out().trim());
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("runbook.") && name.len() == 40, "{name}");
    dir
}

#[tokio::test]
async fn the_last_step_removes_the_state_directory_in_its_own_session() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let dir = state_dir(&pool, &t).await;
    let meta = std::fs::symlink_metadata(&dir).expect("state directory");
    assert!(meta.is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    pool.mark_last(std::slice::from_ref(&t));
    let (r, c) = run(&pool, &t, "export X=1\necho last\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "last\n");
    // Gone before the pool closes anything: no session is left to spend.
    assert!(!dir.exists(), "{} survived the last step", dir.display());
    // A step after all makes it anew (without the old state), and the pool
    // removes that one at the end.
    let (r, c) = run(
        &pool,
        &t,
        "echo \"${X:-fresh}\"; printf '%s\\n' \"$__runbook_state\"\n",
        None,
    )
    .await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), format!("fresh\n{}\n", dir.display()));
    assert!(dir.exists());
    pool.close_all().await;
    assert!(!dir.exists(), "close_all left {}", dir.display());
}

#[tokio::test]
async fn a_failing_last_step_keeps_its_state_for_a_retry_and_the_pool_cleans_up() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let dir = state_dir(&pool, &t).await;
    pool.mark_last(std::slice::from_ref(&t));
    let (r, _) = run(&pool, &t, "export TRIED=1\nexit 4\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(4));
    assert!(
        dir.exists(),
        "a failed last step removed the state a retry needs"
    );
    pool.mark_last(std::slice::from_ref(&t));
    let (r, c) = run(&pool, &t, "echo \"retry sees TRIED=$TRIED\"\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(0));
    assert_eq!(c.out(), "retry sees TRIED=1\n");
    assert!(!dir.exists());
    pool.close_all().await;
}

#[tokio::test]
async fn a_state_directory_replaced_by_a_symlink_is_refused() {
    let sshd = sshd_or_skip!();
    let pool = SshPool::new(sshd.options()).unwrap();
    let t = sshd.target("db1");
    let dir = state_dir(&pool, &t).await;
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &dir).unwrap();
    let (r, c) = run(&pool, &t, "echo must-not-run\n", None).await;
    assert_eq!(r.unwrap().termination, Termination::Exited(1));
    assert_eq!(c.out(), "");
    assert_eq!(
        c.err(),
        format!(
            "runbook: the remote state directory {} is not ours\n",
            dir.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "wrote through the link"
    );
    pool.close_all().await;
    // The pool's rm removes the link, never what it points to.
    assert!(elsewhere.path().exists());
    std::fs::remove_file(&dir).ok();
}
