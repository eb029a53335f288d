//! Issue 9 item 2: a dry run is a plan. It renders every step (results of
//! earlier steps as placeholders), runs only `safe` steps, never stops at a
//! safe step that cannot run here, and exits 0 unless a step fails to render.

use crate::common::repo;
use crate::common::test::{Output, Test};

/// A dry run of a bundled runbook (exit 0 expected), and its JSON report.
fn report(runbook: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let file = repo().join(runbook);
    let run = Test::new()
        .arg("run")
        .arg(&file)
        .args(["--dry-run", "--report-dir", "r", "--format", "md,json"])
        .args(extra)
        .status(0)
        .run();
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    let json = run.read(&format!("r/{stem}.dry-run.json"));
    (run, serde_json::from_str(&json).expect("json report"))
}

fn steps(json: &serde_json::Value) -> Vec<(String, String, String)> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn disk_pressure_on_a_missing_path_plans_all_six_steps() {
    let (run, json) = report("runbooks/disk-pressure.md", &["-p", "path=/nonexistent"]);
    assert_eq!(json["result"], "dry_run_ok", "{json:#}");
    let all = json["steps"].as_array().unwrap();
    assert_eq!(all.len(), 6);
    for step in all {
        let rendered = step["rendered"].as_str().unwrap_or("");
        assert!(!rendered.is_empty(), "every step is rendered: {step:#}");
        assert!(
            !rendered.contains("{{"),
            "templates resolved in {}: {rendered}",
            step["name"]
        );
    }
    // `usage` is safe and ran; on a missing path it could not succeed: it is
    // planned, says why, and the run went on to plan every later step.
    let by_name = steps(&json);
    let usage = by_name.iter().find(|(n, ..)| n == "usage").unwrap();
    assert_eq!(usage.1, "dry_run");
    assert!(
        usage
            .2
            .starts_with("planned; the dry run could not run it: exit "),
        "{usage:?}"
    );
    let cleanup = by_name.iter().find(|(n, ..)| n == "cleanup").unwrap();
    assert_eq!(cleanup.1, "dry_run");
    assert!(
        cleanup.2.contains("gate: \"Delete rotated logs"),
        "{cleanup:?}"
    );
    assert!(run.stderr.contains("planned"), "{}", run.stderr);
}

#[test]
fn p90_latency_without_prometheus_is_planned_not_failed() {
    let (_, json) = report("runbooks/p90-latency.md", &[]);
    let by_name = steps(&json);
    let names: Vec<&str> = by_name.iter().map(|(n, ..)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "levels",
            "pick",
            "amplitude",
            "latency_hour",
            "identify",
            "cores",
            "cleanup",
            "summary"
        ]
    );
    for (name, status, _) in &by_name {
        assert_eq!(status, "dry_run", "{name}: {by_name:?}");
    }
    // The HTTP step was sent (it is safe) and nothing answered.
    assert!(
        by_name[0].2.contains("could not run it"),
        "{:?}",
        by_name[0]
    );
    // Steps fed by its result are planned, not run against a placeholder.
    for i in [1, 4, 5, 7] {
        assert!(
            by_name[i]
                .2
                .ends_with("not run: it depends on a result the dry run does not have"),
            "{:?}",
            by_name[i]
        );
    }
    // The gated step shows its gate and its `when`, open until run time.
    assert!(
        by_name[6].2.contains("gate: \"Delete the core files"),
        "{:?}",
        by_name[6]
    );
    assert!(by_name[6].2.contains("when: steps.cores.json | length > 0"));
    // The chart steps are safe HTTP steps: sent, and nothing answered.
    for i in [2, 3] {
        assert!(
            by_name[i].2.contains("could not run it"),
            "{:?}",
            by_name[i]
        );
    }
}

#[test]
fn a_step_that_cannot_render_still_fails_the_dry_run_with_exit_2() {
    let text = "# R\n\n```bash {name=a safe}\nexit 3\n```\n\n```bash {name=b}\necho {{ 1 / 0 }}\n```\n\n```bash {name=c}\necho after\n```\n";
    let run = Test::new()
        .file("r.md", text)
        .args(["run", "r.md", "--dry-run", "-o", "out.md"])
        .status(2)
        .stderr_contains("template error in step `b`")
        .run();
    let copy = run.read("out.md");
    // Every step is in the plan: the failed safe one, the broken one, the rest.
    assert!(copy.contains("step=a"), "{copy}");
    assert!(copy.contains("step=b"), "{copy}");
    assert!(copy.contains("step=c"), "{copy}");
}
