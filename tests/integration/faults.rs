//! Execution under faults through the real binary (issue 3): timeouts that
//! kill whole process groups, Ctrl-C, huge output, retries, resume, and
//! secrets that never reach an artifact or the terminal.

use crate::common::{Scratch, Test, block_of};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn pids_running(pattern: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let s = Scratch::new();
    // A unique sleep duration so we can find exactly our processes.
    s.write(
        "t.md",
        "```bash {name=hang timeout=1s}\nsleep 713 &\nsleep 713 &\nwait\n```\n\n```bash {name=next}\necho next\n```\n",
    );
    let t0 = Instant::now();
    s.test()
        .args(["run", "t.md", "-o", "out.md"])
        .status(1)
        .run();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(pids_running("sleep 713").is_empty(), "a sleep survived");
    let out = s.read("out.md");
    assert!(block_of(&out, "hang").contains("timed out"), "{out}");
    assert!(block_of(&out, "next").contains("not run"), "{out}");
}

#[test]
fn front_matter_timeout_is_the_default() {
    let t = Test::new()
        .file(
            "t.md",
            "---\ntimeout: 1s\n---\n\n```bash {name=hang}\nsleep 714\n```\n",
        )
        .args(["run", "t.md", "-o", "out.md"])
        .status(1);
    let t0 = Instant::now();
    let r = t.run();
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(block_of(&r.read("out.md"), "hang").contains("timed out"));
}

#[test]
fn background_process_holding_stdout_does_not_hang_the_run() {
    let t = Test::new()
        .file(
            "bg.md",
            "```bash {name=leak}\nsleep 715 &\necho started\n```\n\n```bash {name=next}\necho next\n```\n",
        )
        .args(["run", "bg.md", "-o", "out.md"]);
    let t0 = Instant::now();
    let r = t.run();
    assert!(t0.elapsed() < Duration::from_secs(8));
    let out = r.read("out.md");
    assert!(block_of(&out, "leak").contains("started"));
    assert!(block_of(&out, "next").contains("next"));
    for pid in pids_running("sleep 715") {
        let _ = std::process::Command::new("kill").arg(pid).status();
    }
}

#[test]
fn sigint_stops_the_step_writes_the_copy_and_exits_130() {
    let s = Scratch::new();
    s.write(
        "i.md",
        "```bash {name=first}\necho first done\n```\n\n```bash {name=long}\necho before the wait\nsleep 716\n```\n\n```bash {name=last}\necho last\n```\n",
    );
    let mut child = s
        .cmd()
        .args(["run", "i.md", "-o", "out.md"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the long step is running.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids_running("sleep 716").is_empty() {
        assert!(Instant::now() < deadline, "step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "no exit within 3 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let out = s.read("out.md");
    assert!(block_of(&out, "first").contains("first done"));
    let long = block_of(&out, "long");
    assert!(long.contains("interrupted"), "{long}");
    assert!(long.contains("before the wait"), "{long}");
    assert!(block_of(&out, "last").contains("not run"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(pids_running("sleep 716").is_empty());
}

#[test]
fn retries_record_every_attempt() {
    let s = Scratch::new();
    let counter = s.path("count");
    s.write(
        "r.md",
        &format!(
            "```bash {{name=flaky retries=3 retry_delay=100ms}}\nn=$(cat {c} 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > {c}\necho attempt $n\n[ $n -ge 3 ]\n```\n",
            c = counter.display()
        ),
    );
    s.test().args(["run", "r.md", "--report-dir", "rep"]).run();
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/r.json")).expect("json report");
    let attempts = json["steps"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[1]["exit_code"], 1);
    assert_eq!(attempts[2]["status"], "ok");
    assert_eq!(json["steps"][0]["status"], "ok");
}

#[test]
fn huge_output_is_cut_in_the_copy_with_the_full_log_beside_it() {
    let s = Test::new()
        .file("big.md", "```bash {name=flood}\nseq 1 2000000\n```\n")
        .args(["run", "big.md", "-o", "out.md", "--max-output-lines", "40"])
        .run();
    let out = s.read("out.md");
    assert!(out.len() < 1 << 20, "copy is {} bytes", out.len());
    let block = block_of(&out, "flood");
    assert!(block.contains("\n1\n"), "{block}");
    assert!(block.contains("\n2000000\n"), "{block}");
    assert!(block.contains("lines omitted"), "{block}");
    let log = s.path("out.md.logs/flood.log");
    let len = std::fs::metadata(&log)
        .expect("full log beside the report")
        .len();
    // seq 1 2000000 prints 14 888 896 bytes.
    assert_eq!(len, 14_888_896);
}

#[test]
fn resume_continues_from_the_failed_step_with_earlier_values() {
    let s = Scratch::new();
    let fixed = s.path("fixed");
    let ran = s.path("ran-first");
    s.write(
        "res.md",
        &format!(
            "```bash {{name=first}}\necho run >> {ran}\nexport TOKEN_ID=abc123\necho id-$RANDOM\n```\n\n```bash {{name=second}}\ntest -e {fixed}\necho \"second sees {{{{ steps.first.stdout | trim }}}} $TOKEN_ID\"\n```\n\n```bash {{name=third}}\necho third\n```\n",
            ran = ran.display(),
            fixed = fixed.display()
        ),
    );
    s.test()
        .args(["run", "res.md", "-o", "out.md"])
        .status(1)
        .run();
    let first_out = block_of(&s.read("out.md"), "first");
    std::fs::write(&fixed, "").unwrap();
    s.test()
        .args(["run", "res.md", "-o", "out.md", "--resume"])
        .expect_file("ran-first", "run\n")
        .run();
    let out = s.read("out.md");
    // The first step was not run again (`ran-first` holds one line)...
    // ...its earlier result is kept in the copy and visible to templates.
    let id = first_out
        .lines()
        .find(|l| l.starts_with("id-"))
        .expect("id line")
        .to_string();
    assert!(
        block_of(&out, "second").contains(&format!("second sees {id} abc123")),
        "{out}"
    );
    assert!(block_of(&out, "third").contains("third"));
}

#[test]
fn from_starts_at_a_named_step() {
    let s = Test::new()
        .file(
            "f.md",
            "```bash {name=a}\necho a-ran\n```\n\n```bash {name=b}\necho b-ran\n```\n",
        )
        .args(["run", "f.md", "-o", "out.md", "--from", "b"])
        .run();
    let out = s.read("out.md");
    assert!(!block_of(&out, "a").contains("a-ran"));
    assert!(block_of(&out, "b").contains("b-ran"));
    s.test()
        .args(["run", "f.md", "--from", "zz"])
        .status(2)
        .stderr("error: --from: no step named `zz` (steps: a, b)\n")
        .run();
}

#[test]
fn secrets_never_reach_artifacts_or_the_terminal() {
    use base64::Engine;
    let s = Scratch::new();
    let secret = "s3cr3t-Pa$$ w0rd/+\"quoted\"";
    s.write("secret.txt", &format!("{secret}\n"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    s.write(
        "sec.md",
        "---\nsecrets:\n  DB_PASSWORD: { file: secret.txt }\n  API_TOKEN: { env: TEST_API_TOKEN }\n---\n\n\
```bash {name=leak}\n\
echo \"raw: $DB_PASSWORD\"\n\
echo \"tmpl: {{ secrets.DB_PASSWORD }}\"\n\
printf '%s' \"$DB_PASSWORD\" | base64 -w0; echo\n\
printf 'xy%s' \"$DB_PASSWORD\" | base64 -w0; echo\n\
printf 'x%s' \"$DB_PASSWORD\" | base64 -w0; echo\n\
python3 -c 'import os,urllib.parse,json; p=os.environ[\"DB_PASSWORD\"]; print(urllib.parse.quote(p)); print(json.dumps(p))'\n\
# split across two writes\n\
printf '%s' \"${DB_PASSWORD:0:5}\"; sleep 0.2; printf '%s\\n' \"${DB_PASSWORD:5}\"\n\
echo \"token: $API_TOKEN\" >&2\n\
```\n",
    );
    let out = s
        .test()
        .args(["run", "sec.md", "--report-dir", "rep", "-o", "rep/sec.md"])
        .env("TEST_API_TOKEN", "tok-9f8e7d6c5b")
        .run();
    let mut artifacts = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    for entry in walk(&s.path("rep")) {
        artifacts.push((
            entry.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned(),
        ));
    }
    let forms = [
        secret.to_string(),
        b64.clone(),
        b64.trim_end_matches('=')[4..20].to_string(),
        urlencode(secret),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        "tok-9f8e7d6c5b".to_string(),
    ];
    assert!(artifacts.len() >= 5, "{artifacts:?}");
    for (name, text) in &artifacts {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{name} contains {form:?}:\n{text}"
            );
        }
    }
    let md = s.read("rep/sec.md");
    assert!(md.contains("[REDACTED:DB_PASSWORD]"), "{md}");
    assert!(md.contains("[REDACTED:API_TOKEN]"), "{md}");
    // The report shows the template, not the value.
    let json = s.read("rep/sec.json");
    assert!(json.contains("{{ secrets.DB_PASSWORD }}"), "{json}");
}

/// What Python's `urllib.parse.quote` prints (unreserved characters and `/` kept).
fn urlencode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

use crate::common::walk;

#[test]
fn sigterm_then_a_second_signal_kills_at_once() {
    let s = Scratch::new();
    s.write(
        "k.md",
        "```bash {name=stubborn}\ntrap '' TERM\necho ignoring TERM\nsleep 718\n```\n",
    );
    let mut child = s
        .cmd()
        .args(["run", "k.md", "-o", "out.md"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids_running("sleep 718").is_empty() {
        assert!(Instant::now() < deadline, "step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // SIGTERM is the first interrupt: TERM to the step's group, which ignores it.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the grace period"
    );
    // The second one kills at once, well before the 3 s grace period ends.
    let t0 = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_millis(2000),
            "no exit after the second signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let out = s.read("out.md");
    let block = block_of(&out, "stubborn");
    assert!(block.contains("interrupted"), "{block}");
    assert!(block.contains("ignoring TERM"), "{block}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(pids_running("sleep 718").is_empty());
}
