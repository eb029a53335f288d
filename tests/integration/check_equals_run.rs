//! `runbook check` and `runbook run` share one validator (`analyze`): what
//! `check` refuses, `run` refuses before any precondition or step, with the
//! same diagnostics; what `check` accepts, `run` does not refuse for a reason
//! `check` could have seen.
//!
//! The golden test walks every runbook in `fixtures/`, `runbooks/` and
//! `tests/runbooks/` (good ones under `ok/`, broken ones under `broken/`).
//! The other tests pin each disagreement the two commands used to have.

use crate::common::test::Output;
use crate::common::{Scratch, Test, repo};
use runbook::document::Document;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in ["fixtures", "runbooks", "tests/runbooks"] {
        collect(&repo().join(d), &mut out);
    }
    out.sort();
    out
}

/// Values for required params without a default (the first choice, or a
/// word), so a good runbook is run the way an operator would run it.
fn required_params(doc: Option<&Document>) -> Vec<String> {
    let Some(doc) = doc else { return Vec::new() };
    doc.front
        .params
        .iter()
        .filter(|(_, p)| p.required && p.default.is_none())
        .map(|(name, p)| {
            let value = match p.choices.as_ref().and_then(|c| c.first()) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "golden".to_string(),
            };
            format!("{name}={value}")
        })
        .collect()
}

/// The environment variables the runbook's `env:` secrets read.
fn secret_env(doc: Option<&Document>) -> Vec<(String, String)> {
    let Some(doc) = doc else { return Vec::new() };
    doc.front
        .secrets
        .values()
        .filter_map(|s| s.env.clone())
        .map(|var| (var.clone(), format!("golden-{var}")))
        .collect()
}

fn check(s: &Scratch, file: &Path) -> Output {
    s.test().arg("check").arg(file).any_status().run()
}

fn dry_run(s: &Scratch, file: &Path, doc: Option<&Document>) -> Output {
    let mut t = s
        .test()
        .arg("run")
        .arg(file)
        .args(["--dry-run", "--yes", "-o"])
        .arg(s.path("out.md"))
        .any_status();
    for p in required_params(doc) {
        t = t.args(["-p", &p]);
    }
    for (k, v) in secret_env(doc) {
        t = t.env(k, v);
    }
    t.run()
}

/// `check`'s human output without its summary line.
fn diagnostics_of(check: &Output) -> &str {
    check
        .stderr
        .trim_end()
        .rsplit_once("\n\n")
        .map(|(d, _)| d)
        .unwrap_or("")
}

#[test]
fn check_verdict_equals_dry_run_verdict_for_every_runbook() {
    let files = corpus();
    assert!(
        files
            .iter()
            .filter(|f| f.starts_with(repo().join("tests/runbooks")))
            .count()
            >= 30,
        "the corpus needs at least 30 runbooks of its own"
    );
    let mut table = String::new();
    let mut wrong = Vec::new();
    for file in &files {
        let s = Scratch::new();
        let doc = runbook::document::parse_file(file).ok();
        let c = check(&s, file);
        let r = dry_run(&s, file, doc.as_ref());
        let rel = file.strip_prefix(repo()).unwrap_or(file).display();
        table.push_str(&format!("{:>3} {:>3}  {rel}\n", c.code, r.code));
        assert!(c.code == 0 || c.code == 2, "{rel}: check exit {}", c.code);
        let accepted = c.code == 0;
        if accepted != (r.code != 2) {
            wrong.push(format!(
                "{rel}: check {} but run --dry-run {}\n--- check\n{}--- run\n{}",
                c.code, r.code, c.stderr, r.stderr
            ));
            continue;
        }
        if !accepted {
            assert_eq!(
                r.stderr.trim_end(),
                diagnostics_of(&c),
                "{rel}: run and check print different diagnostics"
            );
        }
        let under = |d: &str| file.starts_with(repo().join("tests/runbooks").join(d));
        if under("ok") {
            assert_eq!(c.code, 0, "{rel} should be accepted:\n{}", c.stderr);
        }
        if under("broken") {
            assert_eq!(c.code, 2, "{rel} should be refused:\n{}", c.stderr);
        }
    }
    println!("check run  file\n{table}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A runbook whose first step leaves a marker file, so a test can tell that
/// `run` refused it before any step ran.
fn refused_before_any_step(text: &str, expected: &str) {
    let s = Test::new()
        .file("rb.md", text)
        .args(["check", "rb.md"])
        .status(2)
        .stderr(format!(
            "{expected}\n\n1 file checked: 1 error, 0 warnings\n"
        ))
        .run();
    s.test()
        .args(["run", "rb.md", "--yes"])
        .status(2)
        .stderr(format!("{expected}\n"))
        .run();
    assert!(!s.path("marker").exists(), "a step ran before the refusal");
}

const MARKER_STEP: &str = "```bash {name=prepare}\ntouch marker\n```\n";

#[test]
fn python_step_with_host() {
    refused_before_any_step(
        &format!(
            "---\nhosts:\n  app1: {{ ssh: \"ops@127.0.0.1\" }}\n---\n\n{MARKER_STEP}\n```python {{name=inspect host=app1}}\nprint(1)\n```\n"
        ),
        "\
error: step `inspect`: only shell steps can run on a host (this one is `python`)
  --> rb.md:10:25
   |
10 | ```python {name=inspect host=app1}
   |                         ^^^^^^^^^",
    );
}

#[test]
fn malformed_http_block() {
    refused_before_any_step(
        &format!(
            "---\nparams:\n  base: {{ default: \"http://127.0.0.1:9\" }}\n---\n\n{MARKER_STEP}\n```http {{name=flush}}\nFLUSH {{{{ params.base }}}}/cache\nContent-Type: application/json\n```\n"
        ),
        "\
error: step `flush`: invalid HTTP request: unknown method `FLUSH` (expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, TRACE, CONNECT)
  --> rb.md:11:1
   |
11 | FLUSH {{ params.base }}/cache
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    );
}

#[test]
fn unknown_filter() {
    refused_before_any_step(
        &format!(
            "---\nparams:\n  service: {{ default: checkout }}\n---\n\n{MARKER_STEP}\n```bash {{name=announce}}\necho \"{{{{ params.service | capitalise }}}} is down\"\n```\n"
        ),
        "\
error: unknown filter `capitalise`: the template environment has no such filter
  --> rb.md:11:27
   |
11 | echo \"{{ params.service | capitalise }} is down\"
   |                           ^^^^^^^^^^",
    );
}

#[test]
fn host_key_checking_sometimes() {
    refused_before_any_step(
        &format!(
            "---\nhosts:\n  batch: {{ ssh: \"ops@127.0.0.1\", host_key_checking: sometimes }}\n---\n\n{MARKER_STEP}\n```bash {{name=rotate host=batch}}\nlogrotate -f /etc/logrotate.conf\n```\n"
        ),
        "\
error: host `batch`: host_key_checking must be `strict`, `accept-new` or `no`, not `sometimes`
 --> rb.md:3:53
  |
3 |   batch: { ssh: \"ops@127.0.0.1\", host_key_checking: sometimes }
  |                                                     ^^^^^^^^^",
    );
}

#[test]
fn secret_with_no_source() {
    refused_before_any_step(
        &format!(
            "---\nsecrets:\n  TOKEN: {{ description: \"registry token\" }}\n---\n\n{MARKER_STEP}\n```bash {{name=login}}\necho {{{{ secrets.TOKEN }}}}\n```\n"
        ),
        "\
error: secret `TOKEN` has no source: give one of `env`, `file`, `command` or `keyring`
 --> rb.md:3:3
  |
3 |   TOKEN: { description: \"registry token\" }
  |   ^^^^^",
    );
}

#[test]
fn host_and_hosts_are_mutually_exclusive() {
    refused_before_any_step(
        &format!(
            "---\nhosts:\n  a: {{ ssh: \"ops@127.0.0.1\" }}\n---\n\n{MARKER_STEP}\n```bash {{name=clear host=a hosts=a}}\nuptime\n```\n"
        ),
        "\
error: step `clear` sets both `host` and `hosts`: use `host` for one machine or `hosts` for several, not both
  --> rb.md:10:28
   |
10 | ```bash {name=clear host=a hosts=a}
   |                            ^^^^^^^",
    );
}

#[test]
fn numeric_choices_accept_a_quoted_default_in_both() {
    let s = Test::new()
        .file(
            "rb.md",
            "---\nparams:\n  size: { choices: [1, 2], default: \"1\" }\n---\n\n```bash {name=show}\necho size={{ params.size }}\n```\n",
        )
        .args(["check", "rb.md"])
        .stderr("1 file checked: 0 errors, 0 warnings\n")
        .run();
    s.test().args(["run", "rb.md", "--yes", "-q"]).run();
    assert!(s.read("rb.annotated.md").contains("size=1"));
}

#[test]
fn secrets_in_requires_pass_check_preconditions_as_they_pass_run() {
    let s = Scratch::new();
    std::fs::create_dir(s.path("tok-s3cr3t")).expect("dir");
    s.write(
        "rb.md",
        "---\nsecrets:\n  TOKEN: { env: RB_GOLDEN_TOKEN }\nrequires:\n  files: [\"tok-{{ secrets.TOKEN }}\"]\n---\n\n```bash {name=ok}\necho ready\n```\n",
    );
    s.test()
        .args(["check", "--preconditions", "rb.md"])
        .env("RB_GOLDEN_TOKEN", "s3cr3t")
        .stderr("1 file checked: 0 errors, 0 warnings\n")
        .run();
    s.test()
        .args(["run", "rb.md", "--yes", "-q"])
        .env("RB_GOLDEN_TOKEN", "s3cr3t")
        .run();
}

#[test]
fn a_failed_precondition_with_a_secret_is_redacted_in_check() {
    let c = Test::new()
        .file(
            "rb.md",
            "---\nsecrets:\n  TOKEN: { env: RB_GOLDEN_TOKEN }\nrequires:\n  files: [\"/nonexistent/{{ secrets.TOKEN }}\"]\n---\n\n```bash {name=ok}\necho ready\n```\n",
        )
        .args(["check", "--preconditions", "rb.md"])
        .env("RB_GOLDEN_TOKEN", "s3cr3t-value")
        .status(3)
        .stderr_contains("[REDACTED:TOKEN]")
        .run();
    assert!(!c.stderr.contains("s3cr3t-value"), "{}", c.story());
}

/// A value in an `sh -c "…"` script the outer shell expands first is
/// refused whatever the value is: `check` sees it, `run` refuses before any
/// step, and a dry run agrees.
#[test]
fn value_in_a_nested_shell_script() {
    let text = format!(
        "---\nparams:\n  x: {{ default: \"hello\" }}\n---\n\n{MARKER_STEP}\n```bash {{name=nested}}\nsh -c \"cd $PWD && echo {{{{ params.x }}}}\"\n```\n"
    );
    let expected = "\
error: template error in step `nested`: a value in the script run by `sh -c` cannot be proven safe: the outer shell expands `$` or `` ` `` in that script first; pass the value as an argument (`sh -c '… \"$1\"' sh VALUE`) or through env=
  --> rb.md:11:1
   |
11 | sh -c \"cd $PWD && echo {{ params.x }}\"
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^";
    refused_before_any_step(&text, expected);
    let s = Test::new()
        .file("rb.md", &text)
        .args(["run", "rb.md", "--yes", "--dry-run"])
        .status(2)
        .stderr(format!("{expected}\n"))
        .run();
    assert!(!s.path("marker").exists());
}

/// An arithmetic context needs an integer: that depends on the value, so
/// `check` accepts the runbook and `run` refuses only a non-integer.
#[test]
fn value_in_arithmetic_is_checked_at_run_time() {
    let s = Test::new()
        .file(
            "rb.md",
            "---\nparams:\n  n: { default: 1 }\n---\n\n```bash {name=count}\necho $(( {{ params.n }} + 1 ))\n```\n",
        )
        .args(["check", "rb.md"])
        .run();
    s.test().args(["run", "rb.md", "--yes", "-p", "n=41"]).run();
    s.test()
        .args(["run", "rb.md", "--yes", "-p", "n=1;id"])
        .status(2)
        .stderr_contains("must be an integer literal")
        .run();
}
