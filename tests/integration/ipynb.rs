//! The run as a Jupyter notebook (`--format ipynb`): it validates against
//! nbformat's own schema (Python `nbformat`), renders with `jupyter
//! nbconvert --to html`, keeps the runbook's prose and order, counts
//! executions in run order, and never carries a secret.

use crate::common::test::{Output, Test};
use serde_json::Value;
use std::process::Command;

const RUNBOOK: &str = r#"---
title: Notebook export
secrets:
  TOKEN: { env: NB_TOKEN }
---

# Check the service

Some **prose** before the first step.

```bash {name=hello}
echo "hello from bash"
echo "token is $TOKEN" >&2
```

A skipped step:

```bash {name=never when="false"}
echo never
```

```python {name=py confirm="Run the python step?"}
print("from python", 6 * 7)
```

```bash {name=fails allow_failure}
echo "about to fail"; exit 3
```

Closing words.
"#;

const SECRET: &str = "s3cr3t-notebook-value";

/// Python with nbformat (the venv `ci/test.sh` makes); `None` skips
/// outside CI.
pub(crate) fn python() -> Option<String> {
    let ok = Command::new("python3")
        .args(["-c", "import nbformat, nbconvert"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "python3 with nbformat and nbconvert is required in CI (bash ci/test.sh installs them)"
            );
        }
        eprintln!("skipping: python3 with nbformat/nbconvert not found");
        return None;
    }
    Some("python3".into())
}

fn run(extra: &[&str]) -> (Output, Value) {
    let out = Test::new()
        .file("nb.md", RUNBOOK)
        .env("NB_TOKEN", SECRET)
        .args([
            "run",
            "nb.md",
            "--yes",
            "--report-dir",
            "r",
            "--format",
            "md,ipynb",
        ])
        .args(extra)
        .status(0)
        .run();
    let text = out.read("r/nb.ipynb");
    assert!(!text.contains(SECRET), "secret in the notebook:\n{text}");
    (out, serde_json::from_str(&text).expect("notebook JSON"))
}

#[test]
fn notebook_keeps_prose_steps_outputs_and_run_order() {
    let (_, nb) = run(&[]);
    assert_eq!(nb["nbformat"], 4);
    let cells = nb["cells"].as_array().unwrap();
    let kinds: Vec<&str> = cells
        .iter()
        .map(|c| c["cell_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "markdown", "markdown", "code", "markdown", "code", "code", "code", "markdown"
        ]
    );
    let source = |i: usize| -> String {
        cells[i]["source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect()
    };
    assert!(source(0).contains("| Runbook run |"), "{}", source(0));
    assert_eq!(
        source(1),
        "# Check the service\n\nSome **prose** before the first step."
    );
    assert_eq!(source(7), "Closing words.");
    let code: Vec<&Value> = cells.iter().filter(|c| c["cell_type"] == "code").collect();
    let counts: Vec<Value> = code.iter().map(|c| c["execution_count"].clone()).collect();
    assert_eq!(
        counts,
        [Value::from(1), Value::Null, Value::from(2), Value::from(3)]
    );
    let status: Vec<&str> = code
        .iter()
        .map(|c| c["metadata"]["runbook"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["ok", "skipped", "ok", "failed_allowed"]);
    let output = |c: &Value| -> String {
        c["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|o| o["text"].as_array().unwrap().iter())
            .map(|l| l.as_str().unwrap())
            .collect()
    };
    assert_eq!(
        output(code[0]),
        "hello from bash\ntoken is [REDACTED:TOKEN]\n"
    );
    assert_eq!(output(code[2]), "from python 42\n");
    assert_eq!(code[3]["metadata"]["runbook"]["exit_code"], 3);
    assert_eq!(
        code[2]["metadata"]["runbook"]["gate"]["decision"],
        "approved (--yes)"
    );
    assert!(code.iter().all(|c| c["metadata"].get("tags").is_none()));
}

#[test]
fn notebook_validates_with_nbformat_and_renders_with_nbconvert() {
    let Some(py) = python() else { return };
    let (out, _) = run(&["--html-hide-code"]);
    let path = out.path("r/nb.ipynb");
    let check = Command::new(&py)
        .arg("-c")
        .arg(
            "import sys, nbformat\n\
             nb = nbformat.read(sys.argv[1], as_version=4)\n\
             nbformat.validate(nb)\n\
             tags = [c.metadata.get('tags') for c in nb.cells if c.cell_type == 'code']\n\
             assert all(t == ['hide-input'] for t in tags), tags\n\
             print('valid', len(nb.cells))",
        )
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nbformat:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout), "valid 8\n");
    let html_dir = out.path("html");
    let convert = Command::new(&py)
        .args(["-m", "nbconvert", "--to", "html", "--output-dir"])
        .arg(&html_dir)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        convert.status.success(),
        "nbconvert:\n{}",
        String::from_utf8_lossy(&convert.stderr)
    );
    let html = std::fs::read_to_string(html_dir.join("nb.html")).unwrap();
    assert!(html.contains("from python 42"));
    assert!(html.contains("Check the service"));
    assert!(!html.contains(SECRET));
}
