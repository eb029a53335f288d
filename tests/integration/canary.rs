//! Issue 14 item 3: canary batches. A fan-out step with `serial=` runs in
//! batches on a real sshd; a batch with more failures than
//! `max_fail_percentage` stops the rollout before the next batch starts;
//! `batch_confirm` asks between batches; the record keeps every batch.

use crate::common::pty::PtyRun;
use crate::common::{Scratch, Test};
use crate::support::sshd::Sshd;

/// Nothing listens on port 9 of loopback: such a host fails at once.
const DOWN: &str = "root@127.0.0.1:9";

/// Entries `web00..` on the given addresses, and the group `fleet`.
fn fleet(addrs: &[&str]) -> String {
    let mut s = String::from("hosts:\n");
    for (i, a) in addrs.iter().enumerate() {
        s.push_str(&format!("  web{i:02}: {{ ssh: \"{a}\" }}\n"));
    }
    let names: Vec<String> = (0..addrs.len()).map(|i| format!("web{i:02}")).collect();
    s.push_str(&format!("  fleet: {{ group: [{}] }}\n", names.join(", ")));
    s
}

fn runbook(addrs: &[&str], attrs: &str) -> String {
    format!(
        "---\n{}---\n\n# Roll out\n\n```bash {{name=deploy hosts=fleet {attrs}}}\necho \"deployed-$((40+2))\"\n```\n",
        fleet(addrs)
    )
}

fn test(s: &Scratch, sshd: &Sshd) -> Test {
    s.test()
        .env("RUNBOOK_SSH_CONFIG", &sshd.ssh_config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
}

fn json(out: &crate::common::test::Output, name: &str) -> serde_json::Value {
    serde_json::from_str(&out.read(name)).unwrap()
}

#[test]
fn a_failure_in_the_first_batch_stops_the_rollout() {
    let Some(sshd) = Sshd::start() else { return };
    let up = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    let s = Scratch::new();
    let addrs = [DOWN, up.as_str(), up.as_str(), up.as_str()];
    s.write("r.md", &runbook(&addrs, "serial=[1,\"50%\",\"100%\"]"));
    let out = test(&s, &sshd)
        .args(["run", "r.md", "--yes", "--report-dir", "rep"])
        .status(1)
        .run();
    assert_eq!(sshd.accepted_logins(), 0, "a later batch started");
    let j = json(&out, "rep/r.json");
    let step = &j["steps"][0];
    assert_eq!(step["status"], "failed");
    assert_eq!(step["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(step["hosts"][0]["host"], "web00");
    assert_eq!(
        step["batches"],
        serde_json::json!([{
            "batch": 1, "hosts": ["web00"], "ok": 0, "failed": 1,
            "stopped": "batch 1: 1 of 1 hosts failed (100%), more than max_fail_percentage=0; the later batches did not start"
        }])
    );
    let md = out.read("rep/r.md");
    assert!(md.contains("batch 1 (of 1 run): web00 · 0 ok · 1 failed · rollout stopped: batch 1: 1 of 1 hosts failed (100%)"), "{md}");
    assert!(
        !md.contains("web01 (127.0.0.1"),
        "the copy shows batch 1 only: {md}"
    );
    assert!(!md.contains("deployed-42"), "{md}");
}

#[test]
fn all_batches_run_in_order_when_they_succeed() {
    let Some(sshd) = Sshd::start() else { return };
    let up = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    let s = Scratch::new();
    s.write(
        "r.md",
        &runbook(&[up.as_str(); 4], "serial=[1,\"50%\",\"100%\"]"),
    );
    let out = test(&s, &sshd)
        .args(["run", "r.md", "--yes", "--report-dir", "rep"])
        .stderr_contains("step `deploy`: batch 1/3 on 1 host: web00\n")
        .stderr_contains("step `deploy`: batch 2/3 on 2 hosts: web01, web02\n")
        .stderr_contains("step `deploy`: batch 3/3 on 1 host: web03\n")
        .run();
    let j = json(&out, "rep/r.json");
    let batches: Vec<(u64, u64)> = j["steps"][0]["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["hosts"].as_array().unwrap().len() as u64,
                b["ok"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(batches, [(1, 1), (2, 2), (1, 1)]);
    assert_eq!(j["steps"][0]["status"], "ok");
    assert_eq!(out.read("rep/r.md").matches("deployed-42").count(), 4);
    assert_eq!(sshd.accepted_logins(), 4);
}

#[test]
fn max_fail_percentage_lets_a_rollout_go_on_up_to_the_limit() {
    let Some(sshd) = Sshd::start() else { return };
    let up = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    let s = Scratch::new();
    // Batches of 2: [down, up] is 50% failed, not more than 50: go on.
    let addrs = [DOWN, up.as_str(), up.as_str(), up.as_str()];
    s.write("r.md", &runbook(&addrs, "serial=2 max_fail_percentage=50"));
    let out = test(&s, &sshd)
        .args(["run", "r.md", "--yes", "--report-dir", "rep"])
        .status(1)
        .run();
    let j = json(&out, "rep/r.json");
    let b = j["steps"][0]["batches"].as_array().unwrap();
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(
        (b[0]["failed"].as_u64(), b[1]["ok"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(b.iter().all(|b| b.get("stopped").is_none()), "{b:?}");
    // A host failed: the step did not succeed, though every batch ran.
    assert_eq!(j["steps"][0]["status"], "failed");
    assert_eq!(sshd.accepted_logins(), 3);
}

#[test]
fn batch_confirm_asks_between_batches_and_can_stop_the_rollout() {
    let s = Scratch::new();
    // Every host is down and failures are allowed: only the gate stops it.
    s.write(
        "r.md",
        &runbook(&[DOWN; 3], "serial=1 max_fail_percentage=100 batch_confirm"),
    );
    let mut run = PtyRun::spawn(&s, &["run", "r.md", "-o", "out.md"]);
    run.wait_for(
        "Batch 1/3 done: 0 ok, 1 failed. Go on with batch 2/3 (1 host: web01)?",
        1,
    );
    run.answer("y\n");
    run.wait_for(
        "Batch 2/3 done: 0 ok, 1 failed. Go on with batch 3/3 (1 host: web02)?",
        1,
    );
    run.answer("a\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 4, "{screen}");
    let md = s.read("out.md");
    assert!(
        md.contains("batch 2 (of 2 run): web01 · 0 ok · 1 failed · gate: approved"),
        "{md}"
    );
    assert!(
        md.contains("rollout stopped by the operator before batch 3/3"),
        "{md}"
    );
    assert!(!md.contains("web02 (127.0.0.1"), "batch 3 never ran: {md}");
}

#[test]
fn the_dry_run_shows_the_batches() {
    let s = Scratch::new();
    let out = s
        .test()
        .runbook(&runbook(
            &[DOWN; 10],
            "serial=[1,\"30%\",\"100%\"] batch_confirm",
        ))
        .args(["run", "runbook.md", "--dry-run", "--report-dir", "rep"])
        .run();
    let j = json(&out, "rep/runbook.dry-run.json");
    assert_eq!(
        j["steps"][0]["reason"]
            .as_str()
            .unwrap()
            .split("), ")
            .nth(1),
        Some("in batches of 1, 3, 6 (max_fail_percentage 0, a gate between batches)")
    );
}

#[test]
fn bad_batch_settings_are_errors_with_their_positions() {
    let s = Scratch::new();
    let cases = [
        (
            "serial=0",
            "invalid value `0` for `serial`: expected a number of hosts (5), a percentage (\"25%\") or a list of them ([1,\"10%\",\"100%\"]), not `0`",
        ),
        (
            "serial=[1,\"150%\"]",
            "invalid value `[1,\"150%\"]` for `serial`",
        ),
        ("serial=[1,\"50%\"", "unclosed `[` in attributes"),
        (
            "max_fail_percentage=101",
            "invalid value `101` for `max_fail_percentage`: expected a percentage from 0 to 100",
        ),
    ];
    for (attrs, message) in cases {
        s.write("bad.md", &runbook(&[DOWN], attrs));
        s.test()
            .args(["check", "bad.md"])
            .status(2)
            .stderr_contains(format!("error: {message}"))
            .context(attrs)
            .run();
    }
}

#[test]
fn a_stopped_rollout_rolls_back_only_on_the_hosts_that_ran_and_succeeded() {
    let Some(sshd) = Sshd::start() else { return };
    let up = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    let s = Scratch::new();
    // Batch 1 (web00) succeeds, batch 2 (web01, down) fails: web02 and
    // web03 never run, and only web00 is undone.
    let addrs = [up.as_str(), DOWN, up.as_str(), up.as_str()];
    s.write(
        "r.md",
        &runbook(
            &addrs,
            "serial=[1,1,\"100%\"] rollback=\"echo undone-$((1+1))\"",
        ),
    );
    let out = test(&s, &sshd)
        .args(["run", "r.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .run();
    let md = out.read("rep/r.md");
    assert_eq!(md.matches("deployed-42").count(), 1, "{md}");
    assert_eq!(md.matches("undone-2").count(), 1, "{md}");
    let j = json(&out, "rep/r.json");
    assert_eq!(j["steps"][0]["batches"].as_array().unwrap().len(), 2);
}
