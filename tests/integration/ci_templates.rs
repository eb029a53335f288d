//! The GitLab CI/CD component in ci/templates/runbook.yml: its structure
//! (a `spec: inputs:` header, `---`, then the jobs), that every
//! `$[[ inputs.X ]]` it uses is declared (and every declared input is used),
//! that the jobs call the CLI with flags the real binary has, and, when
//! gitlab-ci-local is installed, that GitLab's own schema and input
//! validation accept it.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const TEMPLATE: &str = "ci/templates/runbook.yml";

fn documents() -> (Value, Value) {
    let text = std::fs::read_to_string(TEMPLATE).expect("read template");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("valid YAML");
    assert_eq!(docs.len(), 2, "a header document and the jobs document");
    let mut it = docs.into_iter();
    (it.next().expect("header"), it.next().expect("jobs"))
}

fn script(job: &Value) -> String {
    job["script"]
        .as_array()
        .expect("script is a list")
        .iter()
        .map(|l| l.as_str().expect("script lines are strings"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn header_declares_the_inputs() {
    let (header, _) = documents();
    let inputs = header["spec"]["inputs"]
        .as_object()
        .expect("spec.inputs is a map");
    let names: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    for required in [
        "stage",
        "runbooks",
        "image",
        "runbook",
        "params",
        "report_dir",
        "publish",
    ] {
        assert!(names.contains(required), "missing input {required}");
    }
    for (name, spec) in inputs {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name} has no description"
        );
        // A default must satisfy the input's own constraints, or GitLab
        // refuses the include.
        if let (Some(default), Some(options)) = (spec.get("default"), spec.get("options")) {
            let options = options.as_array().expect("options is a list");
            assert!(options.contains(default), "{name}: default not in options");
        }
        if let (Some(default), Some(re)) = (spec.get("default"), spec.get("regex")) {
            let re = Regex::new(re.as_str().expect("regex")).expect("valid regex");
            assert!(
                re.is_match(default.as_str().expect("string default")),
                "{name}: default does not match its regex"
            );
        }
        if spec.get("type").and_then(Value::as_str) == Some("boolean") {
            assert!(spec["default"].is_boolean(), "{name}: boolean default");
        }
    }
    // The image has no sensible default: the including project names it.
    assert!(inputs["image"].get("default").is_none());
    assert_eq!(inputs["runbooks"]["default"], "runbooks");
    assert_eq!(inputs["report_dir"]["default"], "reports");
}

#[test]
fn every_input_used_is_declared_and_every_declared_input_is_used() {
    let text = std::fs::read_to_string(TEMPLATE).expect("read template");
    let (header, _) = documents();
    let declared: BTreeSet<String> = header["spec"]["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .cloned()
        .collect();
    let body = text.split("\n---\n").nth(1).expect("body after ---");
    let re = Regex::new(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*(\|[^\]]*)?\]\]").expect("regex");
    let used: BTreeSet<String> = re.captures_iter(body).map(|c| c[1].to_string()).collect();
    let undeclared: Vec<_> = used.difference(&declared).collect();
    assert!(undeclared.is_empty(), "undeclared inputs: {undeclared:?}");
    let unused: Vec<_> = declared.difference(&used).collect();
    assert!(unused.is_empty(), "declared but unused inputs: {unused:?}");
    // Nothing that looks like an interpolation escaped the pattern.
    assert_eq!(body.matches("$[[").count(), re.find_iter(body).count());
}

#[test]
fn check_job_runs_on_merge_requests_that_change_runbooks_and_reports_junit() {
    let (_, jobs) = documents();
    let job = &jobs["runbook-check"];
    assert_eq!(job["stage"], "$[[ inputs.stage ]]");
    assert_eq!(job["image"], "$[[ inputs.image ]]");
    let s = script(job);
    assert!(
        s.contains("runbook check --format junit $strict \"$[[ inputs.runbooks ]]\" > check.xml"),
        "{s}"
    );
    assert!(
        s.contains("runbook check $strict \"$[[ inputs.runbooks ]]\""),
        "{s}"
    );
    assert!(s.contains("strict=\"--strict\""), "{s}");
    assert_eq!(job["artifacts"]["when"], "always");
    assert_eq!(job["artifacts"]["reports"]["junit"], "check.xml");

    let rules = job["rules"].as_array().expect("rules");
    let mr = rules
        .iter()
        .find(|r| {
            r["if"]
                .as_str()
                .is_some_and(|i| i.contains("$CI_PIPELINE_SOURCE == \"merge_request_event\""))
        })
        .expect("a merge request rule");
    let paths: Vec<&str> = mr["changes"]["paths"]
        .as_array()
        .expect("changes.paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(paths.contains(&"$[[ inputs.runbooks ]]/**/*"), "{paths:?}");
    // No rule runs the check unconditionally.
    for r in rules {
        assert!(r.get("changes").is_some(), "rule without changes: {r}");
    }
}

#[test]
fn run_job_runs_the_runbook_headless_and_keeps_reports_always() {
    let (_, jobs) = documents();
    let job = &jobs["runbook-run"];
    assert_eq!(job["stage"], "$[[ inputs.run_stage ]]");
    let s = script(job);
    let run = s
        .lines()
        .find(|l| l.starts_with("runbook run "))
        .expect("a runbook run line");
    assert!(
        run.starts_with("runbook run \"$[[ inputs.runbook ]]\" --yes "),
        "{run}"
    );
    assert!(
        run.contains(
            "--report-dir \"$[[ inputs.report_dir ]]${RUNBOOK_SHARD:+/shard-$CI_NODE_INDEX}\""
        ),
        "{run}"
    );
    assert!(
        run.contains("${RUNBOOK_SHARD:+--shard \"$RUNBOOK_SHARD\"}"),
        "{run}"
    );
    assert!(
        run.contains("${RUNBOOK_PUBLISH:+--publish \"$RUNBOOK_PUBLISH\"}"),
        "{run}"
    );
    assert!(run.ends_with(" $[[ inputs.params ]]"), "{run}");
    let a = &job["artifacts"];
    assert_eq!(a["when"], "always");
    assert_eq!(a["paths"][0], "$[[ inputs.report_dir ]]/");
    assert_eq!(a["reports"]["junit"], "$[[ inputs.report_dir ]]/*.xml");
    assert_eq!(job["interruptible"], false);
    let rules = job["rules"].as_array().expect("rules");
    assert_eq!(rules[0]["if"], "$RUNBOOK_FILE !~ /./");
    assert_eq!(rules[0]["when"], "never");
    assert_eq!(job["variables"]["RUNBOOK_FILE"], "$[[ inputs.runbook ]]");
    assert_eq!(job["parallel"], "$[[ inputs.shards ]]");
}

/// `shards` > 1: the run job is `parallel:`, each instance a `--shard`, and
/// a merge job needing all of them combines their directories, whatever
/// they ended with; with one shard there is no merge job.
#[test]
fn sharded_runs_are_parallel_jobs_and_one_merge_job() {
    let (header, jobs) = documents();
    let shards = &header["spec"]["inputs"]["shards"];
    assert_eq!(
        (shards["type"].as_str(), shards["default"].as_i64()),
        (Some("number"), Some(1))
    );
    let s = script(&jobs["runbook-run"]);
    assert!(
        s.contains("if [ \"${CI_NODE_TOTAL:-1}\" -gt 1 ]; then export RUNBOOK_SHARD=\"$CI_NODE_INDEX/$CI_NODE_TOTAL\"; fi"),
        "{s}"
    );
    let job = &jobs["runbook-merge"];
    assert_eq!(job["needs"], serde_json::json!(["runbook-run"]));
    let rules = job["rules"].as_array().expect("rules");
    assert_eq!(
        rules[0]["if"],
        "$RUNBOOK_FILE !~ /./ || $RUNBOOK_SHARDS == \"1\""
    );
    assert_eq!(rules[0]["when"], "never");
    assert_eq!(rules[1]["when"], "always");
    let merge = script(job);
    assert!(
        merge.contains("runbook merge \"$[[ inputs.report_dir ]]\"/shard-* --report-dir \"$[[ inputs.report_dir ]]/merged\""),
        "{merge}"
    );
    assert_eq!(job["artifacts"]["when"], "always");
    assert_eq!(
        job["artifacts"]["reports"]["junit"],
        "$[[ inputs.report_dir ]]/merged/*.xml"
    );
}

/// The flags the jobs use exist in the real binary.
#[test]
fn jobs_use_flags_the_cli_has() {
    let bin = env!("CARGO_BIN_EXE_runbook");
    let help = |sub: &str| {
        let out = Command::new(bin)
            .args([sub, "--help"])
            .output()
            .expect("run runbook");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let check = help("check");
    for flag in ["--format", "junit", "--strict"] {
        assert!(
            check.contains(flag),
            "`runbook check --help` lacks {flag}:\n{check}"
        );
    }
    let run = help("run");
    for flag in [
        "--yes",
        "--report-dir",
        "--publish",
        "-p",
        "--shard",
        "RUNBOOK_SIGN_KEY",
    ] {
        assert!(
            run.contains(flag),
            "`runbook run --help` lacks {flag}:\n{run}"
        );
    }
    let merge = help("merge");
    assert!(merge.contains("--report-dir"), "{merge}");
}

/// gitlab-ci-local (npm) validates the component against GitLab's JSON
/// schema and input rules. Optional: set GITLAB_CI_LOCAL to its command line,
/// or have `gitlab-ci-local` on PATH; skipped otherwise.
#[test]
fn gitlab_ci_local_accepts_the_component() {
    let cmd: Vec<String> = match std::env::var("GITLAB_CI_LOCAL") {
        Ok(c) if !c.trim().is_empty() => c.split_whitespace().map(str::to_string).collect(),
        _ => {
            let on_path = Command::new("gitlab-ci-local")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !on_path {
                eprintln!("gitlab-ci-local not installed: skipped");
                return;
            }
            vec!["gitlab-ci-local".to_string()]
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("ci/templates")).expect("mkdir");
    std::fs::create_dir_all(root.join("runbooks")).expect("mkdir");
    std::fs::copy(TEMPLATE, root.join(TEMPLATE)).expect("copy");
    std::fs::write(root.join("runbooks/restart.md"), "# Restart\n").expect("write");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(root)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    let gcl = |ci: &str, args: &[&str], vars: &[&str]| {
        std::fs::write(root.join(".gitlab-ci.yml"), ci).expect("write");
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]).args(args).current_dir(root);
        for v in vars {
            c.args(["--variable", v]);
        }
        c.env("GCL_IGNORE_PREDEFINED_VARS", "CI_PIPELINE_SOURCE");
        let out = c.output().expect("run gitlab-ci-local");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);

    let include = |extra: &str| {
        format!(
            "include:\n  - local: ci/templates/runbook.yml\n    inputs:\n      image: alpine:3.20\n{extra}"
        )
    };
    let full = include(
        "      runbook: runbooks/restart.md\n      params: -p service=api\n      publish: gitlab:sre/incidents#42\n",
    );
    let (ok, out) = gcl(&full, &["--preview"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("json schema validated"), "{out}");
    assert!(
        out.contains(
            "runbook run \"runbooks/restart.md\" --yes --report-dir \"reports\" ${RUNBOOK_PUBLISH:+--publish \"$RUNBOOK_PUBLISH\"} -p service=api"
        ),
        "{out}"
    );
    assert!(
        out.contains("RUNBOOK_PUBLISH: gitlab:sre/incidents#42"),
        "{out}"
    );

    // A scheduled pipeline gets the run job.
    let (ok, out) = gcl(&full, &["--list"], &["CI_PIPELINE_SOURCE=schedule"]);
    assert!(ok, "{out}");
    assert!(
        Regex::new(r"(?m)^runbook-run\s+deploy\s+on_success")
            .expect("re")
            .is_match(&out),
        "{out}"
    );
    // Without a runbook there is no run job, even on a schedule.
    let (ok, out) = gcl(&include(""), &["--list"], &["CI_PIPELINE_SOURCE=schedule"]);
    assert!(ok, "{out}");
    assert!(!out.contains("runbook-run"), "{out}");

    // GitLab's input validation.
    let (ok, out) = gcl(
        "include:\n  - local: ci/templates/runbook.yml\n",
        &["--list"],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("`image` input: required value has not been provided"),
        "{out}"
    );
    let (ok, out) = gcl(&include("      run_when: sometimes\n"), &["--list"], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("`run_when` input: `sometimes` cannot be used because it is not in the list of allowed options"),
        "{out}"
    );
    let (ok, out) = gcl(&include("      runbooks: runbooks/\n"), &["--list"], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("`runbooks` input"), "{out}");
    assert!(Path::new(&root.join(".gitlab-ci.yml")).exists());
}

/// `sign_key_variable`: the run job takes the key from the named variable
/// (a File variable's path, or the key's text), copies it into a private
/// file and exports RUNBOOK_SIGN_KEY; the copy it signs verifies. The
/// snippet is run as the job would (sh), the key never echoed.
#[test]
fn the_run_job_signs_with_the_key_of_a_named_variable() {
    use std::os::unix::fs::PermissionsExt;
    let (header, jobs) = documents();
    let input = &header["spec"]["inputs"]["sign_key_variable"];
    assert_eq!(input["default"], "");
    let re = Regex::new(input["regex"].as_str().expect("regex")).expect("regex");
    for ok in ["", "RUNBOOK_KEY", "_k1"] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in ["a b", "$(id)", "K;rm", "1KEY", "K-EY"] {
        assert!(!re.is_match(bad), "{bad}");
    }
    let job = &jobs["runbook-run"];
    assert_eq!(
        job["variables"]["RUNBOOK_SIGN_KEY_VARIABLE"],
        "$[[ inputs.sign_key_variable ]]"
    );
    let snippet = job["script"]
        .as_array()
        .expect("script")
        .iter()
        .filter_map(|l| l.as_str())
        .find(|l| l.starts_with("if [ -n \"$RUNBOOK_SIGN_KEY_VARIABLE\" ]"))
        .expect("the signing snippet")
        .to_string();
    let s = crate::common::Scratch::new();
    let key = s.path("key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    // A File variable as a runner with umask 0 leaves it: world-readable.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let key_text = std::fs::read_to_string(&key).expect("key");
    let job_sh = |env: &[(&str, &str)]| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "set -e\n{snippet}\nprintf %s \"$RUNBOOK_SIGN_KEY\""
            ))
            .env_remove("RUNBOOK_SIGN_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("sh")
    };
    let key_path = key.display().to_string();
    for value in [key_path.as_str(), key_text.trim_end()] {
        let out = job_sh(&[
            ("RUNBOOK_SIGN_KEY_VARIABLE", "SIGNING_KEY"),
            ("SIGNING_KEY", value),
        ]);
        assert!(out.status.success(), "{out:?}");
        let copy = String::from_utf8(out.stdout).expect("path");
        assert!(!copy.is_empty() && copy != key_path, "{copy}");
        let mode = std::fs::metadata(&copy)
            .expect("key copy")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{copy}");
        assert_eq!(
            std::fs::read_to_string(&copy).expect("copy").trim_end(),
            key_text.trim_end()
        );
        s.write("runbook.md", "```bash {name=a}\necho a\n```\n");
        s.test()
            .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
            .env("RUNBOOK_SIGN_KEY", &copy)
            .run();
        s.test()
            .args(["verify", "copy.md", "--require-signature"])
            .stdout_contains(", signed by ssh-ed25519 ")
            .run();
        let _ = std::fs::remove_file(&copy);
    }
    // Unset (a protected variable on an unprotected branch): the job fails, saying why.
    let out = job_sh(&[("RUNBOOK_SIGN_KEY_VARIABLE", "SIGNING_KEY")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sign_key_variable: $SIGNING_KEY is empty or unset (a protected variable exists only on protected branches and tags)\n"
    );
    // No input: nothing exported.
    let out = job_sh(&[("RUNBOOK_SIGN_KEY_VARIABLE", "")]);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
}
