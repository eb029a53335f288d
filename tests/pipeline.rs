//! CI-facing behaviour through the real binary (issue 4): `--dry-run`,
//! reports written by `--report-dir`, GitLab log sections, `check`.

mod common;

use common::{Scratch, block_of, repo};

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
    let s = Scratch::new();
    s.write("p.md", RUNBOOK);
    let out = s
        .cmd()
        .args(["run", "p.md", "--dry-run", "-o", "dry.md"])
        .env("PIPELINE_TOKEN", "hunter2-very-secret")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let s = Scratch::new();
    s.write(
        "bad.md",
        "```bash {name=a}\necho {{ params.missing }}\n```\n\n```bash {name=b}\necho {{ steps.a.stdout }}\n```\n",
    );
    let r = s.run(&["run", "bad.md", "--dry-run", "-o", "dry.md"]);
    r.expect(2);
    assert!(
        r.stderr.contains("template error in step `a`"),
        "{}",
        r.stderr
    );
    // b refers to a's output, which a dry run does not have: a placeholder, not an error.
    assert!(block_of(&s.read("dry.md"), "b").contains("⟨steps.a.stdout⟩"));
}

#[test]
fn report_dir_gets_every_format() {
    let s = Scratch::new();
    s.write("p.md", RUNBOOK);
    let out = s
        .cmd()
        .args(["run", "p.md", "--yes", "--report-dir", "reports"])
        .env("PIPELINE_TOKEN", "hunter2-very-secret")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn gitlab_ci_log_has_one_section_pair_per_step() {
    let s = Scratch::new();
    s.write(
        "g.md",
        "```bash {name=one}\necho first\n```\n\n```bash {name=two}\necho second\n```\n",
    );
    let out = s
        .cmd()
        .args(["run", "g.md", "-o", "out.md"])
        .env("GITLAB_CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    let start = regex::Regex::new(
        r"\x1b\[0Ksection_start:(\d+):([a-z0-9_]+)(\[collapsed=true\])?\r\x1b\[0K",
    )
    .unwrap();
    let end = regex::Regex::new(r"\x1b\[0Ksection_end:(\d+):([a-z0-9_]+)\r\x1b\[0K").unwrap();
    let starts: Vec<String> = start
        .captures_iter(&log)
        .map(|c| c[2].to_string())
        .collect();
    let ends: Vec<String> = end.captures_iter(&log).map(|c| c[2].to_string()).collect();
    assert_eq!(starts.len(), 2, "{log:?}");
    assert_eq!(starts, ends, "{log:?}");
    assert_ne!(starts[0], starts[1]);
    // Each step's output is inside its own section.
    let first = log.find("first").unwrap();
    let s0 = log.find(&format!("section_start:")).unwrap();
    let e0 = log.find("section_end:").unwrap();
    assert!(s0 < first && first < e0, "{log:?}");
}

#[test]
fn check_passes_on_the_bundled_runbooks() {
    let s = Scratch::new();
    let r = s.run(&["check", repo().join("runbooks").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
