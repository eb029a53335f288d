//! Never destroy what is not yours (issue 8, items 20–22): output paths that
//! are not regular files, the runbook itself as output, symlinks planted
//! where the run writes, file modes, and two runs on the same output.
//!
//! These tests run as root in CI, so a refusal is the only thing standing
//! between a typo and a replaced device: every check asserts the path is
//! untouched afterwards.

use crate::common::Scratch;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// A runbook whose only step leaves a marker, so a test can tell whether
/// anything ran.
const MARKS: &str = "```bash {name=a}\ntouch ran.marker\necho hello\n```\n";

fn assert_nothing_ran(s: &Scratch) {
    assert!(!s.path("ran.marker").exists(), "a step ran");
}

#[test]
fn output_onto_a_fifo_socket_or_directory_is_refused_before_anything_runs() {
    let s = Scratch::new();
    s.write("f.md", MARKS);
    nix::unistd::mkfifo(
        &s.path("out.fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(s.path("out.sock")).unwrap();
    std::fs::create_dir(s.path("out.dir")).unwrap();

    let cases = [
        ("out.fifo", "a FIFO"),
        ("out.sock", "a socket"),
        ("out.dir", "a directory"),
    ];
    for (name, kind) in cases {
        let t0 = Instant::now();
        s.test()
            .args(["run", "f.md", "-o", name])
            .status(2)
            .stderr(format!(
                "error: {name} is {kind}, not a regular file: refusing to write a report over it\n"
            ))
            .run();
        println!("{name}: {:?}", t0.elapsed());
        assert!(t0.elapsed() < Duration::from_secs(10), "hang on {name}");
        assert_nothing_ran(&s);
    }
    let ft = std::fs::symlink_metadata(s.path("out.fifo"))
        .unwrap()
        .file_type();
    assert!(ft.is_fifo());
    assert!(
        std::fs::symlink_metadata(s.path("out.sock"))
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert!(s.path("out.dir").is_dir());
    assert_eq!(std::fs::read_dir(s.path("out.dir")).unwrap().count(), 0);
}

#[test]
fn output_onto_a_device_is_refused_and_the_device_stays() {
    let s = Scratch::new();
    s.write("f.md", MARKS);
    // A null device of our own (as root), never the system's /dev/null:
    // on the old code this test replaced the device it was given.
    let dev = s.path("null.dev");
    nix::sys::stat::mknod(
        &dev,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod (the tests run as root)");
    let before = std::fs::symlink_metadata(&dev).unwrap();
    assert!(before.file_type().is_char_device());
    s.test()
        .args(["run", "f.md", "-o", "null.dev"])
        .status(2)
        .stderr(
            "error: null.dev is a device, not a regular file: refusing to write a report over it\n",
        )
        .run();
    assert_nothing_ran(&s);
    let after = std::fs::symlink_metadata(&dev).unwrap();
    assert!(after.file_type().is_char_device());
    assert_eq!(before.ino(), after.ino());
    // Nothing beside it either (journal, logs, lock).
    for side in ["null.dev.state.jsonl", "null.dev.logs", "null.dev.lock"] {
        assert!(!s.path(side).exists(), "{side}");
    }

    // A report dir whose JSON report name is taken by a FIFO: refused too.
    std::fs::create_dir(s.path("rep")).unwrap();
    nix::unistd::mkfifo(
        &s.path("rep/f.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    s.test()
        .args(["run", "f.md", "--report-dir", "rep"])
        .status(2)
        .stderr(
            "error: rep/f.json is a FIFO, not a regular file: refusing to write a report over it\n",
        )
        .run();
    assert_nothing_ran(&s);
}

#[test]
fn output_equal_to_the_runbook_is_refused() {
    let s = Scratch::new();
    s.write("f.md", MARKS);
    std::fs::create_dir(s.path("sub")).unwrap();
    std::os::unix::fs::symlink("../f.md", s.path("sub/link.md")).unwrap();
    for out in ["f.md", "./f.md", "sub/../f.md"] {
        s.test()
            .args(["run", "f.md", "-o", out])
            .status(2)
            .stderr(format!(
                "error: -o {out} is the runbook itself: refusing to overwrite it\n"
            ))
            .run();
    }
    // Through a symlink: refused as a symlink (never written through).
    s.test()
        .args(["run", "f.md", "-o", "sub/link.md"])
        .status(2)
        .stderr("error: sub/link.md is a symbolic link: refusing to write through it\n")
        .run();
    assert_eq!(s.read("f.md"), MARKS);
    assert_nothing_ran(&s);
}

/// Output long enough that the report cuts it and keeps the full log.
const LONG: &str = "```bash {name=big}\nseq 1 50\n```\n";

#[test]
fn a_symlink_planted_at_a_step_log_is_never_followed() {
    let s = Scratch::new();
    s.write("f.md", LONG);
    s.write("victim.txt", "precious\n");
    std::fs::create_dir(s.path("out.md.logs")).unwrap();
    std::os::unix::fs::symlink(s.path("victim.txt"), s.path("out.md.logs/big.log")).unwrap();
    let r = s
        .test()
        .args(["run", "f.md", "-o", "out.md", "--max-output-lines", "4"])
        .expect_file("victim.txt", "precious\n")
        .status(1)
        .run();
    let out = s.read("out.md");
    assert!(
        out.contains("out.md.logs/big.log is a symbolic link: refusing to write through it"),
        "{out}\n{}",
        r.stderr
    );
}

#[test]
fn a_symlink_planted_at_the_journal_or_report_is_refused_before_anything_runs() {
    let s = Scratch::new();
    s.write("f.md", MARKS);
    s.write("victim.txt", "precious\n");
    std::os::unix::fs::symlink(s.path("victim.txt"), s.path("out.md.state.jsonl")).unwrap();
    s.test()
        .args(["run", "f.md", "-o", "out.md"])
        .status(2)
        .stderr("error: out.md.state.jsonl is a symbolic link: refusing to write through it\n")
        .run();
    assert_nothing_ran(&s);
    std::fs::remove_file(s.path("out.md.state.jsonl")).unwrap();

    // The HTML report of a report dir.
    std::fs::create_dir(s.path("rep")).unwrap();
    std::os::unix::fs::symlink(s.path("victim.txt"), s.path("rep/f.html")).unwrap();
    s.test()
        .args(["run", "f.md", "--report-dir", "rep"])
        .status(2)
        .stderr("error: rep/f.html is a symbolic link: refusing to write through it\n")
        .run();
    assert_nothing_ran(&s);

    // The logs directory itself.
    std::fs::create_dir(s.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink(s.path("elsewhere"), s.path("o2.md.logs")).unwrap();
    s.test()
        .args(["run", "f.md", "-o", "o2.md"])
        .status(2)
        .stderr("error: o2.md.logs is a symbolic link: refusing to write through it\n")
        .run();
    assert_nothing_ran(&s);
    assert_eq!(s.read("victim.txt"), "precious\n");
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_file_written_is_private() {
    let s = Scratch::new();
    s.write("f.md", LONG);
    // A stale log and journal from an earlier, careless run: replaced, and
    // private afterwards.
    std::fs::create_dir(s.path("rep")).unwrap();
    std::fs::create_dir(s.path("rep/logs")).unwrap();
    std::fs::set_permissions(s.path("rep/logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.write("rep/logs/big.log", "stale\n");
    std::fs::set_permissions(
        s.path("rep/logs/big.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    s.test()
        .args([
            "run",
            "f.md",
            "--report-dir",
            "rep",
            "--max-output-lines",
            "4",
        ])
        .run();
    let log = s.path("rep/logs/big.log");
    assert!(std::fs::read_to_string(&log).unwrap().starts_with("1\n2\n"));
    assert_eq!(mode(&s.path("rep/logs")), 0o700);
    for f in [
        "rep/logs/big.log",
        "rep/f.md",
        "rep/f.json",
        "rep/f.html",
        "rep/f.junit.xml",
        "rep/f.md.state.jsonl",
        "rep/f.md.lock",
    ] {
        assert_eq!(mode(&s.path(f)), 0o600, "{f}");
    }
    // -o beside the runbook: the same.
    s.test()
        .args(["run", "f.md", "-o", "out.md", "--max-output-lines", "4"])
        .run();
    assert_eq!(mode(&s.path("out.md.logs")), 0o700);
    for f in [
        "out.md",
        "out.md.logs/big.log",
        "out.md.state.jsonl",
        "out.md.lock",
    ] {
        assert_eq!(mode(&s.path(f)), 0o600, "{f}");
    }
}

#[test]
fn a_second_run_on_the_same_output_says_who_holds_it() {
    let s = Scratch::new();
    s.write(
        "slow.md",
        "```bash {name=wait}\ntouch started\nwhile [ ! -f go ]; do sleep 0.05; done\necho done\n```\n",
    );
    let mut first = s
        .cmd()
        .args(["run", "slow.md", "-o", "out.md"])
        .env("USER", "alice")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.path("started").exists() {
        assert!(Instant::now() < deadline, "first run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    let mut second = s
        .cmd()
        .args(["run", "slow.md", "-o", "out.md"])
        .env("USER", "bob")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Hang guard: a second run that is not refused waits for `go` too.
    while second.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = second.kill();
            let _ = first.kill();
            panic!("the second run was not refused: it is running alongside the first");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = second.wait_with_output().unwrap();
    println!("second run refused in {:?}", t0.elapsed());
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    let re = regex::Regex::new(&format!(
        "^error: out.md is being written by another run \\(pid {}, operator alice, started \\d{{4}}-\\d\\d-\\d\\dT[^)]+\\); wait for it to finish or use another -o\n$",
        first.id()
    ))
    .unwrap();
    assert!(re.is_match(&err), "{err}");

    s.write("go", "");
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // The first run's journal is whole: one start, one step, all parseable.
    let journal = s.read("out.md.state.jsonl");
    let kinds: Vec<String> = journal
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["start", "step"]);
    assert!(s.read("out.md").contains("done"));
    // Once it is over, the output is free again.
    s.test().args(["run", "slow.md", "-o", "out.md"]).run();
}
