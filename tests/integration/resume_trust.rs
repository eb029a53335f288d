//! `--resume` knows what it can trust (issue 12 item 5): a saved copy that
//! no longer verifies, or a step that already ran whose source changed,
//! refuses the resume (exit 2, naming the line or step); prose and steps
//! not run yet may change; `--resume --force` goes on and the record says so.

use crate::common::{Scratch, block_of};

/// Three steps; `b` fails until the file `fixed` exists.
const RUNBOOK: &str = "# Deploy\n\nSome prose.\n\n\
```bash {name=a}\necho a | tee -a ran-a\n```\n\n\
```bash {name=b}\ntest -e fixed\necho b\n```\n\n\
```bash {name=c}\necho c\n```\n";

/// `runbook.md` run once: `a` ok, `b` failed, `c` not run.
fn failed_once() -> Scratch {
    let s = Scratch::new();
    s.write("runbook.md", RUNBOOK);
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--report-dir", "rep", "--format", "json"])
        .status(1)
        .run();
    s.write("fixed", "");
    s
}

fn resume(s: &Scratch, extra: &[&str]) -> crate::common::Test {
    s.test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-q",
            "-o",
            "copy.md",
            "--resume",
        ])
        .args(["--report-dir", "rep", "--format", "json"])
        .args(extra)
}

const HINT: &str = "run it again without --resume, or continue anyway with --resume --force (the record says so)\n";

#[test]
fn a_tampered_copy_refuses_the_resume() {
    let s = failed_once();
    let copy = s.read("copy.md");
    let line = copy
        .lines()
        .position(|l| l.contains(" step=a "))
        .expect("block a")
        + 1;
    s.write("copy.md", &copy.replacen("\na\n", "\nA\n", 1));
    resume(&s, &[]).status(2).stderr(format!(
        "error: --resume: the saved run cannot be trusted, so its results are not reused:\n  \
         - the saved copy copy.md does not verify: line {line}, step a: output edited: its output block was edited\n{HINT}"
    )).run();
    assert_eq!(s.read("ran-a"), "a\n", "nothing ran");
}

#[test]
fn an_executed_step_whose_source_changed_refuses_naming_it() {
    let s = failed_once();
    let edited = RUNBOOK.replace("echo a | tee -a ran-a", "echo A | tee -a ran-a");
    s.write("runbook.md", &edited);
    resume(&s, &[])
        .status(2)
        .stderr(format!(
            "error: --resume: the saved run cannot be trusted, so its results are not reused:\n  \
         - step `a` (line 5) already ran (ok), and its source changed since\n{HINT}"
        ))
        .run();
    // A step that ran and was removed.
    let removed = RUNBOOK.replace("```bash {name=a}\necho a | tee -a ran-a\n```\n\n", "");
    s.write("runbook.md", &removed);
    resume(&s, &[])
        .status(2)
        .stderr(format!(
            "error: --resume: the saved run cannot be trusted, so its results are not reused:\n  \
         - step `a` already ran (ok) but is no longer in runbook.md\n{HINT}"
        ))
        .run();
}

#[test]
fn prose_the_failed_step_and_later_steps_may_change() {
    let s = failed_once();
    let edited = RUNBOOK
        .replace("Some prose.", "Better prose, after the incident.")
        .replace("test -e fixed\necho b", "test -e fixed\necho b-fixed")
        .replace("echo c", "echo c-edited");
    s.write("runbook.md", &edited);
    resume(&s, &[]).run();
    let copy = s.read("copy.md");
    assert_eq!(s.read("ran-a"), "a\n", "a was not run again");
    assert!(block_of(&copy, "b").contains("b-fixed"), "{copy}");
    assert!(block_of(&copy, "c").contains("c-edited"), "{copy}");
    assert!(!copy.contains("| Resume |"), "{copy}");
    s.test()
        .args(["verify", "copy.md", "--source", "runbook.md"])
        .stdout_contains("verified: copy.md: 3 steps, ok")
        .run();
}

#[test]
fn force_continues_and_the_record_says_so() {
    let s = failed_once();
    let edited = RUNBOOK.replace("echo a | tee -a ran-a", "echo A | tee -a ran-a");
    s.write("runbook.md", &edited);
    resume(&s, &["--force"]).run();
    assert_eq!(s.read("ran-a"), "a\n", "a's result was taken over");
    let copy = s.read("copy.md");
    let why = "step `a` (line 5) already ran (ok), and its source changed since";
    assert!(
        copy.contains("| Mode | `--resume`, `--force`, `--yes` |"),
        "{copy}"
    );
    let row = copy
        .lines()
        .find(|l| l.starts_with("| Resume | "))
        .unwrap_or_else(|| panic!("{copy}"));
    assert!(row.contains("forced (--resume --force) by "), "{row}");
    assert!(
        row.contains(&why.replace('`', "\\`")) || row.contains(why),
        "{row}"
    );
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/copy.json")).expect("json");
    assert_eq!(json["resume_forced"]["reasons"][0], why);
    assert!(json["resume_forced"]["operator"].is_string());
    assert!(json["resume_forced"]["at"].is_string());
    crate::signing::assert_schema_valid(&json);
    // The forced copy verifies; a later resume takes the forced sources
    // over, and still says it was forced.
    s.test().args(["verify", "copy.md"]).run();
    resume(&s, &[]).run();
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/copy.json")).expect("json");
    assert_eq!(json["resume_forced"]["reasons"][0], why);
    // --force needs --resume.
    s.test()
        .args(["run", "runbook.md", "--yes", "--force"])
        .status(2)
        .stderr_contains("--resume")
        .run();
}
