//! `runbook check` on real files: every fixture under fixtures/broken/ holds
//! one kind of problem, and the exact diagnostics (position and text) are
//! asserted. Also the directory walk, the exit codes and the three output
//! formats, and that the `runbook init` scaffold checks clean.

use quick_xml::events::Event;
use runbook::cli::commands::check_report::{
    CheckOptions, CheckReport, check_file, check_paths, render_human, render_json, render_junit,
};
use std::path::{Path, PathBuf};

fn shorts(path: &str) -> Vec<String> {
    check_file(Path::new(path))
        .diagnostics
        .iter()
        .map(|d| d.short())
        .collect()
}

#[test]
fn references_to_undefined_or_later_things() {
    assert_eq!(
        shorts("fixtures/broken/references.md"),
        vec![
            "fixtures/broken/references.md:17:42: error: undefined param `region`: not declared under `params:` in the front matter",
            "fixtures/broken/references.md:18:73: error: undefined secret `VAULT`: not declared under `secrets:` in the front matter",
            "fixtures/broken/references.md:19:9: error: step `status` refers to `steps.restart`, which only runs later (line 22)",
            "fixtures/broken/references.md:23:35: error: step `restart` refers to its own result `steps.restart`",
            "fixtures/broken/references.md:24:8: error: undefined host `web1`: not declared under `hosts:` in the front matter",
            "fixtures/broken/references.md:24:25: error: unknown variable `stepz`: templates see params, env, secrets, hosts, run, steps and alert",
            "fixtures/broken/references.md:25:9: error: undefined step `cleanup`: no step is named `cleanup`",
        ]
    );
}

#[test]
fn human_output_shows_the_line_and_a_caret_under_the_reference() {
    let report = check_paths(
        &[PathBuf::from("fixtures/broken/references.md")],
        &CheckOptions::default(),
    );
    let out = render_human(&report, false);
    assert!(
        out.starts_with(
            "\
error: undefined param `region`: not declared under `params:` in the front matter
  --> fixtures/broken/references.md:17:42
   |
17 | systemctl status {{ params.service }} {{ params.region }}
   |                                          ^^^^^^^^^^^^^

error: undefined secret `VAULT`: not declared under `secrets:` in the front matter
  --> fixtures/broken/references.md:18:73
   |
18 | curl -H \"Authorization: Bearer {{ secrets.DEPLOY_TOKEN }}\" https://x/{{ secrets.VAULT }}
   |                                                                         ^^^^^^^^^^^^^

"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("\n\n1 file checked: 7 errors, 0 warnings\n"),
        "{out}"
    );
}

#[test]
fn template_syntax_errors_in_bodies_and_attributes() {
    assert_eq!(
        shorts("fixtures/broken/template-syntax.md"),
        vec![
            "fixtures/broken/template-syntax.md:5:16: error: template syntax error: unexpected end of input, expected end of variable block",
            "fixtures/broken/template-syntax.md:8:41: error: expression syntax error: unexpected end of input, expected expression",
            "fixtures/broken/template-syntax.md:12:28: error: template syntax error: unexpected end of block",
        ]
    );
}

#[test]
fn gates_in_a_pipeline_runbook() {
    assert_eq!(
        shorts("fixtures/broken/gates-in-pipeline.md"),
        vec![
            "fixtures/broken/gates-in-pipeline.md:4:1: error: `confirm: all` gates every step, but the runbook is `interactive: false`: a pipeline cannot answer gates",
            "fixtures/broken/gates-in-pipeline.md:11:21: error: step `purge` has a confirmation gate, but the runbook is `interactive: false`: a pipeline cannot answer gates",
        ]
    );
}

#[test]
fn inconsistent_params() {
    assert_eq!(
        shorts("fixtures/broken/params.md"),
        vec![
            "fixtures/broken/params.md:4:30: warning: param `service` is required and has a default: the default is never used",
            "fixtures/broken/params.md:7:5: error: default `ap-south-1` of param `region` is not one of its choices: eu-west-1, us-east-1",
        ]
    );
}

#[test]
fn parse_errors_are_reported_all_at_once() {
    assert_eq!(
        shorts("fixtures/broken/attributes.md"),
        vec![
            "fixtures/broken/attributes.md:3:17: error: unknown attribute `tiemout` (did you mean `timeout`?)",
            "fixtures/broken/attributes.md:7:25: error: invalid value `many` for `retries`: expected a whole number, e.g. 3",
            "fixtures/broken/attributes.md:15:10: error: duplicate step name `c` (first used on line 11)",
        ]
    );
    assert_eq!(
        shorts("fixtures/broken/front-matter.md"),
        vec![
            "fixtures/broken/front-matter.md:3:1: error: front matter: unknown key `paramz` (did you mean `params`?)",
            // The body is still checked: with `params:` misspelt, `x` is undeclared.
            "fixtures/broken/front-matter.md:8:9: error: undefined param `x`: not declared under `params:` in the front matter",
        ]
    );
}

#[test]
fn hosts_must_be_declared_or_literal() {
    assert_eq!(
        shorts("fixtures/broken/hosts.md"),
        vec![
            "fixtures/broken/hosts.md:4:23: error: host group `web` lists `web9`, which is not declared under `hosts:`",
            "fixtures/broken/hosts.md:7:22: error: unknown host `db2`: not declared under `hosts:` in the front matter and not a `user@host` address",
        ]
    );
}

#[test]
fn warnings_fail_only_with_strict() {
    assert_eq!(
        shorts("fixtures/broken/unclosed.md"),
        vec![
            "fixtures/broken/unclosed.md:7:1: warning: unclosed code fence: the block runs to the end of the document"
        ]
    );
    assert_eq!(
        shorts("fixtures/broken/interpreter.md"),
        vec![
            "fixtures/broken/interpreter.md:3:30: warning: interpreter `runbook-no-such-interpreter` is not found on PATH"
        ]
    );
    let paths = [
        PathBuf::from("fixtures/broken/unclosed.md"),
        PathBuf::from("fixtures/broken/interpreter.md"),
    ];
    let lenient = check_paths(&paths, &CheckOptions::default());
    assert_eq!(lenient.exit_code(), 0);
    assert_eq!(
        render_human(&lenient, false).lines().last(),
        Some("2 files checked: 0 errors, 2 warnings")
    );
    let strict = check_paths(
        &paths,
        &CheckOptions {
            strict: true,
            preconditions: false,
        },
    );
    assert_eq!(strict.exit_code(), 2);
}

#[test]
fn a_directory_is_walked_for_markdown_files() {
    let report = check_paths(
        &[PathBuf::from("fixtures/broken")],
        &CheckOptions::default(),
    );
    let names: Vec<_> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "fixtures/broken/attributes.md",
            "fixtures/broken/front-matter.md",
            "fixtures/broken/gates-in-pipeline.md",
            "fixtures/broken/hosts.md",
            "fixtures/broken/interpreter.md",
            "fixtures/broken/params.md",
            "fixtures/broken/references.md",
            "fixtures/broken/template-syntax.md",
            "fixtures/broken/unclosed.md",
        ]
    );
    assert_eq!(report.exit_code(), 2);
    assert_eq!(
        render_human(&report, false).lines().last(),
        Some("9 files checked: 20 errors, 3 warnings")
    );
}

#[test]
fn hidden_directories_target_and_other_extensions_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    let ok = "# ok\n\n```bash {name=a}\necho ok\n```\n";
    write("a.md", ok);
    write("sub/deeper/b.md", ok);
    write(".git/c.md", "```bash\n{{ broken\n```\n");
    write("target/d.md", "```bash\n{{ broken\n```\n");
    write("sub/notes.txt", "```bash\n{{ broken\n```\n");
    let report = check_paths(&[root.to_path_buf()], &CheckOptions::default());
    let names: Vec<_> = report
        .files
        .iter()
        .map(|f| {
            Path::new(&f.path)
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, vec!["a.md", "sub/deeper/b.md"]);
    assert_eq!(report.files[0].steps, 1);
    assert_eq!(report.exit_code(), 0);
    // Skipped, but never silently.
    let root = root.display();
    assert_eq!(
        render_human(&report, false),
        format!(
            "note: not checked (hidden, `target` or `node_modules` directories; name one to check it): {root}/.git/, {root}/target/\n2 files checked: 0 errors, 0 warnings\n"
        )
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let report = check_paths(
        &[PathBuf::from("fixtures/broken/no-such-runbook.md")],
        &CheckOptions::default(),
    );
    assert_eq!(report.exit_code(), 2);
    assert_eq!(
        render_human(&report, false),
        "error: cannot read fixtures/broken/no-such-runbook.md: No such file or directory (os error 2)\n \
         --> fixtures/broken/no-such-runbook.md\n\n\
         1 file checked: 1 error, 0 warnings\n"
    );
}

#[test]
fn positions_account_for_list_containers_and_crlf() {
    let crlf = runbook::cli::commands::check_report::check_text(
        Path::new("p.md"),
        "# T\r\n\r\n- item\r\n\r\n  ```bash {name=a}\r\n  echo {{ params.nope }}\r\n  ```\r\n",
    );
    assert_eq!(
        crlf.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec![
            "error: undefined param `nope`: not declared under `params:` in the front matter\n \
             --> p.md:6:11\n  |\n6 |   echo {{ params.nope }}\n  |           ^^^^^^^^^^^"
        ]
    );
    let list = runbook::cli::commands::check_report::check_text(
        Path::new("p.md"),
        "1. step one\n\n   ```bash {name=a env=\"X={{secrets.S}}\"}\n   echo ok\n   echo {{ steps.zz.stdout }}\n   ```\n",
    );
    assert_eq!(
        list.diagnostics
            .iter()
            .map(|d| d.short())
            .collect::<Vec<_>>(),
        vec![
            "p.md:3:29: error: undefined secret `S`: not declared under `secrets:` in the front matter",
            "p.md:5:12: error: undefined step `zz`: no step is named `zz`",
        ]
    );
}

/// The runbook from the design brief: declared params, secrets, hosts,
/// preconditions with templates, steps referring to earlier steps.
const DESIGN_EXAMPLE: &str = r#"---
title: P90 latency spike on my_service
owner: team-sre
params:
  prometheus_url: { default: "http://localhost:9090", description: "Prometheus base URL" }
  service: { required: true, choices: [api, worker] }
secrets:
  DEPLOY_TOKEN: { env: DEPLOY_TOKEN }
requires:
  commands: [jq]
  env: [AWS_REGION]
  http: ["{{ params.prometheus_url }}/-/ready"]
hosts:
  db1: { ssh: "root@10.0.0.5" }
  object4: { ec2: { instance_id: i-0abc }, user: root }
---

# P90 latency

```http {name=levels capture=json}
GET {{ params.prometheus_url }}/api/v1/query?query=level
```

```bash {name=core confirm="Delete the core file on object4?" host=object4 timeout=30s when="steps.levels.status == 'ok'"}
ls -la /var/crash && rm -f /var/crash/core
echo {{ steps.levels.json.data.result | length }} {{ secrets.DEPLOY_TOKEN | raw }} {{ env.HOME }}
```
"#;

#[test]
fn the_design_example_checks_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("latency.md");
    std::fs::write(&p, DESIGN_EXAMPLE).expect("write");
    let report = check_paths(&[p], &CheckOptions::default());
    assert_eq!(
        render_human(&report, false),
        "1 file checked: 0 errors, 0 warnings\n"
    );
    assert_eq!(report.files[0].steps, 2);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn the_init_scaffold_parses_and_checks_clean() {
    let text = runbook::scaffold::init_runbook("Restart the API");
    let doc = runbook::document::parse("restart-the-api.md", text.clone()).expect("parses");
    assert!(doc.steps.len() >= 2, "{text}");
    assert!(doc.steps.iter().any(|s| s.attrs.confirm.is_some()));
    assert!(doc.steps.iter().any(|s| s.attrs.safe));
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir
        .path()
        .join(runbook::scaffold::init_file_name("Restart the API"));
    std::fs::write(&p, &text).expect("write");
    let report = check_paths(
        &[p],
        &CheckOptions {
            strict: true,
            preconditions: false,
        },
    );
    assert_eq!(
        render_human(&report, false),
        "1 file checked: 0 errors, 0 warnings\n"
    );
}

/// A tiny JUnit reader: (testcase name, failure message, failure text,
/// system-out) for each testcase, plus the root's attributes.
struct Junit {
    root: Vec<(String, String)>,
    cases: Vec<(String, Option<String>, String, String)>,
}

fn read_junit(xml: &str) -> Junit {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Junit {
        root: vec![],
        cases: vec![],
    };
    let mut in_elem = String::new();
    loop {
        let ev = reader.read_event().expect("well-formed XML");
        match ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .expect("value")
                                .into_owned(),
                        )
                    })
                    .collect();
                let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                match name.as_str() {
                    "testsuites" => out.root = attrs.clone(),
                    "testcase" => out.cases.push((
                        get("name").expect("name"),
                        None,
                        String::new(),
                        String::new(),
                    )),
                    "failure" => {
                        if let Some(c) = out.cases.last_mut() {
                            c.1 = get("message");
                        }
                    }
                    _ => {}
                }
                in_elem = name;
            }
            Event::Text(t) => push_text(&mut out, &in_elem, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let s = match r.as_ref() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other:?}"),
                };
                push_text(&mut out, &in_elem, s);
            }
            Event::End(_) => in_elem.clear(),
            _ => {}
        }
    }
    out
}

fn push_text(out: &mut Junit, elem: &str, s: &str) {
    if let Some(c) = out.cases.last_mut() {
        match elem {
            "failure" => c.2.push_str(s),
            "system-out" => c.3.push_str(s),
            _ => {}
        }
    }
}

#[test]
fn junit_has_one_testcase_per_runbook_with_failures_listing_diagnostics() {
    let report = check_paths(
        &[
            PathBuf::from("fixtures/broken/references.md"),
            PathBuf::from("fixtures/broken/unclosed.md"),
        ],
        &CheckOptions::default(),
    );
    let xml = render_junit(&report);
    let j = read_junit(&xml);
    assert!(j.root.contains(&("tests".into(), "2".into())), "{xml}");
    assert!(j.root.contains(&("failures".into(), "1".into())), "{xml}");
    assert_eq!(j.cases.len(), 2);
    let (name, message, text, _) = &j.cases[0];
    assert_eq!(name, "fixtures/broken/references.md");
    assert_eq!(
        message.as_deref(),
        Some(
            "7 errors, 0 warnings: fixtures/broken/references.md:17:42: error: undefined param `region`: not declared under `params:` in the front matter"
        )
    );
    assert_eq!(text.matches("error: ").count(), 7, "{text}");
    assert!(
        text.contains(
            "24 | ssh {{ hosts.web1 }} {{ stepz.status.stdout }}\n   |        ^^^^^^^^^^"
        ),
        "{text}"
    );
    // Warnings alone do not fail the testcase; they are kept as output.
    let (name, message, _, out) = &j.cases[1];
    assert_eq!(name, "fixtures/broken/unclosed.md");
    assert_eq!(message, &None);
    assert!(out.starts_with("warning: unclosed code fence"), "{out}");
}

#[test]
fn json_lists_every_diagnostic_with_its_position() {
    let report: CheckReport = check_paths(
        &[PathBuf::from("fixtures/broken/params.md")],
        &CheckOptions::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&render_json(&report)).expect("json");
    assert_eq!(
        v,
        serde_json::json!({
            "files": [{
                "path": "fixtures/broken/params.md",
                "steps": 1,
                "diagnostics": [
                    {
                        "severity": "warning",
                        "message": "param `service` is required and has a default: the default is never used",
                        "path": "fixtures/broken/params.md",
                        "line": 4, "col": 30, "width": 7,
                        "source_line": "  service: { required: true, default: api }"
                    },
                    {
                        "severity": "error",
                        "message": "default `ap-south-1` of param `region` is not one of its choices: eu-west-1, us-east-1",
                        "path": "fixtures/broken/params.md",
                        "line": 7, "col": 5, "width": 7,
                        "source_line": "    default: ap-south-1"
                    }
                ]
            }],
            "errors": 1,
            "warnings": 1,
            "strict": false,
            "skipped": [],
            "ok": false
        })
    );
}

mod never_panics {
    use proptest::prelude::*;
    use std::path::Path;

    /// Markdown-ish fragments that stress the checker: fences in containers,
    /// templates cut in half, multi-byte characters next to references.
    fn fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "---\n",
            "params:\n  a: { default: 1, choices: [2] }\n",
            "hosts:\n  h: { group: [x] }\n",
            "interactive: false\n",
            "```bash {name=a}\n",
            "```bash {name=b when=\"steps.a.exit_code ==\" host=zz}\n",
            "> ```sh {confirm}\n> echo {{ params.é }}\n",
            "- ```bash {cwd=\"{% if %}\"}\n  echo ünï {{ steps.b.stdout\n",
            "```\n",
            "echo {{ params.a }} {{ secrets.S }} {{ hosts.h }} {{ nope }}\n",
            "{% for x in steps.a.json %}{{ x }}{% endfor %}\n",
            "\r\n",
            "é",
            "{{",
            "}}",
            "~~~python {interpreter=\"/no/such\"}\n",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn check_text_never_panics(parts in prop::collection::vec(fragment(), 0..24)) {
            let text: String = parts.concat();
            let report = runbook::cli::commands::check_report::check_text(Path::new("fuzz.md"), &text);
            for d in &report.diagnostics {
                prop_assert!(d.line >= 1 && d.col >= 1);
                let _ = d.to_string();
            }
        }
    }
}
