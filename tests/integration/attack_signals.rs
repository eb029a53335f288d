//! Attacks on the process model (issue 8, items 11–15 and 27), through the
//! real binary: terminal controls in a gate question, signals at a gate and
//! mid-step (INT, TERM, HUP, KILL of `runbook` itself), a step that opens
//! `/dev/tty`, descendants that leave the step's process group, and a
//! reader that closes the pipe.
//!
//! Survivors are found by a unique marker on their command line
//! (`sleep 9876xx`) in `/proc/*/cmdline`.

use crate::common::pty::PtyRun;
use crate::common::{Scratch, block_of};
use nix::sys::signal::{Signal, kill};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Pids whose command line is exactly `sleep SECONDS` (zombies have none).
fn sleepers(seconds: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            if args.len() >= 2 && args[0].ends_with(b"sleep") && args[1] == seconds.as_bytes() {
                out.push(pid);
            }
        }
    }
    out
}

/// Waits up to `limit` until no `sleep SECONDS` is left; kills survivors
/// (so a failing test does not leak them) and returns how many there were.
fn survivors_after(seconds: &str, limit: Duration) -> usize {
    let t0 = Instant::now();
    loop {
        let left = sleepers(seconds);
        if left.is_empty() {
            return 0;
        }
        if t0.elapsed() > limit {
            for pid in &left {
                let _ = kill(nix::unistd::Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
            return left.len();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until_running(seconds: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sleepers(seconds).len() < count {
        assert!(
            Instant::now() < deadline,
            "the step never started `sleep {seconds}`"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the step settle (the shell reaches `wait`/`sleep`).
    std::thread::sleep(Duration::from_millis(200));
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (Option<i32>, Duration) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code(), t0.elapsed());
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Item 11: the gate question cannot be spoofed with terminal controls.

/// The text of the gate on the screen, from its header to the question.
fn gate_text(screen: &str) -> String {
    let start = screen.find("── gate:").expect("no gate on screen");
    let end = screen[start..]
        .find("[y]es / [s]kip / [a]bort")
        .expect("no question");
    screen[start..start + end].to_string()
}

#[test]
fn gate_question_shows_terminal_controls_from_a_param_instead_of_obeying_them() {
    let s = Scratch::new();
    s.write(
        "g.md",
        "---\nparams:\n  db: {}\n---\n\n\
         ```bash {name=drop confirm=\"Drop database {{ params.db }}?\"}\necho dropping {{ params.db }}\n```\n",
    );
    // What an attacker passes: the real target, then "carriage return,
    // erase the line" and a harmless-looking question, then a fake new line.
    let db = "prod-db-1\r\x1b[2KDrop database staging-scratch?\n   fake line";
    let arg = format!("db={db}");
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md", "-p", &arg]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    let gate = gate_text(&run.screen());
    run.answer("a\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 4, "{screen}");
    assert!(
        !gate.contains('\x1b'),
        "a raw ESC reached the terminal: {gate:?}"
    );
    // The only CRs are the pty's own (LF -> CRLF): none inside a line.
    assert!(
        !gate.replace("\r\n", "\n").contains('\r'),
        "a raw CR reached the terminal: {gate:?}"
    );
    assert!(
        gate.contains("Drop database prod-db-1␍␛[2KDrop database staging-scratch?␊   fake line?"),
        "the question is not shown with its controls visible: {gate:?}"
    );
}

#[test]
fn gate_question_shows_terminal_controls_from_a_captured_value() {
    let s = Scratch::new();
    s.write(
        "g.md",
        "```bash {name=pick}\nprintf 'prod-db-1\\r\\033[2Kstaging-scratch'\n```\n\n\
         ```bash {name=drop confirm=\"Drop database {{ steps.pick.stdout }}?\"}\necho dropping\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    let gate = gate_text(&run.screen());
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(!gate.contains('\x1b'), "{gate:?}");
    assert!(!gate.replace("\r\n", "\n").contains('\r'), "{gate:?}");
    // The captured value is already cut into lines (a lone CR ends one)
    // and stripped of escape sequences; the line break is shown, so both
    // names stay on the question's line.
    assert!(
        gate.contains("Drop database prod-db-1␊staging-scratch?"),
        "{gate:?}"
    );
}

// ---------------------------------------------------------------------------
// Item 12: Ctrl-C or SIGTERM at a gate ends the run at once.

const GATED: &str = "\
```bash {name=before}
echo before
```

```bash {name=fix confirm=\"Restart the service?\"}
echo fixed
```
";

fn assert_interrupted_at_gate(s: &Scratch, screen: &str) {
    let out = s.read("out.md");
    assert!(block_of(&out, "before").contains("before"), "{out}");
    let fix = block_of(&out, "fix");
    assert!(fix.contains("interrupted at the gate"), "{fix}");
    assert!(!fix.contains("\nfixed"), "{fix}");
    // The cursor leaves the question's line: a newline follows it.
    let prompt = "[v]iew previous output: ";
    let after = &screen[screen.rfind(prompt).expect("question") + prompt.len()..];
    assert!(
        after.starts_with("\r\n") || after.starts_with("^C\r\n"),
        "{after:?}"
    );
}

#[test]
fn ctrl_c_typed_at_a_gate_exits_130_at_once() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn_controlling(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    std::thread::sleep(Duration::from_millis(200));
    // ^C on the terminal: the line discipline sends SIGINT.
    run.answer("\x03");
    let (code, screen, took) = run.wait_within(Duration::from_secs(5));
    eprintln!("exited {took:?} after Ctrl-C");
    assert_eq!(code, 130, "{screen}");
    assert_interrupted_at_gate(&s, &screen);
}

#[test]
fn sigterm_at_a_gate_exits_130_at_once() {
    let s = Scratch::new();
    s.write("g.md", GATED);
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    std::thread::sleep(Duration::from_millis(200));
    kill(run.pid(), Signal::SIGTERM).unwrap();
    let (code, screen, took) = run.wait_within(Duration::from_secs(5));
    eprintln!("exited {took:?} after SIGTERM");
    assert_eq!(code, 130, "{screen}");
    assert_interrupted_at_gate(&s, &screen);
}

// ---------------------------------------------------------------------------
// Item 13: SIGHUP mid-step is an interrupt; SIGKILL of runbook takes the
// step with it.

#[test]
fn sighup_mid_step_stops_the_group_writes_the_copy_and_exits_130() {
    let s = Scratch::new();
    s.write(
        "h.md",
        "```bash {name=long}\necho started\nsleep 987601 &\nsleep 987601\n```\n\n```bash {name=last}\necho last\n```\n",
    );
    let mut child = s
        .cmd()
        .args(["run", "h.md", "-o", "out.md"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_running("987601", 2);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGHUP).unwrap();
    let (code, took) = wait_exit(&mut child, Duration::from_secs(10));
    eprintln!("exited {took:?} after SIGHUP");
    assert_eq!(code, Some(130));
    let out = s.read("out.md");
    let long = block_of(&out, "long");
    assert!(long.contains("interrupted"), "{long}");
    assert!(long.contains("started"), "{long}");
    assert!(block_of(&out, "last").contains("not run"), "{out}");
    assert_eq!(survivors_after("987601", Duration::from_secs(2)), 0);
}

#[test]
fn sigkill_of_runbook_takes_the_steps_processes_with_it() {
    let s = Scratch::new();
    s.write(
        "k.md",
        "```bash {name=long}\nsetsid sleep 987602 &\n(setsid sleep 987602 &)\nsleep 987602\n```\n",
    );
    let mut child = s
        .cmd()
        .args(["run", "k.md", "-o", "out.md"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_running("987602", 3);
    kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    assert_eq!(
        survivors_after("987602", Duration::from_secs(5)),
        0,
        "a step process outlived runbook's SIGKILL"
    );
}

// ---------------------------------------------------------------------------
// Item 14: a step that opens /dev/tty fails instead of freezing.

#[test]
fn step_reading_dev_tty_fails_with_a_clear_message_instead_of_freezing() {
    let s = Scratch::new();
    s.write(
        "t.md",
        "```bash {name=prompt}\necho asking\nread answer </dev/tty\necho got $answer\n```\n\n```bash {name=next}\necho next\n```\n",
    );
    let mut run = PtyRun::spawn_controlling(&s, &["run", "t.md", "-o", "out.md"]);
    let (code, screen, took) = run.wait_within(Duration::from_secs(15));
    eprintln!("failed the step after {took:?}");
    assert_eq!(code, 1, "{screen}");
    let out = s.read("out.md");
    let block = block_of(&out, "prompt");
    let message = "stopped by the terminal (SIGTTIN/SIGTTOU): the step tried to read from or \
                   write to the terminal (/dev/tty), e.g. sudo asking for a password or ssh \
                   asking about a host key; steps run without a terminal";
    assert!(block.contains(message), "{block}");
    assert!(block.contains("asking"), "{block}");
    assert!(!block.contains("got"), "{block}");
    assert!(block_of(&out, "next").contains("not run"), "{out}");
    assert!(screen.contains("stopped by the terminal"), "{screen}");
}

// ---------------------------------------------------------------------------
// Item 15: descendants that left the step's process group do not survive
// a timeout or an interrupt.

const ESCAPES: &str = "\
setsid sleep 987603 &
(setsid sleep 987603 &)
(set -m; sleep 987603 &)
setsid -f sleep 987603
setsid env -i sleep 987603 &
sleep 987603
";

#[test]
fn processes_that_left_the_group_do_not_survive_a_timeout() {
    let s = Scratch::new();
    s.write(
        "e.md",
        &format!("```bash {{name=escape timeout=2s}}\n{ESCAPES}```\n"),
    );
    let t0 = Instant::now();
    s.test()
        .args(["run", "e.md", "-o", "out.md"])
        .status(1)
        .run();
    eprintln!("run took {:?}", t0.elapsed());
    assert!(block_of(&s.read("out.md"), "escape").contains("timed out"));
    assert_eq!(
        survivors_after("987603", Duration::from_secs(2)),
        0,
        "a descendant survived the timeout"
    );
}

#[test]
fn processes_that_left_the_group_do_not_survive_an_interrupt() {
    let s = Scratch::new();
    s.write(
        "e.md",
        &format!(
            "```bash {{name=escape}}\n{}```\n",
            ESCAPES.replace("987603", "987604")
        ),
    );
    let mut child = s
        .cmd()
        .args(["run", "e.md", "-o", "out.md"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_running("987604", 6);
    kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let (code, _) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(130));
    assert_eq!(
        survivors_after("987604", Duration::from_secs(2)),
        0,
        "a descendant survived the interrupt"
    );
}

// ---------------------------------------------------------------------------
// Item 27: a closed stdout/stderr is a quiet exit, never a panic.

/// Runs the binary with stdout and stderr on a pipe whose reader is gone.
fn run_into_closed_pipe(s: &Scratch, args: &[&str]) -> Option<i32> {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(read);
    let status = s
        .cmd()
        .args(args)
        .stdout(Stdio::from(write.try_clone().unwrap()))
        .stderr(Stdio::from(write))
        .status()
        .unwrap();
    status.code()
}

#[test]
fn closed_stdout_and_stderr_are_a_quiet_exit() {
    let s = Scratch::new();
    let mut book = String::from("---\ntitle: many\n---\n\n");
    for i in 0..50 {
        book.push_str(&format!("```bash {{name=s{i}}}\necho {i}\n```\n\n"));
    }
    s.write("x.md", &book);
    for (args, expected) in [
        (vec!["list", "x.md"], 0),
        (vec!["list", "x.md", "--format", "json"], 0),
        (vec!["completions", "fish"], 0),
        (vec!["completions", "bash"], 0),
        (vec!["man"], 0),
        (vec!["strip", "x.md"], 0),
        (vec!["check", "x.md"], 0),
        (vec!["check", "x.md", "--format", "json"], 0),
        (vec!["--help"], 0),
        (vec!["run", "x.md", "-o", "out.md"], 0),
        (vec!["list", "missing.md"], 2),
    ] {
        let code = run_into_closed_pipe(&s, &args);
        assert_eq!(code, Some(expected), "runbook {args:?}");
    }
    // The run still wrote its copy.
    assert!(block_of(&s.read("out.md"), "s49").contains("49"));
}

#[test]
fn list_piped_into_head_is_quiet() {
    let s = Scratch::new();
    let mut book = String::new();
    for i in 0..10000 {
        book.push_str(&format!("```bash {{name=step{i}}}\necho {i}\n```\n\n"));
    }
    s.write("x.md", &book);
    // `runbook list x.md 2>&1 | head -1`: the reader leaves after one line.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "\"{}\" list x.md 2>&1 | head -1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            crate::common::bin().display()
        ))
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{err}");
}
