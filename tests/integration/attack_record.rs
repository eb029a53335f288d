//! The record tells the truth (issue 8, items 16–19): the header's result
//! covers every step in the record, the mode of the run is shown, a dry run
//! never overwrites a real record, aborted and allowed failures are counted
//! as what they are, and a CI run names the person behind the job.

use crate::common::pty::PtyRun;
use crate::common::{Scratch, block_of};

/// The first line of the run header table (`| Runbook run | ✓ ok (exit 0) |`).
fn header_result(annotated: &str) -> String {
    annotated
        .lines()
        .find(|l| l.starts_with("| Runbook run |"))
        .unwrap_or_else(|| panic!("no header in:\n{annotated}"))
        .to_string()
}

fn header_row(annotated: &str, key: &str) -> Option<String> {
    let prefix = format!("| {key} |");
    annotated
        .lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_string)
}

const THREE: &str = "\
```bash {name=a}
echo a-ran
```

```bash {name=b}
echo b-ran; exit 3
```

```bash {name=c}
echo c-ran
```
";

#[test]
fn from_after_a_failure_keeps_the_failure_in_the_header() {
    let s = Scratch::new();
    s.write("f.md", THREE);
    s.test()
        .args(["run", "f.md", "-o", "out.md"])
        .status(1)
        .run();
    // Fix nothing, start after the failed step: the record still holds the
    // failed `b`, so the run as recorded is not ok.
    let r = s
        .test()
        .args(["run", "f.md", "-o", "out.md", "--from", "c"])
        .status(1)
        .run();
    let out = s.read("out.md");
    assert!(block_of(&out, "b").contains("✗ failed"), "{out}");
    assert!(block_of(&out, "c").contains("c-ran"), "{out}");
    assert_eq!(header_result(&out), "| Runbook run | ✗ failed (exit 1) |");
    assert_eq!(
        header_row(&out, "Mode").as_deref(),
        Some("| Mode | `--from c` |")
    );
    assert!(r.stderr.contains("runbook failed:"), "{}", r.stderr);
}

#[test]
fn from_after_a_fixed_failure_is_ok_and_mode_lists_every_flag() {
    let s = Scratch::new();
    s.write("f.md", THREE);
    s.test()
        .args(["run", "f.md", "-o", "out.md"])
        .status(1)
        .run();
    // Re-running from the failed step replaces its result.
    s.write("f.md", &THREE.replace("exit 3", "exit 0"));
    s.test()
        .args(["run", "f.md", "-o", "out.md", "--from", "b", "--yes"])
        .run();
    let out = s.read("out.md");
    assert_eq!(header_result(&out), "| Runbook run | ✓ ok (exit 0) |");
    assert_eq!(
        header_row(&out, "Mode").as_deref(),
        Some("| Mode | `--from b`, `--yes` |")
    );
    // A plain run says so.
    s.test().args(["run", "f.md", "-o", "plain.md"]).run();
    assert_eq!(
        header_row(&s.read("plain.md"), "Mode").as_deref(),
        Some("| Mode | full run |")
    );
    // JSON carries the same list.
    s.test()
        .args(["run", "f.md", "-o", "plain.md", "--resume"])
        .run();
    assert_eq!(
        header_row(&s.read("plain.md"), "Mode").as_deref(),
        Some("| Mode | `--resume` |")
    );
    s.test()
        .args(["run", "f.md", "--report-dir", "rep2", "--yes", "--step"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&s.read("rep2/f.json")).unwrap();
    assert_eq!(json["mode"], serde_json::json!(["--yes", "--step"]));
    assert!(s.read("rep2/f.html").contains("--step"));
}

#[test]
fn dry_run_never_overwrites_a_real_record() {
    let s = Scratch::new();
    s.write("f.md", "```bash {name=a}\necho real-output\n```\n");
    s.test().args(["run", "f.md"]).run();
    let real = s.read("f.annotated.md");
    assert!(real.contains("real-output"));

    // Default name: the dry run goes beside it.
    let r = s.test().args(["run", "f.md", "--dry-run"]).run();
    assert_eq!(s.read("f.annotated.md"), real);
    let dry = s.read("f.dry-run.md");
    assert!(dry.contains("◇ dry run"), "{dry}");
    assert_eq!(
        header_row(&dry, "Mode").as_deref(),
        Some("| Mode | `--dry-run` |")
    );
    assert!(r.stderr.contains("wrote f.dry-run.md"), "{}", r.stderr);

    // Explicitly onto the real record: refused, nothing written.
    s.test()
        .args(["run", "f.md", "--dry-run", "-o", "f.annotated.md"])
        .status(2)
        .stderr("error: --dry-run: f.annotated.md is the record of a real run; a dry run never overwrites it (write the dry run elsewhere with -o, or leave -o out to write f.dry-run.md)\n")
        .run();
    assert_eq!(s.read("f.annotated.md"), real);

    // An earlier dry run's record may be replaced, and a new file written.
    s.test()
        .args(["run", "f.md", "--dry-run", "-o", "f.dry-run.md"])
        .run();
    s.test()
        .args(["run", "f.md", "--dry-run", "-o", "preview.md"])
        .run();

    // Report dirs: the dry run's files carry the name too, logs apart.
    s.test().args(["run", "f.md", "--report-dir", "rep"]).run();
    let real_json = s.read("rep/f.json");
    s.test()
        .args(["run", "f.md", "--report-dir", "rep", "--dry-run"])
        .run();
    assert_eq!(s.read("rep/f.json"), real_json);
    let dry_json: serde_json::Value = serde_json::from_str(&s.read("rep/f.dry-run.json")).unwrap();
    assert_eq!(dry_json["dry_run"], true);
}

#[test]
fn aborted_is_counted_as_aborted_not_skipped() {
    let s = Scratch::new();
    s.write(
        "g.md",
        "```bash {name=prep}\necho prepared\n```\n\n\
         ```bash {name=fix confirm=\"Restart?\"}\necho fixed\n```\n\n\
         ```bash {name=after}\necho after\n```\n",
    );
    let mut run = PtyRun::spawn(&s, &["run", "g.md", "--report-dir", "rep"]);
    run.wait_for("[y]es / [s]kip / [a]bort", 1);
    run.answer("a\n");
    let (code, screen) = run.wait();
    assert_eq!(code, 4, "{screen}");
    assert!(
        screen.contains("runbook aborted: 1 ok, 0 failed, 0 skipped, 1 aborted, 1 not run"),
        "{screen}"
    );
    let xml = s.read("rep/g.junit.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let fix = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("fix"))
        .unwrap();
    assert!(
        !fix.children().any(|c| c.has_tag_name("skipped")),
        "aborted shown as skipped: {xml}"
    );
    let failure = fix
        .children()
        .find(|c| c.has_tag_name("failure"))
        .expect("aborted step has a <failure>");
    assert_eq!(failure.attribute("type"), Some("aborted"));
    assert_eq!(
        failure.attribute("message"),
        Some("aborted: aborted by the operator at the gate")
    );
}

#[test]
fn an_allowed_failure_is_a_failure_in_junit_and_the_summary() {
    let s = Scratch::new();
    s.write(
        "a.md",
        "```bash {name=ok1}\necho fine\n```\n\n\
         ```bash {name=flaky allow_failure}\necho broke; exit 7\n```\n\n\
         ```bash {name=ok2}\necho fine\n```\n",
    );
    let r = s.test().args(["run", "a.md", "--report-dir", "rep"]).run();
    assert!(
        r.stderr
            .contains("runbook ok: 2 ok, 0 failed, 1 failed (allowed), 0 skipped in "),
        "{}",
        r.stderr
    );
    let xml = s.read("rep/a.junit.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite") || n.has_tag_name("testsuites"))
        .collect();
    for suite in suites {
        assert_eq!(suite.attribute("failures"), Some("1"), "{xml}");
    }
    let flaky = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("flaky"))
        .unwrap();
    let failure = flaky
        .children()
        .find(|c| c.has_tag_name("failure"))
        .expect("allowed failure has a <failure>");
    assert_eq!(failure.attribute("type"), Some("failed_allowed"));
    assert_eq!(
        failure.attribute("message"),
        Some("failed (allowed): exit code 7 (allow_failure: the run went on)")
    );
    for name in ["ok1", "ok2"] {
        let tc = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap();
        assert!(!tc.children().any(|c| c.has_tag_name("failure")), "{xml}");
    }
}

#[test]
fn in_ci_the_operator_is_the_gitlab_user_and_the_job_is_linked() {
    let s = Scratch::new();
    s.write("c.md", "```bash {name=a confirm=\"Go?\"}\necho hi\n```\n");
    s.test()
        .args(["run", "c.md", "--report-dir", "rep", "--yes"])
        .env("USER", "root")
        .env("GITLAB_USER_LOGIN", "alice.ops")
        .env(
            "CI_JOB_URL",
            "https://gitlab.example.com/ops/rb/-/jobs/4242",
        )
        .run();
    let md = s.read("rep/c.md");
    assert_eq!(
        header_row(&md, "Operator").as_deref(),
        Some("| Operator | alice.ops |")
    );
    assert_eq!(
        header_row(&md, "CI job").as_deref(),
        Some("| CI job | <https://gitlab.example.com/ops/rb/-/jobs/4242> |")
    );
    assert!(block_of(&md, "a").contains("by alice.ops at"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/c.json")).unwrap();
    assert_eq!(json["operator"], "alice.ops");
    assert_eq!(
        json["job_url"],
        "https://gitlab.example.com/ops/rb/-/jobs/4242"
    );
    let html = s.read("rep/c.html");
    assert!(
        html.contains("<a href=\"https://gitlab.example.com/ops/rb/-/jobs/4242\">"),
        "{html}"
    );

    // Outside CI: the login name, no job row; an empty GITLAB_USER_LOGIN
    // or a non-http job URL does not count.
    s.test()
        .args(["run", "c.md", "-o", "local.md", "--yes"])
        .env("USER", "bob")
        .env("GITLAB_USER_LOGIN", "")
        .env("CI_JOB_URL", "javascript:alert(1)")
        .run();
    let md = s.read("local.md");
    assert_eq!(
        header_row(&md, "Operator").as_deref(),
        Some("| Operator | bob |")
    );
    assert_eq!(header_row(&md, "CI job"), None);
}
