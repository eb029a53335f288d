//! CI-facing behaviour through the real binary (issue 4): `--dry-run`,
//! reports written by `--report-dir`, GitLab log sections, `check`.

use crate::common::{Test, block_of, repo};

const RUNBOOK: &str = "---
title: Pipeline demo
params:
  service: { default: api, choices: [api, worker] }
secrets:
  TOKEN: { env: PIPELINE_TOKEN }
---

# Demo

```bash {name=look safe}
echo \"looking at {{ params.service }}\"
```

```bash {name=change confirm=\"Restart {{ params.service }}?\" timeout=5s}
echo \"restarting with {{ secrets.TOKEN }}\" > changed.txt
```

```bash {name=skipme when=\"params.service == 'worker'\"}
echo worker only
```
";

#[test]
fn dry_run_renders_everything_and_runs_only_safe_steps() {
    let s = Test::new()
        .file("p.md", RUNBOOK)
        .args(["run", "p.md", "--dry-run", "-o", "dry.md"])
        .env("PIPELINE_TOKEN", "hunter2-very-secret")
        .run();
    assert!(!s.path("changed.txt").exists(), "a non-safe step ran");
    let dry = s.read("dry.md");
    assert!(block_of(&dry, "look").contains("looking at api"), "{dry}");
    let change = block_of(&dry, "change");
    assert!(change.contains("dry run"), "{change}");
    assert!(change.contains("{{ secrets.TOKEN }}"), "{change}");
    assert!(change.contains("Restart api?"), "{change}");
    assert!(!dry.contains("hunter2"), "{dry}");
    assert!(block_of(&dry, "skipme").contains("skipped"), "{dry}");
}

#[test]
fn dry_run_fails_when_a_step_cannot_render() {
    let r = Test::new()
        .file(
            "bad.md",
            // Valid for `check` (which `run` would otherwise refuse up front),
            // but a string has no attribute `missing`: rendering fails.
            "---\nparams:\n  cfg: { default: x }\n---\n```bash {name=a}\necho {{ params.cfg.missing }}\n```\n\n```bash {name=b}\necho {{ steps.a.stdout }}\n```\n",
        )
        .args(["run", "bad.md", "--dry-run", "-o", "dry.md"])
        .status(2)
        .stderr_contains("template error in step `a`")
        .run();
    // b refers to a's output, which a dry run does not have: a placeholder, not an error.
    assert!(block_of(&r.read("dry.md"), "b").contains("⟨steps.a.stdout⟩"));
}

#[test]
fn report_dir_gets_every_format() {
    let s = Test::new()
        .file("p.md", RUNBOOK)
        .args(["run", "p.md", "--yes", "--report-dir", "reports"])
        .env("PIPELINE_TOKEN", "hunter2-very-secret")
        .run();
    for f in ["p.md", "p.json", "p.junit.xml", "p.html"] {
        let text = s.read(&format!("reports/{f}"));
        assert!(!text.contains("hunter2"), "{f} leaks the secret");
    }
    let json: serde_json::Value = serde_json::from_str(&s.read("reports/p.json")).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["result"], "ok");
    assert_eq!(json["steps"].as_array().unwrap().len(), 3);
    assert_eq!(json["steps"][1]["gate"]["decision"], "approved (--yes)");
    let junit = s.read("reports/p.junit.xml");
    assert_eq!(junit.matches("<testcase ").count(), 3, "{junit}");
    assert_eq!(junit.matches("<skipped").count(), 1, "{junit}");
    let html = s.read("reports/p.html");
    assert!(html.contains("<style"), "inline CSS");
    let external =
        regex::Regex::new(r#"(?i)<(link|script|img)[^>]+(src|href)\s*=\s*"https?://"#).unwrap();
    assert!(
        !external.is_match(&html),
        "external asset in the HTML report"
    );
}

/// A failed run's HTML report, written by the real binary: the failure
/// linked from the header, what ran with the template behind a toggle, and
/// the full log linked relative to the report (the link resolves).
#[test]
fn html_report_of_a_failed_run_links_the_failure_and_its_log() {
    let s = Test::new()
        .file(
            "f.md",
            "---\nparams:\n  n: { default: 5 }\n---\n# Fail\n\n```bash {name=ok}\necho fine\n```\n\n```bash {name=boom}\nseq 1 {{ params.n }}; echo '<img src=x onerror=alert(1)>' >&2; exit 3\n```\n",
        )
        .args(["run", "f.md", "-p", "n=50", "--report-dir", "reports"])
        .args(["--max-output-lines", "4"])
        .status(1)
        .run();
    let html = s.read("reports/f.html");
    assert!(
        html.contains("Failed: <a href=\"#step-2\">step 2 “boom”</a> (line 11, failed)"),
        "{html}"
    );
    assert!(html.contains("<pre class=\"rendered\"><code>seq 1 50; echo"));
    assert!(html.contains("seq 1 {{ params.n }}; echo"));
    let href = regex::Regex::new(
        r#"<p class="log">Full log \(51 lines, [0-9 ]+ bytes\): <a href="([^"]+)">"#,
    )
    .unwrap()
    .captures(&html)
    .map(|c| c[1].to_string())
    .unwrap_or_else(|| panic!("no log link: {html}"));
    assert!(href.starts_with("logs/") && !href.contains(".."), "{href}");
    let log = s.read(&format!("reports/{href}"));
    assert!(log.contains("onerror=alert(1)"), "{log}");
    assert!(!html.contains("<img"));
}

#[test]
fn gitlab_ci_log_has_one_section_pair_per_step() {
    let out = Test::new()
        .file(
            "g.md",
            "```bash {name=one}\necho first\n```\n\n```bash {name=two}\necho second\n```\n",
        )
        .args(["run", "g.md", "-o", "out.md"])
        .env("GITLAB_CI", "true")
        .run();
    let log = &out.stderr;
    let start = regex::Regex::new(
        r"\x1b\[0Ksection_start:(\d+):([a-z0-9_]+)(\[collapsed=true\])?\r\x1b\[0K",
    )
    .unwrap();
    let end = regex::Regex::new(r"\x1b\[0Ksection_end:(\d+):([a-z0-9_]+)\r\x1b\[0K").unwrap();
    let starts: Vec<String> = start.captures_iter(log).map(|c| c[2].to_string()).collect();
    let ends: Vec<String> = end.captures_iter(log).map(|c| c[2].to_string()).collect();
    assert_eq!(starts.len(), 2, "{log:?}");
    assert_eq!(starts, ends, "{log:?}");
    assert_ne!(starts[0], starts[1]);
    // Each step's output is inside its own section.
    let first = log.find("first").unwrap();
    let s0 = log.find("section_start:").unwrap();
    let e0 = log.find("section_end:").unwrap();
    assert!(s0 < first && first < e0, "{log:?}");
}

#[test]
fn check_passes_on_the_bundled_runbooks() {
    Test::new().arg("check").arg(repo().join("runbooks")).run();
}

#[test]
fn check_lists_every_seeded_problem_with_its_position() {
    let r = Test::new()
        .current_dir(repo())
        .args(["check", "fixtures/broken", "--format", "json"])
        .status(2)
        .run();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut found = Vec::new();
    for f in v["files"].as_array().unwrap() {
        for d in f["diagnostics"].as_array().unwrap() {
            found.push(format!(
                "{}:{}:{} {}",
                d["path"].as_str().unwrap(),
                d["line"],
                d["col"],
                d["severity"].as_str().unwrap()
            ));
        }
    }
    found.sort();
    let expected = [
        "fixtures/broken/attributes.md:15:10 error",
        "fixtures/broken/attributes.md:3:17 error",
        "fixtures/broken/attributes.md:7:25 error",
        "fixtures/broken/front-matter.md:3:1 error",
        "fixtures/broken/front-matter.md:8:9 error",
        "fixtures/broken/gates-in-pipeline.md:11:21 error",
        "fixtures/broken/gates-in-pipeline.md:4:1 error",
        "fixtures/broken/hosts.md:4:23 error",
        "fixtures/broken/hosts.md:7:22 error",
        "fixtures/broken/interpreter.md:3:30 warning",
        "fixtures/broken/params.md:4:30 warning",
        "fixtures/broken/params.md:7:5 error",
        "fixtures/broken/references.md:17:42 error",
        "fixtures/broken/references.md:18:73 error",
        "fixtures/broken/references.md:19:9 error",
        "fixtures/broken/references.md:23:35 error",
        "fixtures/broken/references.md:24:25 error",
        "fixtures/broken/references.md:24:8 error",
        "fixtures/broken/references.md:25:9 error",
        "fixtures/broken/template-syntax.md:12:28 error",
        "fixtures/broken/template-syntax.md:5:16 error",
        "fixtures/broken/template-syntax.md:8:41 error",
        "fixtures/broken/unclosed.md:7:1 warning",
    ];
    assert_eq!(found, expected);
    // The human form ends with the count and goes to stderr.
    let h = r
        .test()
        .current_dir(repo())
        .args(["check", "fixtures/broken"])
        .status(2)
        .stderr_contains("error: unknown attribute `tiemout` (did you mean `timeout`?)\n --> fixtures/broken/attributes.md:3:17\n")
        .run();
    assert!(
        h.stderr
            .ends_with("9 files checked: 20 errors, 3 warnings\n"),
        "{}",
        h.stderr
    );
}

#[test]
fn check_junit_has_one_testcase_per_runbook() {
    let r = Test::new()
        .current_dir(repo())
        .args(["check", "fixtures/broken", "runbooks", "--format", "junit"])
        .status(2)
        .run();
    let xml = &r.stdout;
    let doc = roxmltree::Document::parse(xml).expect("well-formed JUnit");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let runbooks = std::fs::read_dir(repo().join("runbooks")).unwrap().count();
    assert_eq!(cases.len(), 9 + runbooks);
    let failing = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    assert_eq!(failing, 7, "every broken fixture with an error fails");
}

#[test]
fn failed_precondition_exits_3_before_any_step() {
    let t = Test::new();
    let marker = t.path("ran");
    let text = format!(
        "---\nrequires:\n  commands: [sh, no-such-tool-xyz]\n  env: [RUNBOOK_TEST_UNSET_VAR]\n  files: [pre.md]\n  check: [\"test 1 -eq 2\"]\n---\n\n```bash {{name=a}}\ntouch {}\n```\n",
        marker.display()
    );
    let s = t
        .file("pre.md", &text)
        .args(["run", "pre.md", "--report-dir", "rep"])
        .status(3)
        .stderr_contains("precondition failed: commands `no-such-tool-xyz`: not found on PATH")
        .stderr_contains("precondition failed: env `RUNBOOK_TEST_UNSET_VAR`: not set")
        .run();
    assert!(!marker.exists(), "a step ran");
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/pre.json")).unwrap();
    assert_eq!(json["result"], "precondition_failed");
    let pre = json["preconditions"].as_array().unwrap();
    let summary: Vec<(String, String, bool)> = pre
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["target"].as_str().unwrap().to_string(),
                p["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("commands".into(), "sh".into(), true),
            ("commands".into(), "no-such-tool-xyz".into(), false),
            ("env".into(), "RUNBOOK_TEST_UNSET_VAR".into(), false),
            ("files".into(), "pre.md".into(), true),
            ("check".into(), "test 1 -eq 2".into(), false),
        ]
    );
    assert!(block_of(&s.read("rep/pre.md"), "a").contains("not run"));
    // `check --preconditions` evaluates them alone.
    s.test()
        .args(["check", "--preconditions", "pre.md"])
        .status(3)
        .stderr_contains("precondition failed: commands `no-such-tool-xyz`")
        .run();
}

#[test]
fn init_completions_and_man() {
    let s = Test::new().args(["init", "Database failover"]).run();
    let name = "database-failover.md";
    assert!(s.path(name).exists());
    s.test().args(["check", "--strict", name]).run();
    s.test().args(["init", "Database failover"]).status(2).run();
    let c = s.test().args(["completions", "bash"]).run();
    assert!(
        c.stdout.contains("_runbook()"),
        "{}",
        &c.stdout[..200.min(c.stdout.len())]
    );
    let m = s.test().arg("man").run();
    assert!(
        m.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq") || m.stdout.contains(".TH runbook"),
        "{}",
        &m.stdout[..200.min(m.stdout.len())]
    );
}

#[test]
fn man_writes_a_page_per_subcommand_with_the_sections_people_look_for() {
    let out = Test::new().args(["man", "--out", "man1"]).run();
    let mut names: Vec<String> = std::fs::read_dir(out.path("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "runbook-check.1",
            "runbook-completions.1",
            "runbook-import.1",
            "runbook-init.1",
            "runbook-list.1",
            "runbook-man.1",
            "runbook-merge.1",
            "runbook-publish.1",
            "runbook-run.1",
            "runbook-sign.1",
            "runbook-strip.1",
            "runbook-verify.1",
            "runbook.1",
        ]
    );
    let run = out.read("man1/runbook-run.1");
    assert!(run.contains(".TH runbook-run"), "{run}");
    for section in [
        ".SH EXAMPLES",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXIT STATUS",
    ] {
        assert!(run.contains(section), "{section} in {run}");
    }
    assert!(run.contains("\\-\\-dry\\-run"), "{run}");
    assert!(out.read("man1/runbook-publish.1").contains("GITLAB_TOKEN"));
}

#[test]
fn every_subcommand_help_has_examples_and_described_arguments() {
    let subs = [
        "run",
        "check",
        "strip",
        "list",
        "init",
        "publish",
        "completions",
        "man",
        "merge",
        "verify",
        "import",
        "sign",
    ];
    // Every subcommand `runbook --help` lists is in the list above.
    let top = Test::new().arg("--help").run();
    let listed: Vec<&str> = top
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A wrapped description continues further in.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    let mut expected = subs.to_vec();
    expected.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, expected, "{}", top.stdout);
    for sub in subs {
        let h = Test::new().args([sub, "--help"]).run();
        assert!(h.stdout.contains("Example"), "{sub}: {}", h.stdout);
        // Every positional argument says what it is.
        for line in h
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("Arguments:"))
            .skip(1)
        {
            if line.trim().is_empty() {
                break;
            }
            assert!(line.split_whitespace().count() > 1, "{sub}: {line:?}");
        }
    }
    let publish = Test::new().args(["publish", "--help"]).run();
    assert!(
        publish.stdout.contains("GITLAB_TOKEN"),
        "{}",
        publish.stdout
    );
}

#[test]
fn check_rejects_cwd_on_a_remote_step() {
    Test::new()
        .file(
            "rc.md",
            "---\nhosts:\n  box: { ssh: \"root@127.0.0.1:22\" }\n---\n\n```bash {name=a host=box cwd=/tmp}\npwd\n```\n",
        )
        .args(["check", "rc.md"])
        .status(2)
        .stderr("error: `cwd` is not supported on remote hosts: use `cd` / `export` in the step\n --> rc.md:6:26\n  |\n6 | ```bash {name=a host=box cwd=/tmp}\n  |                          ^^^^^^^^\n\n1 file checked: 1 error, 0 warnings\n")
        .run();
}
