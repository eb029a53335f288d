//! Issue 11: in a real terminal (a pty, 80×24) every output line of the
//! running step is on screen while it runs (stdout `│`, stderr `┃`), a
//! failed step's last lines and the exact command to continue are on
//! screen at the end.

use crate::common::Scratch;
use crate::common::pty::PtyRun;
use std::time::Duration;

const RUNBOOK: &str = "# Live\n\n```bash {name=chatty}\nfor i in 1 2 3; do echo \"line $i of chatty\"; sleep 0.5; done\necho 'to stderr' >&2\nsleep 2\n```\n\n```bash {name=broken}\necho 'checking dependency'\necho 'psql: connection refused' >&2\nexit 2\n```\n";

#[test]
fn output_streams_while_the_step_runs_and_a_failure_ends_with_its_tail() {
    let s = Scratch::new();
    s.write("live.md", RUNBOOK);
    let mut run = PtyRun::spawn(&s, &["run", "live.md", "-o", "out.md"]);
    run.wait_for("┃ to stderr", 1);
    // Still running: the step sleeps after its last line.
    assert!(run.child.try_wait().unwrap().is_none(), "{}", run.screen());
    let screen = run.screen();
    for l in ["line 1 of chatty", "line 2 of chatty", "line 3 of chatty"] {
        assert!(screen.contains(&format!("│ {l}")), "{screen}");
    }
    assert!(screen.contains("┃ to stderr"), "{screen}");
    let (code, screen, _) = run.wait_within(Duration::from_secs(30));
    assert_eq!(code, 1, "{screen}");
    let end = &screen[screen.find("✗ broken failed").expect("result line")..];
    // In this order after the result line (the TTY view pads each line to
    // the width).
    let mut at = 0;
    for part in [
        "── last 2 lines of `broken`:",
        "   checking dependency",
        "   psql: connection refused",
        "runbook failed: 1 ok, 1 failed, 0 skipped",
        "wrote out.md",
        "failed: step `broken` (line 9): its output is in out.md",
        "next: fix the cause, then continue with: runbook run live.md --resume -o out.md",
    ] {
        let found = end[at..]
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} after {at} in {end}"));
        at += found + part.len();
    }
}

#[test]
fn a_gate_shows_its_section_its_prose_and_on_v_the_earlier_output() {
    let s = Scratch::new();
    s.write(
        "gate.md",
        "# Disk\n\n## Free space\n\nLook at the usage first.\nDelete only above 90%.\n\n```bash {name=usage}\necho 'disk 95% used'\n```\n\nDelete the rotated logs if the disk is still full.\n\n```bash {name=clean confirm=\"Delete the logs?\"}\necho cleaned\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "gate.md", "-o", "out.md"]);
    run.wait_for("[v]iew previous output: ", 1);
    let screen = run.screen();
    let gate = &screen[screen.find("── gate: step `clean`").expect("gate")..];
    for part in [
        "## Free space",
        "Delete the rotated logs if the disk is still full.",
        "│ echo cleaned",
        "Delete the logs?",
    ] {
        assert!(gate.contains(part), "{part:?} in {gate}");
    }
    run.answer("v\n");
    run.wait_for("── output of `usage`:", 1);
    run.wait_for("[v]iew previous output: ", 2);
    assert!(
        run.screen().contains("   │ disk 95% used"),
        "{}",
        run.screen()
    );
    run.answer("y\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(20));
    assert_eq!(code, 0, "{screen}");
    assert!(s.read("out.md").contains("cleaned"));
}

#[test]
fn a_missing_param_and_secret_are_asked_on_a_terminal_the_secret_unechoed() {
    let s = Scratch::new();
    s.write(
        "ask.md",
        "---\nparams:\n  service: { required: true, choices: [api, worker], description: \"which service\" }\nsecrets:\n  TOKEN: { env: ASK_TEST_TOKEN_UNSET }\n---\n\n```bash {name=show}\necho \"service={{ params.service }} token-length=${#TOKEN}\"\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "ask.md", "-o", "out.md"]);
    run.wait_for("param service (which service) — one of: api, worker: ", 1);
    run.answer("nope\n");
    run.wait_for("one of: api, worker: ", 2);
    run.answer("api\n");
    run.wait_for("secret TOKEN ($ASK_TEST_TOKEN_UNSET is not set): ", 1);
    run.answer("typed-secret-value\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(20));
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("typed-secret-value"), "{screen}");
    assert!(screen.contains("service=api token-length=18"), "{screen}");
    let copy = s.read("out.md");
    assert!(copy.contains("`service=api`"), "{copy}");
    assert!(!copy.contains("typed-secret-value"), "{copy}");
}

#[test]
fn skip_prompts_takes_the_default_without_asking_but_keeps_the_gate() {
    let s = Scratch::new();
    s.write(
        "skip.md",
        "---\nskipPrompts: true\n---\n\n```bash {name=p promptEnv=yes}\nexport REGION=\"eu-west-1\"\necho \"region=$REGION\"\n```\n\n```bash {name=g confirm=\"Go?\"}\necho gated\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "skip.md", "-o", "out.md"]);
    run.wait_for("── gate: step `g`", 1);
    let screen = run.screen();
    assert!(!screen.contains("REGION ["), "asked: {screen}");
    assert!(screen.contains("region=eu-west-1"), "{screen}");
    run.answer("y\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(20));
    assert_eq!(code, 0, "{screen}");
}

#[test]
fn the_plan_comes_first_and_declining_starts_nothing() {
    let s = Scratch::new();
    s.write(
        "plan.md",
        "---\ntitle: Restart api\nparams:\n  service: { default: api }\n---\n\n```bash {name=check}\ntouch ran-check\n```\n\n```bash {name=restart confirm=\"Restart {{ params.service }}?\" when=\"params.service == 'api'\"}\ntouch ran-restart\n```\n",
    );
    let mut cmd_env = PtyRun::spawn_manual(&s, &["run", "plan.md", "-o", "out.md"]);
    cmd_env.wait_for("Start? [y/N] ", 1);
    let screen = cmd_env.screen();
    for part in [
        "runbook: Restart api (plan.md)",
        "params: service=api",
        "    1  check    bash   local",
        "    2  restart  bash   local  gate: \"Restart {{ params.service }}?\"  when: params.service == 'api'",
    ] {
        assert!(screen.contains(part), "{part:?} in {screen}");
    }
    cmd_env.answer("\n");
    let (code, screen, _) = cmd_env.wait_within(Duration::from_secs(20));
    assert_eq!(code, 4, "{screen}");
    assert!(screen.contains("not started: no step ran and no record was written"));
    assert!(!s.path("ran-check").exists());
    assert!(!s.path("out.md").exists());
}

#[test]
fn in_a_gitlab_job_a_failed_step_gets_an_open_section_with_its_tail() {
    let out = crate::common::test::Test::new()
        .file(
            "f.md",
            "# F\n\n```bash {name=ok}\necho fine\n```\n\n```bash {name=broken}\necho 'psql: connection refused' >&2\nexit 2\n```\n",
        )
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .args(["run", "f.md", "-o", "out.md"])
        .status(1)
        .run();
    let text = regex::Regex::new(r"section_(start|end):\d+:")
        .unwrap()
        .replace_all(&out.stderr, "section_${1}:TS:")
        .into_owned();
    let expected = "\x1b[0Ksection_start:TS:step_2_broken_failed[collapsed=false]\r\x1b[0K── last 1 line of `broken`:\n   psql: connection refused\n\x1b[0Ksection_end:TS:step_2_broken_failed\r\x1b[0K\n";
    assert!(text.contains(expected), "{text:?}");
    assert!(
        text.contains("section_start:TS:step_1_ok[collapsed=true]"),
        "{text:?}"
    );
}

#[test]
fn a_param_edited_at_a_gate_renders_the_step_anew_and_is_recorded() {
    let s = Scratch::new();
    s.write(
        "edit.md",
        "---\nparams:\n  service: { default: api, choices: [api, worker] }\n---\n\n```bash {name=restart confirm=\"Restart {{ params.service }}?\"}\necho \"restarting {{ params.service }}\"\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "edit.md", "-o", "out.md"]);
    run.wait_for("[e]dit params: ", 1);
    run.answer("e\n");
    run.wait_for("param to change: ", 1);
    run.answer("service\n");
    run.wait_for("new value for service: ", 1);
    run.answer("nope\n");
    // Refused (not a choice): asked again, nothing changed.
    run.wait_for("param `service` must be one of api, worker", 1);
    run.wait_for("[e]dit params: ", 2);
    run.answer("e\n");
    run.wait_for("param to change: ", 2);
    run.answer("service\n");
    run.wait_for("new value for service: ", 2);
    run.answer("worker\n");
    run.wait_for("Restart worker?", 1);
    assert!(
        run.screen().contains("│ echo 'restarting worker'")
            || run.screen().contains("│ echo \"restarting worker\""),
        "{}",
        run.screen()
    );
    run.answer("y\n");
    let (code, screen, _) = run.wait_within(Duration::from_secs(20));
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("restarting worker"), "{screen}");
    let copy = s.read("out.md");
    assert!(
        copy.contains("approved after editing params: service: api → worker"),
        "{copy}"
    );
}
