//! Notebooks in (issue 13 item 3): `runbook import` of three realistic
//! notebooks (bash magics, papermill parameters, plain Python) gives
//! runbooks that pass `check`, run, and export back (`--format ipynb`) to a
//! notebook nbformat validates, with the same code cells plus outputs.
//! Bad notebooks and a planted output file are refused with exact errors.

use crate::common::test::Test;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/notebooks")
        .join(name);
    std::fs::read_to_string(path).expect("notebook fixture")
}

fn cell_source(c: &Value) -> String {
    match &c["source"] {
        Value::String(s) => s.clone(),
        Value::Array(l) => l.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// import → check → run → export, and the export validated by nbformat.
fn round_trip(name: &str, expected_steps: &[&str]) -> (String, Value) {
    let t = Test::new()
        .file("nb.ipynb", &fixture(name))
        .args(["import", "nb.ipynb", "-o", "rb.md"])
        .stderr_contains("wrote rb.md")
        .run();
    let runbook = t.read("rb.md");
    t.test()
        .args(["check", "rb.md"])
        .stderr_contains("0 errors")
        .run();
    let out = t
        .test()
        .args([
            "run",
            "rb.md",
            "--yes",
            "--report-dir",
            "r",
            "--format",
            "md,ipynb",
        ])
        .run();
    let text = out.read("r/rb.ipynb");
    let nb: Value = serde_json::from_str(&text).expect("notebook JSON");
    let code: Vec<&Value> = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .collect();
    let names: Vec<&str> = code
        .iter()
        .map(|c| c["metadata"]["runbook"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected_steps, "{runbook}");
    for c in &code {
        assert_eq!(c["metadata"]["runbook"]["status"], "ok", "{c}");
        assert!(
            !c["outputs"].as_array().unwrap().is_empty() || cell_source(c).contains("hosts ="),
            "{c}"
        );
    }
    // The source notebook's prose comes back as Markdown cells.
    let original: Value = serde_json::from_str(&fixture(name)).unwrap();
    for cell in original["cells"].as_array().unwrap() {
        if cell["cell_type"] == "markdown" {
            let prose = cell_source(cell);
            assert!(
                nb["cells"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| cell_source(c).contains(&prose)),
                "lost prose {prose:?}"
            );
        }
    }
    if let Some(py) = crate::ipynb::python() {
        let check = Command::new(py)
            .args(["-c", "import nbformat, sys\nnb = nbformat.read(sys.argv[1], as_version=4)\nnbformat.validate(nb)"])
            .arg(out.path("r/rb.ipynb"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    (runbook, nb)
}

#[test]
fn bash_magics_notebook_round_trips() {
    let (runbook, nb) = round_trip(
        "bash-magics.ipynb",
        &["check-free-space", "largest-directories", "bash-5"],
    );
    assert!(
        runbook.contains("```bash {name=check-free-space}\ndf -P /"),
        "{runbook}"
    );
    assert!(
        runbook.contains("```sh {name=largest-directories hide_code}\n"),
        "{runbook}"
    );
    assert!(
        runbook.contains("```bash {name=bash-5}\necho kernel says hi\nuname -s\n```"),
        "{runbook}"
    );
    // Outputs of the source notebook are dropped; the run's own come back.
    assert!(!runbook.contains("used: 42%"), "{runbook}");
    let hidden = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metadata"]["runbook"]["name"] == "largest-directories")
        .unwrap();
    assert_eq!(
        hidden["metadata"]["tags"],
        serde_json::json!(["hide-input"])
    );
}

#[test]
fn papermill_parameters_become_params_with_defaults() {
    let out = Test::new()
        .file("nb.ipynb", &fixture("papermill.ipynb"))
        .args(["import", "nb.ipynb"])
        .stderr("warning: nb.ipynb: cell 2 (parameters), line 7: `hosts = [\"web-1\", \"web-2\"]  # not a simple value` is not a simple `name = value` (str, int, float, bool or None): kept as code, not a param\n")
        .run();
    assert!(
        out.stdout.starts_with(
            "---\nparams:\n  service: {default: \"api\"}\n  threshold_seconds: {default: 0.5}\n  retries: {default: 3}\n  verbose: {default: true}\n  ticket: {}\n---\n\n# Latency triage\n"
        ),
        "{}",
        out.stdout
    );
    let (_, nb) = round_trip(
        "papermill.ipynb",
        &["latency-triage", "show-the-settings", "pape-4"],
    );
    let text = nb.to_string();
    assert!(text.contains("service is api"), "{text}");
}

#[test]
fn python_notebook_round_trips() {
    let (runbook, nb) = round_trip("python.ipynb", &["compute", "pyth-3"]);
    assert!(runbook.contains("````python {name=pyth-3}\n"), "{runbook}");
    assert!(nb.to_string().contains("budget left: 580 requests"));
}

#[test]
fn bad_notebooks_are_refused_with_their_position() {
    for (text, expected) in [
        (
            "{\n  \"cells\": [\n}",
            "error: nb.ipynb:3:1: not a notebook (invalid JSON): expected value\n",
        ),
        (
            r#"{"nbformat": 3, "worksheets": []}"#,
            "error: nb.ipynb: nbformat 3 is not supported: runbook imports nbformat 4 notebooks (convert with `jupyter nbconvert --to notebook --nbformat 4`)\n",
        ),
        (
            r#"{"cells": []}"#,
            "error: nb.ipynb: not a Jupyter notebook: no `nbformat` number at the top level\n",
        ),
        (
            r#"{"nbformat": 4}"#,
            "error: nb.ipynb: not a Jupyter notebook: no `cells` list\n",
        ),
    ] {
        Test::new()
            .file("nb.ipynb", text)
            .args(["import", "nb.ipynb", "-o", "rb.md"])
            .status(2)
            .stderr(expected)
            .run();
    }
}

#[test]
fn output_is_never_overwritten_or_followed_through_a_symlink() {
    let t = Test::new()
        .file("nb.ipynb", &fixture("python.ipynb"))
        .file("victim.md", "mine\n")
        .file("rb.md", "someone's runbook\n");
    std::os::unix::fs::symlink(t.path("victim.md"), t.path("link.md")).unwrap();
    let out = t
        .args(["import", "nb.ipynb", "-o", "rb.md"])
        .status(2)
        .stderr("error: rb.md already exists (use --force to overwrite)\n")
        .run();
    assert_eq!(out.read("rb.md"), "someone's runbook\n");
    let out = out
        .test()
        .args(["import", "nb.ipynb", "-o", "link.md", "--force"])
        .status(2)
        .run();
    assert_eq!(out.read("victim.md"), "mine\n");
    let out = out
        .test()
        .args(["import", "nb.ipynb", "-o", "rb.md", "--force"])
        .run();
    assert!(out.read("rb.md").starts_with("# Error budget"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.path("rb.md"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A notebook whose Markdown shows commands as examples (Jupyter never
/// runs them) and opens with a `---` rule.
fn examples_notebook() -> String {
    let md = "---\n# Cleanup\n\nNever run this as is:\n\n```bash\ntouch example-ran\n```\n\n- or, in a list:\n\n  ```sh {name=x}\n  touch list-example-ran\n  ```\n\n> ~~~bash {\"name\":\"y\"}\n> touch quoted-example-ran\n> ~~~\n\n```json\n{}\n```\n";
    serde_json::json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "bash", "language": "bash", "display_name": "Bash"}},
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": {}, "source": md},
            {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": null, "outputs": [],
             "source": "touch the-cell-ran"}
        ]
    })
    .to_string()
}

#[test]
fn examples_in_markdown_cells_stay_examples() {
    let t = Test::new().file("nb.ipynb", &examples_notebook());
    let w = |line: usize, lang: &str| {
        format!(
            "warning: nb.ipynb: cell 1: the `{lang}` block on line {line} of this Markdown cell is an example (Jupyter never ran it): imported with `skip`, so it never runs\n"
        )
    };
    let out = t
        .args(["import", "nb.ipynb", "-o", "rb.md"])
        .stderr(format!(
            "{}{}{}wrote rb.md\n",
            w(6, "bash"),
            w(12, "sh"),
            w(16, "bash")
        ))
        .run();
    let rb = out.read("rb.md");
    // Shown as written, with `skip` added; the `---` rule stays a rule.
    assert!(rb.starts_with("---\n---\n\n---\n# Cleanup\n"), "{rb}");
    assert!(
        rb.contains("\n```bash {skip}\ntouch example-ran\n```\n"),
        "{rb}"
    );
    assert!(rb.contains("\n  ```sh {name=x skip}\n"), "{rb}");
    assert!(
        rb.contains("\n> ~~~bash {\"skip\":\"true\",\"name\":\"y\"}\n"),
        "{rb}"
    );
    let out = out.test().args(["check", "rb.md"]).run();
    let out = out
        .test()
        .args(["run", "rb.md", "--yes", "-q", "-o", "out.md"])
        .run();
    assert!(out.path("the-cell-ran").exists());
    for f in ["example-ran", "list-example-ran", "quoted-example-ran"] {
        assert!(!out.path(f).exists(), "{f} ran");
    }
}
