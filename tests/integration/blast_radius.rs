//! Issue 14 item 2: the blast radius before the gate. Every remote step's
//! hosts are resolved (groups expanded) before anything runs; a step wider
//! than its `max_hosts` (or the front matter's) is refused with exit 2
//! unless `--allow-hosts N`; the dry-run plan, `check --preconditions` and
//! the gate say how many hosts and which.

use crate::common::{Scratch, Test};
use crate::support::sshd::Sshd;

/// `n` inventory entries on `addr` and a group `fleet` of all of them.
fn fleet(n: usize, addr: &str) -> String {
    let mut s = String::from("hosts:\n");
    for i in 0..n {
        s.push_str(&format!("  web{i:02}: {{ ssh: \"{addr}\" }}\n"));
    }
    let names: Vec<String> = (0..n).map(|i| format!("web{i:02}")).collect();
    s.push_str(&format!("  fleet: {{ group: [{}] }}\n", names.join(", ")));
    s
}

/// A local step that leaves a file, then `echo` on the fleet with `attrs`.
fn runbook(front: &str, attrs: &str) -> String {
    format!(
        "---\n{front}---\n\n# Restart\n\n```bash {{name=first}}\ntouch first-ran\n```\n\n```bash {{name=fix hosts=fleet{attrs}}}\necho \"fix-$((6*7))\"\n```\n"
    )
}

/// Nothing listens on port 9 of loopback: a refused run never connects.
const NOWHERE: &str = "root@127.0.0.1:9";

#[test]
fn a_step_over_its_max_hosts_is_refused_before_any_step_runs() {
    let s = Scratch::new();
    s.write("fan.md", &runbook(&fleet(50, NOWHERE), " max_hosts=10"));
    let out = s
        .test()
        .args(["run", "fan.md", "--yes", "-o", "out.md"])
        .status(2)
        .stderr_contains(
            "error: step `fix` would run on 50 hosts, more than the step's max_hosts=10; \
             run with --allow-hosts 50 to allow it\n  --> fan.md:62:31\n",
        )
        .run();
    assert!(
        !s.path("first-ran").exists(),
        "a step ran before the refusal"
    );
    // The record says what happened, and nothing else.
    let md = out.read("out.md");
    assert!(
        md.contains("refused before the run: step \\`fix\\` would run on 50 hosts"),
        "{md}"
    );
    assert!(!md.contains("fix-42"), "{md}");
    // An allowance below the count is still a refusal naming the count.
    s.test()
        .args([
            "run",
            "fan.md",
            "--yes",
            "-o",
            "out2.md",
            "--allow-hosts",
            "49",
        ])
        .status(2)
        .stderr_contains("run with --allow-hosts 50 to allow it")
        .run();
    assert!(!s.path("first-ran").exists());
}

#[test]
fn the_front_matter_limit_covers_every_step_and_a_step_may_raise_its_own() {
    let s = Scratch::new();
    let front = format!("max_hosts: 5\n{}", fleet(8, NOWHERE));
    s.write("fm.md", &runbook(&front, ""));
    s.test()
        .args(["run", "fm.md", "--yes"])
        .status(2)
        .stderr_contains("more than the front matter's max_hosts=5; run with --allow-hosts 8")
        .stderr_contains("--> fm.md:21:19\n")
        .run();
    s.write("own.md", &runbook(&front, " max_hosts=8"));
    // The step's own limit allows 8: the run goes on to connect (and fails
    // there, nothing listens) — it is not refused.
    let out = s.test().args(["run", "own.md", "--yes"]).status(1).run();
    assert!(!out.stderr.contains("would run on"), "{}", out.stderr);
    assert!(s.path("first-ran").exists());
}

#[test]
fn the_dry_run_plan_shows_how_many_hosts_and_which_and_fails_over_the_limit() {
    let s = Scratch::new();
    s.write("fan.md", &runbook(&fleet(50, NOWHERE), " max_hosts=10"));
    let out = s
        .test()
        .args(["run", "fan.md", "--dry-run", "--report-dir", "rep"])
        .status(2)
        .stderr_contains("dry run: step `fix` would run on 50 hosts")
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/fan.dry-run.json")).unwrap();
    let reason = json["steps"][1]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "target fleet: 50 hosts (web00, web01, web02, web03, web04, web05, web06, web07, web08, \
             web09, web10, web11, web12, web13, web14, web15, web16, web17, web18, web19, … 30 more); \
             a run would be refused"
        ),
        "{reason}"
    );
    // Within the limit, the plan is a plan: exit 0, the count still shown.
    s.write("ok.md", &runbook(&fleet(3, NOWHERE), " max_hosts=10"));
    let out = s
        .test()
        .args(["run", "ok.md", "--dry-run", "--report-dir", "rep"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/ok.dry-run.json")).unwrap();
    assert_eq!(
        json["steps"][1]["reason"],
        "target fleet: 3 hosts (web00, web01, web02)"
    );
}

#[test]
fn check_preconditions_resolves_each_steps_hosts_and_applies_the_limit() {
    let s = Scratch::new();
    s.write("fan.md", &runbook(&fleet(12, NOWHERE), " max_hosts=10"));
    s.test()
        .args(["check", "--preconditions", "fan.md"])
        .status(2)
        .stderr_contains(
            "fan.md:24: step `fix` runs on fleet: 12 hosts (web00, web01, web02, web03, web04, \
             web05, web06, web07, web08, web09, web10, web11)\n",
        )
        .stderr_contains("would run on 12 hosts, more than the step's max_hosts=10")
        .run();
    let out = s
        .test()
        .args([
            "check",
            "--preconditions",
            "fan.md",
            "--allow-hosts",
            "12",
            "--format",
            "json",
        ])
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let hosts = &json["files"][0]["hosts"][0];
    assert_eq!(hosts["step"], "fix");
    assert_eq!(hosts["targets"].as_array().unwrap().len(), 12);
    assert_eq!(json["files"][0]["diagnostics"], serde_json::json!([]));
}

#[test]
fn a_target_known_only_at_run_time_is_checked_when_the_step_runs() {
    let s = Scratch::new();
    let text = format!(
        "---\n{}---\n\n```bash {{name=pick}}\necho fleet\n```\n\n```bash {{name=fix hosts=\"{{{{ steps.pick.stdout | trim }}}}\" max_hosts=2}}\necho no\n```\n",
        fleet(3, NOWHERE)
    );
    s.write("late.md", &text);
    let out = s
        .test()
        .args(["run", "late.md", "--yes", "--report-dir", "rep"])
        .status(1)
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/late.json")).unwrap();
    assert_eq!(json["steps"][0]["status"], "ok");
    assert_eq!(json["steps"][1]["status"], "failed");
    let reason = json["steps"][1]["reason"].as_str().unwrap();
    assert!(
        reason
            .contains("refused: step `fix` would run on 3 hosts, more than the step's max_hosts=2"),
        "{reason}"
    );
}

#[test]
fn bad_limits_are_found_by_check() {
    let s = Scratch::new();
    s.write("attr.md", "```bash {name=a max_hosts=none}\necho\n```\n");
    s.test()
        .args(["check", "attr.md"])
        .status(2)
        .stderr_contains(
            "error: invalid value `none` for `max_hosts`: expected a whole number of hosts, at least 1\n --> attr.md:1:27",
        )
        .run();
    s.write(
        "bad.md",
        "---\nmax_hosts: 0\n---\n\n```bash {name=b max_hosts=3}\necho local\n```\n",
    );
    s.test()
        .args(["check", "bad.md"])
        .status(2)
        .stderr_contains("error: max_hosts: expected a whole number of hosts, at least 1\n --> bad.md:2:12")
        .stderr_contains(
            "warning: step `b`: max_hosts has no effect on a step that runs locally (no `host=`/`hosts=`)",
        )
        .run();
}

#[test]
fn allowed_hosts_run_on_a_real_sshd_and_the_record_says_it_was_allowed() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    let addr = format!("{}@127.0.0.1:{}", sshd.user, sshd.port);
    s.write("fan.md", &runbook(&fleet(4, &addr), " max_hosts=2"));
    let out = Test::in_scratch(s.clone())
        .env("RUNBOOK_SSH_CONFIG", &sshd.ssh_config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
        .args([
            "run",
            "fan.md",
            "--yes",
            "--allow-hosts",
            "4",
            "--report-dir",
            "rep",
        ])
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.read("rep/fan.json")).unwrap();
    assert_eq!(json["steps"][1]["hosts"].as_array().unwrap().len(), 4);
    let md = out.read("rep/fan.md");
    assert_eq!(md.matches("fix-42").count(), 4, "{md}");
    assert!(
        md.contains("--allow-hosts 4"),
        "the Mode row names the allowance: {md}"
    );
    assert_eq!(sshd.accepted_logins(), 4);
}
