//! Issue 12 item 4: rollback blocks, through the real binary. A step names
//! its undo (`rollback=NAME` → a `{rollback}` block, or `rollback="cmd"`);
//! when a later step fails or a gate is aborted, the undos of the steps that
//! succeeded run last-first, each recorded under its block, and the exit
//! code says the run was rolled back (6).

use crate::common::pty::PtyRun;
use crate::common::{Scratch, block_of};
use crate::support::sshd::Sshd;
use nix::sys::signal::{Signal, kill};
use std::time::{Duration, Instant};

/// Three steps with undos (a block, a block, an inline command); the third
/// step's undo never runs because the third step fails.
const MIGRATION: &str = "\
# Migrate the database

```bash {name=backup rollback=drop_backup}
echo backup >> order
echo backed up
```

```bash {name=drop_backup rollback}
echo undo-backup >> order
echo dropped the backup
```

```bash {name=migrate rollback=undo_migrate timeout=10s}
echo migrate >> order
echo migrated
```

```bash {name=undo_migrate rollback}
echo undo-migrate >> order
echo schema restored
```

```bash {name=switch rollback=\"echo undo-switch >> order\"}
echo switch >> order
echo switching; exit 3
```
";

/// The JSON report, validated against docs/report-schema.json.
fn json(s: &Scratch, name: &str) -> serde_json::Value {
    let j: serde_json::Value = serde_json::from_str(&s.read(name)).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&j)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    j
}

#[test]
fn migration_failing_at_the_third_step_undoes_the_first_two_in_reverse() {
    let s = Scratch::new();
    s.write("m.md", MIGRATION);
    let run = s
        .test()
        .args(["run", "m.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .stderr_contains("step `switch` failed: rolling back (`undo_migrate`, `drop_backup`)")
        .stderr_contains("runbook failed, rolled back:")
        .run();
    // Last succeeded, first undone; the failed step's own undo never runs.
    assert_eq!(
        s.read("order"),
        "backup\nmigrate\nswitch\nundo-migrate\nundo-backup\n",
        "{}",
        run.stderr
    );
    let j = json(&s, "rep/m.json");
    assert_eq!(j["result"], "failed");
    assert_eq!(j["exit_code"], 6);
    let rb = &j["rollback"];
    assert_eq!(rb["trigger"], "switch");
    assert_eq!(rb["cause"], "failed");
    assert_eq!(rb["result"], "rolled_back");
    let undos: Vec<(&str, &str, &str)> = rb["undos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap(),
                u["undoes"].as_str().unwrap(),
                u["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        undos,
        [
            ("undo_migrate", "migrate", "ok"),
            ("drop_backup", "backup", "ok")
        ]
    );
    // The copy: each undo's output under its rollback block, the header says so.
    let md = s.read("rep/m.md");
    assert!(
        md.contains("| Runbook run | ✗ failed, rolled back (exit 6) |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| Rollback | rolled back after `switch` failed: ✓ `undo_migrate`, ✓ `drop_backup` |"
        ),
        "{md}"
    );
    let undo = block_of(&md, "undo_migrate");
    assert!(undo.contains("Rollback of `migrate`:"), "{undo}");
    assert!(undo.contains("schema restored"), "{undo}");
    assert!(block_of(&md, "drop_backup").contains("dropped the backup"));
    assert!(block_of(&md, "migrate").contains("migrated"));
    // JUnit: a rollback suite; HTML: the rollback fact and the undo cards.
    let junit = s.read("rep/m.junit.xml");
    assert!(
        junit.contains("<testsuite name=\"m.md rollback\" tests=\"2\" failures=\"0\""),
        "{junit}"
    );
    assert!(junit.contains("<property name=\"result\" value=\"rolled back\"/>"));
    let html = s.read("rep/m.html");
    assert!(html.contains("failed, rolled back"), "{html}");
    assert!(html.contains("Rollback of <code>migrate</code>"), "{html}");
    // The chain still verifies; strip gives the source back.
    s.test()
        .args(["verify", "rep/m.md"])
        .stdout_contains("5 steps, failed, rolled back")
        .run();
    s.test().args(["strip", "rep/m.md"]).stdout(MIGRATION).run();
}

#[test]
fn an_inline_rollback_runs_with_its_step_and_is_recorded_under_it() {
    let s = Scratch::new();
    s.write(
        "i.md",
        "# I\n\n```bash {name=create rollback=\"rm -f made; echo removed\"}\ntouch made\n```\n\n```bash {name=fail}\nexit 1\n```\n",
    );
    s.test()
        .args(["run", "i.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .run();
    assert!(!s.path("made").exists());
    let md = s.read("rep/i.md");
    let create = block_of(&md, "create");
    assert!(create.contains("Rollback of `create`:"), "{create}");
    assert!(create.contains("removed"), "{create}");
    assert!(create.contains("rm -f made; echo removed"), "{create}");
    let j = json(&s, "rep/i.json");
    assert_eq!(j["rollback"]["undos"][0]["name"], "create.rollback");
    s.test().args(["verify", "rep/i.md"]).run();
}

#[test]
fn a_failing_rollback_is_recorded_and_the_next_still_runs() {
    let s = Scratch::new();
    s.write(
        "f.md",
        "# F\n\n```bash {name=a rollback=\"echo undo-a >> order\"}\necho a\n```\n\n```bash {name=b rollback=\"echo undo-b >> order; exit 7\"}\necho b\n```\n\n```bash {name=c}\nexit 1\n```\n",
    );
    s.test()
        .args(["run", "f.md", "--yes", "--report-dir", "rep"])
        .status(1)
        .stderr_contains("rollback: partially rolled back")
        .run();
    assert_eq!(s.read("order"), "undo-b\nundo-a\n");
    let j = json(&s, "rep/f.json");
    assert_eq!(j["rollback"]["result"], "partial");
    assert_eq!(j["rollback"]["undos"][0]["status"], "failed");
    assert_eq!(j["rollback"]["undos"][0]["exit_code"], 7);
    assert_eq!(j["rollback"]["undos"][1]["status"], "ok");
    let md = s.read("rep/f.md");
    assert!(
        md.contains("| Runbook run | ✗ failed, partially rolled back (exit 1) |"),
        "{md}"
    );
}

#[test]
fn a_step_without_a_rollback_makes_the_rollback_partial_unless_it_is_safe() {
    let s = Scratch::new();
    s.write(
        "p.md",
        "# P\n\n```bash {name=look safe}\necho look\n```\n\n```bash {name=poke}\necho poke\n```\n\n```bash {name=a rollback=\"echo undo\"}\necho a\n```\n\n```bash {name=c}\nexit 1\n```\n",
    );
    s.test()
        .args(["run", "p.md", "--yes", "--report-dir", "rep"])
        .status(1)
        .run();
    let j = json(&s, "rep/p.json");
    assert_eq!(j["rollback"]["result"], "partial");
    assert_eq!(
        j["rollback"]["without_rollback"],
        serde_json::json!(["poke"])
    );
    assert!(s.read("rep/p.md").contains("; no rollback: `poke` |"));
}

#[test]
fn no_rollback_leaves_everything_as_it_is() {
    let s = Scratch::new();
    s.write("m.md", MIGRATION);
    s.test()
        .args([
            "run",
            "m.md",
            "--yes",
            "--no-rollback",
            "--report-dir",
            "rep",
        ])
        .status(1)
        .run();
    assert_eq!(s.read("order"), "backup\nmigrate\nswitch\n");
    let j = json(&s, "rep/m.json");
    assert!(j.get("rollback").is_none(), "{j}");
    assert_eq!(j["mode"], serde_json::json!(["--yes", "--no-rollback"]));
    let md = s.read("rep/m.md");
    assert!(
        block_of(&md, "undo_migrate")
            .contains("not run · reason: rollback block: runs only to undo \\`migrate\\`"),
        "{md}"
    );
}

#[test]
fn an_abort_at_a_gate_rolls_back_and_a_rollback_with_confirm_asks() {
    let s = Scratch::new();
    s.write(
        "g.md",
        "# G\n\n```bash {name=a rollback=undo_a}\necho a >> order\n```\n\n```bash {name=undo_a rollback confirm=\"Really undo a?\"}\necho undo-a >> order\n```\n\n```bash {name=b confirm=\"Go on with b?\"}\necho b >> order\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "-o", "out.md"]);
    // The plan before `Start?` shows each undo with its step.
    run.wait_for("  rollback: `undo_a`", 1);
    run.wait_for("(rollback of `a`)", 1);
    run.wait_for("── gate: step `b`", 1);
    run.answer("a\n");
    run.wait_for("── gate: step `undo_a`", 1);
    run.wait_for("Really undo a?", 2);
    run.answer("y\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 6, "{screen}");
    assert_eq!(s.read("order"), "a\nundo-a\n");
    let out = s.read("out.md");
    assert!(
        out.contains("✗ aborted, rolled back (exit 6)")
            || out.contains("■ aborted, rolled back (exit 6)"),
        "{out}"
    );
    let undo = block_of(&out, "undo_a");
    assert!(undo.contains("gate “Really undo a?” approved"), "{undo}");
}

#[test]
fn declining_a_rollback_gate_makes_it_partial() {
    let s = Scratch::new();
    s.write(
        "d.md",
        "# D\n\n```bash {name=a rollback=undo_a}\necho a\n```\n\n```bash {name=undo_a rollback confirm}\necho undo-a >> order\n```\n\n```bash {name=b}\nexit 1\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "d.md", "-o", "out.md"]);
    run.wait_for("── gate: step `undo_a`", 1);
    run.answer("s\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 1, "{screen}");
    assert!(!s.path("order").exists());
    let out = s.read("out.md");
    assert!(out.contains("failed, partially rolled back"), "{out}");
    assert!(block_of(&out, "undo_a").contains("skipped by the operator at the gate"));
}

#[test]
fn check_refuses_bad_rollbacks_with_their_positions() {
    let s = Scratch::new();
    s.write(
        "bad.md",
        "# Bad\n\n```bash {name=a rollback=nope}\necho a\n```\n\n```bash {name=b rollback=c}\necho b\n```\n\n```bash {name=c}\necho c\n```\n\n```bash {name=d rollback=u}\necho d\n```\n\n```bash {name=e rollback=u}\necho e\n```\n\n```bash {name=u rollback}\necho u\n```\n\n```bash {name=w rollback}\necho w\n```\n",
    );
    s.test()
        .args(["check", "bad.md"])
        .status(2)
        .stderr_contains(
            "error: step `a`: `rollback=nope` names no block (mark the undo ```bash {name=nope rollback}```, or quote a command: rollback=\"...\")\n --> bad.md:3:26\n",
        )
        .stderr_contains(
            "error: step `b`: `c` is a normal step, not a rollback block: it would also run in the normal flow (mark it {name=c rollback})\n --> bad.md:7:23\n",
        )
        .stderr_contains(
            "error: step `e`: rollback block `u` already undoes step `d` (a rollback block undoes one step)\n  --> bad.md:19:26\n",
        )
        .stderr_contains(
            "warning: rollback block `w` is not the rollback of any step: it never runs\n  --> bad.md:27:17\n",
        )
        .stderr_contains("1 file checked: 3 errors, 1 warning")
        .run();
    // `run` refuses the same, before anything runs.
    s.test()
        .args(["run", "bad.md", "--yes"])
        .status(2)
        .stderr_contains("error: step `a`: `rollback=nope` names no block")
        .run();
}

#[test]
fn a_rollback_of_a_rollback_and_a_rollback_block_as_a_step_are_refused() {
    let s = Scratch::new();
    s.write(
        "r.md",
        "# R\n\n```bash {name=u rollback rollback=\"echo x\"}\necho u\n```\n",
    );
    s.test()
        .args(["check", "r.md"])
        .status(2)
        .stderr_contains(
            "error: duplicate attribute `rollback`: a block is a rollback block (`rollback`) or names one undo (`rollback=NAME` or `rollback=\"command\"`), not both\n --> r.md:3:26\n",
        )
        .run();
    s.write("m.md", MIGRATION);
    for flag in ["--from", "--only"] {
        s.test()
            .args(["run", "m.md", "--yes", flag, "undo_migrate"])
            .status(2)
            .stderr_contains(format!(
                "{flag}: `undo_migrate` is a rollback block: it runs only to undo the step that names it"
            ))
            .run();
    }
}

#[test]
fn the_dry_run_shows_the_rollback_plan() {
    let s = Scratch::new();
    s.write("m.md", MIGRATION);
    s.test()
        .args(["run", "m.md", "--dry-run", "-o", "plan.md"])
        .run();
    let md = s.read("plan.md");
    assert!(
        block_of(&md, "migrate").contains("rollback: \\`undo\\_migrate\\`"),
        "{md}"
    );
    assert!(
        block_of(&md, "undo_migrate").contains(
            "reason: rollback of \\`migrate\\`: runs only if a later step fails or is aborted"
        ),
        "{md}"
    );
    assert!(
        block_of(&md, "switch").contains("rollback: \"echo undo-switch \\>\\> order\""),
        "{md}"
    );
    assert!(!s.path("order").exists());
}

#[test]
fn secrets_are_redacted_in_rollback_output() {
    let s = Scratch::new();
    s.write(
        "s.md",
        "---\nsecrets:\n  TOKEN: { env: RB_TOKEN }\n---\n# S\n\n```bash {name=a rollback=undo_a}\necho a\n```\n\n```bash {name=undo_a rollback}\necho \"undo with $TOKEN\"\n```\n\n```bash {name=b rollback=\"echo inline $TOKEN\"}\necho b\n```\n\n```bash {name=c}\nexit 1\n```\n",
    );
    let run = s
        .test()
        .env("RB_TOKEN", "s3cr3t-rollback-value")
        .args(["run", "s.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .run();
    assert!(!run.stderr.contains("s3cr3t-rollback-value"));
    for f in crate::common::walk(&s.path("rep")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!text.contains("s3cr3t-rollback-value"), "{}", f.display());
    }
    let md = s.read("rep/s.md");
    assert!(
        block_of(&md, "undo_a").contains("undo with [REDACTED"),
        "{md}"
    );
}

#[test]
fn sigterm_during_the_rollback_stops_it() {
    let s = Scratch::new();
    s.write(
        "t.md",
        "# T\n\n```bash {name=a rollback=\"echo undo-a >> order\"}\necho a\n```\n\n```bash {name=b rollback=\"sleep 987651\"}\necho b\n```\n\n```bash {name=c}\nexit 1\n```\n",
    );
    let mut child = s
        .cmd()
        .args(["run", "t.md", "--yes", "--report-dir", "rep"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sleeping("987651") {
        assert!(Instant::now() < deadline, "the undo never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // CI: stopped, the undo left is not run, the record says so.
    assert!(!s.path("order").exists());
    let j = json(&s, "rep/t.json");
    assert_eq!(j["result"], "failed");
    assert_eq!(j["rollback"]["result"], "interrupted");
    assert_eq!(j["rollback"]["undos"][0]["status"], "interrupted");
    assert_eq!(j["rollback"]["undos"][1]["status"], "not_run");
    assert_eq!(
        j["rollback"]["undos"][1]["reason"],
        "not run: rollback interrupted"
    );
    assert!(!sleeping("987651"));
}

#[test]
fn ctrl_c_during_the_rollback_on_a_terminal_asks_and_can_go_on() {
    let s = Scratch::new();
    s.write(
        "t.md",
        "# T\n\n```bash {name=a rollback=\"echo undo-a >> order\"}\necho a\n```\n\n```bash {name=b rollback=\"sleep 987652\"}\necho b\n```\n\n```bash {name=c}\nexit 1\n```\n",
    );
    let mut run = PtyRun::spawn_controlling(&s, &["run", "t.md", "-o", "out.md"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sleeping("987652") {
        assert!(Instant::now() < deadline, "the undo never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    run.answer("\x03");
    run.wait_for("stop the rollback? [y]es, stop / [n]o, go on:", 1);
    run.wait_for("still to undo: `a.rollback`", 1);
    run.answer("n\n");
    let (code, screen) = run.wait();
    // `b`'s undo was interrupted: the rollback is partial, `a`'s still ran.
    assert_eq!(code, 1, "{screen}");
    assert_eq!(s.read("order"), "undo-a\n");
    assert!(s.read("out.md").contains("failed, partially rolled back"));
}

/// Whether a `sleep SECONDS` runs.
fn sleeping(seconds: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.len() >= 2 && args[0].ends_with(b"sleep") && args[1] == seconds.as_bytes()
        })
    })
}

fn ssh_test(s: &Scratch, sshd: &Sshd) -> crate::common::test::Test {
    s.test()
        .env("RUNBOOK_SSH_CONFIG", &sshd.ssh_config)
        .env("RUNBOOK_SSH_KNOWN_HOSTS", &sshd.known_hosts)
}

#[test]
fn a_remote_rollback_runs_on_its_steps_host() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    s.write(
        "r.md",
        &format!(
            "---\nhosts:\n  db: {{ ssh: \"{}@127.0.0.1:{}\" }}\n---\n# R\n\n```bash {{name=a host=db rollback=undo_a}}\necho did\n```\n\n```bash {{name=undo_a rollback}}\necho \"undone over ${{SSH_CONNECTION:+ssh}}\"\n```\n\n```bash {{name=b}}\nexit 1\n```\n",
            sshd.user, sshd.port
        ),
    );
    ssh_test(&s, &sshd)
        .args(["run", "r.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .run();
    let j = json(&s, "rep/r.json");
    let undo = &j["rollback"]["undos"][0];
    assert_eq!(undo["status"], "ok");
    assert!(
        undo["target"].as_str().unwrap().starts_with("db ("),
        "{undo}"
    );
    assert!(
        undo["output"]["head"]
            .as_str()
            .unwrap()
            .contains("undone over ssh"),
        "{undo}"
    );
}

#[test]
fn a_fan_out_that_succeeded_on_3_of_5_hosts_rolls_back_on_those_3() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Scratch::new();
    let mut hosts = String::from("hosts:\n");
    for i in 0..3 {
        hosts.push_str(&format!(
            "  web{i}: {{ ssh: \"{}@127.0.0.1:{}\" }}\n",
            sshd.user, sshd.port
        ));
    }
    for i in 3..5 {
        let closed = crate::support::free_port();
        hosts.push_str(&format!(
            "  web{i}: {{ ssh: \"{}@127.0.0.1:{closed}\", connect_timeout: 3s }}\n",
            sshd.user
        ));
    }
    hosts.push_str("  web: { group: [web0, web1, web2, web3, web4] }\n");
    s.write(
        "f.md",
        &format!(
            "---\n{hosts}---\n# F\n\n```bash {{name=deploy hosts=web rollback=\"echo undeployed\"}}\necho deployed\n```\n\n```bash {{name=after}}\necho never\n```\n"
        ),
    );
    ssh_test(&s, &sshd)
        .args(["run", "f.md", "--yes", "--report-dir", "rep"])
        .status(6)
        .run();
    let j = json(&s, "rep/f.json");
    assert_eq!(j["rollback"]["trigger"], "deploy");
    let undo = &j["rollback"]["undos"][0];
    let on: Vec<&str> = undo["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(on, ["web0", "web1", "web2"], "{undo}");
    assert_eq!(undo["target"], "web (only web0, web1, web2)");
    let md = s.read("rep/f.md");
    let deploy = block_of(&md, "deploy");
    // Three hosts' output lines (the rendered command aside).
    assert_eq!(deploy.matches("\nundeployed\n").count(), 3, "{deploy}");
    s.test().args(["verify", "rep/f.md"]).run();
}
