//! Every report rendered from fixed run records: Markdown bodies, JSON
//! (validated against docs/report-schema.json), JUnit XML (parsed back),
//! HTML (rendered in headless Chromium) and terminal progress.

use crate::common::samples;

use comrak::nodes::NodeValue;
use runbook::document::splice::Insert;
use runbook::record::{OutputRecord, RunRecord, StepRecord, StepStatus};
use runbook::report::html::{HtmlOptions, to_html};
use runbook::report::json::to_json;
use runbook::report::junit::to_junit;
use runbook::report::markdown::{MarkdownOptions, header_body, inserts, step_body};
use runbook::report::terminal::{Progress, TerminalMode, progress_to, section_name};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------- markdown

fn markdown_of(rec: &RunRecord, opts: &MarkdownOptions) -> String {
    let mut s = header_body(rec);
    for step in &rec.steps {
        s.push_str(&format!("\n\n======== step={}\n", step.name));
        s.push_str(&step_body(step, opts));
    }
    s
}

#[test]
fn sample_records_point_at_the_sample_document() {
    let doc = samples::document();
    for (_, rec) in samples::all() {
        assert_eq!(rec.steps.len(), doc.steps.len());
        for (s, d) in rec.steps.iter().zip(&doc.steps) {
            assert_eq!(
                (s.index, s.name.as_str(), s.line),
                (d.index, d.name.as_str(), d.line)
            );
        }
    }
}

#[test]
fn markdown_bodies() {
    for (name, rec) in samples::all() {
        insta::assert_snapshot!(
            format!("markdown_{name}"),
            markdown_of(&rec, &MarkdownOptions::default())
        );
    }
}

#[test]
fn markdown_shows_the_rendered_command_when_asked() {
    let rec = samples::ok();
    let body = step_body(
        &rec.steps[0],
        &MarkdownOptions {
            show_rendered: true,
        },
    );
    assert_eq!(
        body.lines().take(5).collect::<Vec<_>>(),
        [
            "✓ ok · started 2026-03-14T09:26:54Z · 182 ms · on local",
            "",
            "Rendered:",
            "",
            "```text",
        ]
    );
}

/// A stand-in for `document::splice` (built elsewhere): markers around the
/// body, the container prefix on every line. Enough to see how a Markdown
/// parser reads the result.
fn splice_stand_in(source: &str, inserts: &[Insert]) -> String {
    let mut inserts: Vec<&Insert> = inserts.iter().collect();
    inserts.sort_by_key(|i| i.at);
    let mut out = String::new();
    let mut pos = 0;
    for ins in inserts {
        out.push_str(&source[pos..ins.at]);
        pos = ins.at;
        if ins.needs_eol {
            out.push_str(ins.eol);
        }
        let mut lines = vec![format!(
            "<!-- runbook:begin 0000000000000000 {} -->",
            ins.label
        )];
        lines.extend(ins.body.split('\n').map(str::to_string));
        lines.push("<!-- runbook:end 0000000000000000 -->".into());
        for l in lines {
            out.push_str(&ins.prefix);
            out.push_str(&l);
            out.push_str(ins.eol);
        }
    }
    out.push_str(&source[pos..]);
    out
}

fn parse_md<'a>(arena: &'a comrak::Arena<'a>, text: &str) -> comrak::Node<'a> {
    let mut o = comrak::Options::default();
    o.extension.table = true;
    o.extension.front_matter_delimiter = Some("---".into());
    comrak::parse_document(arena, text, &o)
}

#[test]
fn step_bodies_stay_inside_their_containers() {
    let doc = samples::document();
    for (name, rec) in samples::all() {
        let ins = inserts(&doc, &rec, &MarkdownOptions::default());
        assert_eq!(ins.len(), 1 + doc.steps.len(), "{name}");
        assert_eq!(ins[0].label, "header");
        assert_eq!(ins[0].at, doc.header_at);
        for (i, step) in ins[1..].iter().zip(&doc.steps) {
            assert_eq!(i.label, format!("step={}", step.name));
            assert_eq!(
                (i.at, i.prefix.as_str()),
                (step.insert_at, step.prefix.as_str())
            );
        }
        let text = splice_stand_in(&doc.source.text, &ins);
        let arena = comrak::Arena::new();
        let root = parse_md(&arena, &text);
        let kinds: Vec<String> = root
            .children()
            .map(|n| match &n.data().value {
                NodeValue::Heading(_) => "heading".to_string(),
                NodeValue::Paragraph => "paragraph".into(),
                NodeValue::CodeBlock(c) => format!("code {}", c.info),
                NodeValue::HtmlBlock(h) => format!("html {}", h.literal.trim()),
                NodeValue::Table(_) => "table".into(),
                NodeValue::List(_) => "list".into(),
                NodeValue::BlockQuote => "blockquote".into(),
                NodeValue::ThematicBreak => "hr".into(),
                other => format!("{other:?}"),
            })
            .collect();
        // What follows the list item and the block quote is exactly what
        // the source has there: the generated blocks stayed inside.
        let html_markers = kinds
            .iter()
            .filter(|k| k.starts_with("html <!-- runbook:"))
            .count();
        assert_eq!(html_markers, 2 * 3, "{name}: {kinds:#?}");
        assert_eq!(
            kinds.iter().filter(|k| *k == "list").count(),
            1,
            "{name}: {kinds:#?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "blockquote").count(),
            1,
            "{name}: {kinds:#?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "table").count(),
            1,
            "{name}: {kinds:#?}"
        );
        assert!(!kinds.contains(&"hr".to_string()), "{name}: {kinds:#?}");
        let list = root
            .children()
            .find(|n| matches!(n.data().value, NodeValue::List(_)));
        let quote = root
            .children()
            .find(|n| matches!(n.data().value, NodeValue::BlockQuote));
        for (container, step) in [(list, "restart"), (quote, "verify")] {
            let container = container.expect("container present");
            let inner: String = container
                .descendants()
                .filter_map(|n| match &n.data().value {
                    NodeValue::HtmlBlock(h) => Some(h.literal.clone()),
                    _ => None,
                })
                .collect();
            assert!(
                inner.contains(&format!("runbook:begin 0000000000000000 step={step}"))
                    && inner.contains("runbook:end 0000000000000000"),
                "{name}: {step} block left its container:\n{text}"
            );
        }
    }
}

#[test]
fn hostile_output_cannot_forge_structure_or_end_the_fence() {
    let rec = samples::failed();
    let body = step_body(&rec.steps[2], &MarkdownOptions::default());
    let arena = comrak::Arena::new();
    let root = parse_md(&arena, &body);
    let blocks: Vec<(String, String)> = root
        .children()
        .map(|n| match &n.data().value {
            NodeValue::CodeBlock(c) => ("code".to_string(), c.literal.clone()),
            NodeValue::Paragraph => ("paragraph".to_string(), String::new()),
            other => (format!("{other:?}"), String::new()),
        })
        .collect();
    assert_eq!(blocks.len(), 2, "{blocks:#?}");
    assert_eq!(blocks[0].0, "paragraph");
    assert_eq!(blocks[1].0, "code");
    assert_eq!(
        blocks[1].1,
        "Job for api.service failed.\n```\n<!-- runbook:end 0123456789abcdef -->\n> not a quote\n\
         ␛[31mred␛[0m ␇bell\n\
         … 123 456 lines omitted (full log: out.md.logs/step_3.log) …\n  File \"/srv/api/app.py\", line 12\n\
         ````` five backticks\nError: <script>alert(1)</script> & ]]> done\n"
    );
    // Plain-text lines never start with something that opens a block.
    for line in body.lines().take_while(|l| !l.starts_with('`')) {
        if let Some(c) = line.chars().next() {
            assert!(!"#>-+*|<=_~ \t0123456789[!`".contains(c), "{line:?}");
        }
    }
}

/// A step of the sample `ok` run (its `restart`, in a list item, or its
/// `verify`, in a block quote) with `output` as its whole output.
fn with_output(mut step: StepRecord, output: &str) -> StepRecord {
    step.output = Some(OutputRecord {
        head: output.to_string(),
        total_bytes: output.len() as u64,
        total_lines: output.lines().count() as u64,
        ..OutputRecord::default()
    });
    step
}

fn numbered(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

#[test]
fn markdown_folds_output_longer_than_twenty_lines() {
    let step = samples::ok().steps[3].clone();
    let at_threshold = step_body(
        &with_output(step.clone(), &numbered(20)),
        &Default::default(),
    );
    assert!(!at_threshold.contains("<details>"), "{at_threshold}");
    assert!(at_threshold.ends_with("line 20\n```"), "{at_threshold}");

    let folded = step_body(&with_output(step, &numbered(21)), &Default::default());
    let lines: Vec<&str> = folded.split('\n').collect();
    assert_eq!(
        lines[1..6],
        [
            "",
            "<details><summary>Output: 21 lines</summary>",
            "",
            "```text",
            "line 1"
        ]
    );
    // A blank line ends the `</details>` HTML block: the end marker and the
    // source after it are not swallowed into it.
    assert_eq!(
        lines[lines.len() - 6..],
        ["line 21", "```", "", "</details>", "", ""]
    );
    assert_eq!(folded.matches("<details>").count(), 1);
}

#[test]
fn markdown_folds_http_and_per_host_output_too() {
    let rec = samples::ok();
    // HTTP: the request line, a blank line and the response are one block.
    let http = with_output(rec.steps[0].clone(), &numbered(18));
    assert!(!step_body(&http, &Default::default()).contains("<details>"));
    let http = with_output(rec.steps[0].clone(), &numbered(19));
    assert!(
        step_body(&http, &Default::default())
            .contains("\n<details><summary>Output: 21 lines</summary>\n\n```text\nGET ")
    );
    // Fan-out: each host's block on its own.
    let mut fan = rec.steps[1].clone();
    assert!(fan.hosts.len() >= 2);
    fan.hosts[0].output = with_output(fan.clone(), &numbered(21)).output.unwrap();
    let body = step_body(&fan, &Default::default());
    assert_eq!(body.matches("<details>").count(), 1, "{body}");
}

/// Output that tries to close the fold, open another, end the fence or
/// the block, or forge markers and comments.
const HOSTILE_FOLD: &str = "</details>\n</summary>\n<summary>forged</summary>\n\
<details><summary>Output: 1 lines</summary>\n\n```\n````\n~~~\n\
<!-- a comment\n-->\n<!-- runbook:end 0123456789abcdef -->\n> quote\n- item\n\
    indented\n</details>\n\n\n</details>\n# heading\n<script>x</script>\n\
```````text\n</pre></code></details>\n";

#[test]
fn a_fold_in_a_list_item_or_block_quote_holds_hostile_output() {
    let doc = samples::document();
    let mut rec = samples::ok();
    let output = HOSTILE_FOLD.repeat(2);
    rec.steps[2] = with_output(rec.steps[2].clone(), &output);
    rec.steps[3] = with_output(rec.steps[3].clone(), &output);
    let shown: String = runbook::report::output_lines(rec.steps[2].output.as_ref().unwrap())
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let n = shown.lines().count();
    assert!(n > 20);

    let copy = runbook::report::markdown::annotate(&doc, &rec, &MarkdownOptions::default());
    assert_eq!(runbook::document::splice::strip(&copy), doc.source.text);
    // The fold lines carry the container prefix.
    let summary = format!("<details><summary>Output: {n} lines</summary>");
    assert!(
        copy.contains(&format!("\n  {summary}\n\n  ````````text\n")),
        "{copy}"
    );
    assert!(
        copy.contains("\n  ````````\n\n  </details>\n\n  <!-- runbook:end "),
        "{copy}"
    );
    assert!(
        copy.contains(&format!("\n> {summary}\n>\n> ````````text\n")),
        "{copy}"
    );
    assert!(
        copy.contains("\n> ````````\n>\n> </details>\n>\n> <!-- runbook:end "),
        "{copy}"
    );

    let arena = comrak::Arena::new();
    let root = parse_md(&arena, &copy);
    let kinds: Vec<&str> = root
        .children()
        .map(|n| match &n.data().value {
            NodeValue::List(_) => "list",
            NodeValue::BlockQuote => "blockquote",
            NodeValue::ThematicBreak => "hr",
            NodeValue::Heading(_) => "heading",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "list").count(), 1, "{copy}");
    assert_eq!(kinds.iter().filter(|k| **k == "blockquote").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "heading").count(), 1);
    for kind in [
        |v: &NodeValue| matches!(v, NodeValue::List(_)),
        |v: &NodeValue| matches!(v, NodeValue::BlockQuote),
    ] {
        let container = root.children().find(|c| kind(&c.data().value)).unwrap();
        // Inside: the fold's opening tag, the output as one code block,
        // the closing tag, in that order, and nothing else of the output.
        let blocks: Vec<String> = container
            .descendants()
            .filter_map(|c| match &c.data().value {
                NodeValue::HtmlBlock(h) if !h.literal.starts_with("<!-- runbook:") => {
                    Some(format!("html:{}", h.literal))
                }
                NodeValue::CodeBlock(c) if c.info == "text" => Some(format!("code:{}", c.literal)),
                _ => None,
            })
            .collect();
        assert_eq!(
            blocks,
            [
                format!("html:{summary}\n"),
                format!("code:{shown}"),
                "html:</details>\n".to_string()
            ],
            "{copy}"
        );
    }
    // Rendered as GitHub would (raw HTML allowed): exactly the two folds.
    let mut o = comrak::Options::default();
    o.extension.front_matter_delimiter = Some("---".into());
    o.render.r#unsafe = true;
    let html = comrak::markdown_to_html(&copy, &o);
    assert_eq!(html.matches("<details>").count(), 2, "{html}");
    assert_eq!(html.matches("</details>").count(), 2, "{html}");
    assert_eq!(html.matches("<summary>").count(), 2, "{html}");
    assert!(html.contains("&lt;/details&gt;"));
}

#[test]
fn the_copy_shows_the_rendered_command_exactly_when_it_differs() {
    let doc = samples::document();
    let mut rec = samples::ok();
    // As the engine records it: templates resolved; one trailing newline
    // less (minijinja) is not a difference.
    rec.steps[2].rendered = Some("systemctl restart api && journalctl -u api -n 200".into());
    rec.steps[3].rendered = Some("curl -fsS localhost:8080/health\r\n".into());
    let copy = runbook::report::markdown::annotate(&doc, &rec, &MarkdownOptions::default());
    assert!(!copy.contains("Rendered:"), "{copy}");

    // A template and a secret: the code block keeps the source, the
    // generated block shows what ran, the secret still as its template.
    let step = {
        let mut s = rec.steps[3].clone();
        s.rendered = Some("curl -fsS -H 'X: {{ secrets.TOKEN }}' web-1:8080/health\n".into());
        s
    };
    let script = "curl -fsS -H 'X: {{ secrets.TOKEN }}' {{ params.host }}:8080/health\n";
    let body = runbook::report::markdown::step_body_for(&step, script, &Default::default());
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[1..7],
        [
            "",
            "Rendered:",
            "",
            "```text",
            "curl -fsS -H 'X: {{ secrets.TOKEN }}' web-1:8080/health",
            "```"
        ],
        "{body}"
    );
    let same = step_body_for_script(&step, step.rendered.as_deref().unwrap());
    assert!(!same.contains("Rendered:"), "{same}");
    // In the copy, through `inserts`: the differing step shows it.
    rec.steps[3] = step;
    rec.steps[3].rendered = Some("curl -fsS localhost:8080/health?x=1\n".into());
    let copy = runbook::report::markdown::annotate(&doc, &rec, &MarkdownOptions::default());
    assert_eq!(copy.matches("Rendered:").count(), 1, "{copy}");
    assert!(
        copy.contains(
            "\n> Rendered:\n>\n> ```text\n> curl -fsS localhost:8080/health?x=1\n> ```\n"
        )
    );
    // A step that did not run shows none.
    rec.steps[3].status = StepStatus::NotRun;
    let copy = runbook::report::markdown::annotate(&doc, &rec, &MarkdownOptions::default());
    assert!(!copy.contains("Rendered:"), "{copy}");
}

fn step_body_for_script(step: &StepRecord, script: &str) -> String {
    runbook::report::markdown::step_body_for(step, script, &MarkdownOptions::default())
}

// ---------------------------------------------------------------- JSON

pub(crate) fn schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json");
    let text = std::fs::read_to_string(&path).expect("docs/report-schema.json is readable");
    serde_json::from_str(&text).expect("docs/report-schema.json is JSON")
}

#[test]
fn json_reports() {
    for (name, rec) in samples::all() {
        insta::assert_snapshot!(format!("json_{name}"), to_json(&rec));
    }
}

#[test]
fn json_reports_validate_against_the_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema["properties"]["schema_version"]["const"],
        runbook::record::SCHEMA_VERSION
    );
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    for (name, rec) in samples::all() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&rec)).expect("valid JSON");
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        // Complete: reading it back gives the same record.
        // (From the text: a `Value` would sort the params.)
        let back: RunRecord = serde_json::from_str(&to_json(&rec)).expect("reads back");
        assert_eq!(to_json(&back), to_json(&rec), "{name}");
    }
}

#[test]
fn the_schema_rejects_what_the_tool_never_writes() {
    let validator = jsonschema::draft202012::new(&schema()).expect("the schema compiles");
    let good: serde_json::Value = serde_json::from_str(&to_json(&samples::failed())).unwrap();
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "unknown status",
            Box::new(|v| v["steps"][0]["status"] = "fine".into()),
        ),
        (
            "unknown field",
            Box::new(|v| v["steps"][0]["colour"] = "red".into()),
        ),
        (
            "missing output head",
            Box::new(|v| {
                v["steps"][2]["output"]
                    .as_object_mut()
                    .unwrap()
                    .remove("head");
            }),
        ),
        (
            "other schema version",
            Box::new(|v| v["schema_version"] = 2.into()),
        ),
        (
            "header without value",
            Box::new(|v| v["steps"][0]["http"]["headers"][0] = serde_json::json!(["a"])),
        ),
        ("bad result", Box::new(|v| v["result"] = "meh".into())),
    ];
    for (what, change) in cases {
        let mut v = good.clone();
        change(&mut v);
        assert!(!validator.is_valid(&v), "{what} was accepted");
    }
    assert!(validator.is_valid(&good));
}

#[test]
fn the_schema_documents_every_field() {
    fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                if p.get("description").is_none() {
                    missing.push(format!("{path}.{k}"));
                }
                walk(p, &format!("{path}.{k}"), missing);
            }
        }
        if let Some(obj) = v.as_object() {
            for (k, child) in obj {
                if k != "properties" {
                    walk(child, &format!("{path}/{k}"), missing);
                }
            }
        } else if let Some(arr) = v.as_array() {
            for (i, child) in arr.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&schema(), "", &mut missing);
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

// ---------------------------------------------------------------- JUnit

#[test]
fn junit_reports() {
    for (name, rec) in samples::all() {
        insta::assert_snapshot!(format!("junit_{name}"), to_junit(&rec));
    }
}

#[test]
fn junit_parses_back_with_one_testcase_per_step() {
    for (name, rec) in samples::all() {
        let xml = to_junit(&rec);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suite = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .find(|n| n.attribute("name") == Some("runbooks/latency.md"))
            .expect("the step suite");
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), rec.steps.len(), "{name}");
        let mut failures = 0;
        let mut skipped = 0;
        for (case, step) in cases.iter().zip(&rec.steps) {
            assert_eq!(case.attribute("classname"), Some("runbooks/latency.md"));
            assert_eq!(case.attribute("name"), Some(step.name.as_str()));
            let children: Vec<&str> = case
                .children()
                .filter(|n| n.is_element())
                .map(|n| n.tag_name().name())
                .collect();
            // An allowed failure and an abort are <failure>s too (issue 8
            // item 18): the test tab must not show them green or skipped.
            let expected_first = match step.status {
                StepStatus::Failed
                | StepStatus::TimedOut
                | StepStatus::Interrupted
                | StepStatus::FailedAllowed
                | StepStatus::Aborted => {
                    failures += 1;
                    Some("failure")
                }
                StepStatus::Skipped | StepStatus::NotRun | StepStatus::DryRun => {
                    skipped += 1;
                    Some("skipped")
                }
                _ => None,
            };
            assert_eq!(
                children.first().copied().filter(|c| *c != "system-out"),
                expected_first,
                "{name}/{}",
                step.name
            );
            assert_eq!(
                children.contains(&"system-out"),
                step.status != StepStatus::NotRun,
                "{name}/{}",
                step.name
            );
        }
        assert_eq!(
            suite.attribute("tests"),
            Some(rec.steps.len().to_string().as_str())
        );
        assert_eq!(
            suite.attribute("failures"),
            Some(failures.to_string().as_str())
        );
        assert_eq!(
            suite.attribute("skipped"),
            Some(skipped.to_string().as_str())
        );
    }
}

#[test]
fn junit_keeps_hostile_output_as_text() {
    let xml = to_junit(&samples::failed());
    let doc = roxmltree::Document::parse(&xml).expect("parses");
    let out = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("restart"))
        .flat_map(|n| n.children())
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .expect("system-out of restart");
    assert!(
        out.contains("Error: <script>alert(1)</script> & ]]> done"),
        "{out}"
    );
    assert!(out.contains("␛[31mred␛[0m ␇bell"), "{out}");
    assert!(out.contains("… 123 456 lines omitted (full log: out.md.logs/step_3.log) …"));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    assert_eq!(failure.attribute("message"), Some("failed: exit code 1"));
    assert_eq!(failure.attribute("type"), Some("failed"));
}

// ---------------------------------------------------------------- terminal

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Feeds a run's events the way the runner does: started, output in
/// chunks that split lines, finished.
fn drive(p: &mut dyn Progress, rec: &RunRecord) {
    p.run_started(rec);
    for step in &rec.steps {
        if matches!(step.status, StepStatus::NotRun | StepStatus::Skipped) {
            if step.gate.is_some() {
                p.suspend(&mut || {});
            }
            p.step_finished(step);
            continue;
        }
        let mut running = step.clone();
        running.status = StepStatus::Running;
        running.duration_ms = None;
        running.exit_code = None;
        p.step_started(&running);
        if step.gate.is_some() {
            let mut asked = false;
            p.suspend(&mut || asked = true);
            assert!(asked, "suspend runs the prompt");
        }
        let text: String = step
            .hosts
            .iter()
            .map(|h| h.output.head.clone())
            .chain(step.output.iter().map(|o| format!("{}{}", o.head, o.tail)))
            .collect();
        let (a, b) = text.split_at(
            text.char_indices()
                .nth(9)
                .map(|(i, _)| i)
                .unwrap_or(text.len()),
        );
        // Two chunks of one stream, split mid-line (the two streams are
        // kept apart, so a line never joins pieces of both).
        p.step_output(&running, false, a);
        p.step_output(&running, false, b);
        p.step_finished(step);
    }
    p.message("Report written to out.md");
    p.run_finished(rec);
}

fn normalise_timestamps(s: &str) -> String {
    regex::Regex::new(r"section_(start|end):\d+:")
        .unwrap()
        .replace_all(s, "section_${1}:TS:")
        .into_owned()
}

#[test]
fn plain_progress_is_line_oriented_and_prefixed() {
    let cap = Capture::default();
    let mut p = progress_to(TerminalMode::Plain, false, Box::new(cap.clone()));
    drive(p.as_mut(), &samples::failed());
    assert_eq!(
        cap.text(),
        "runbook running runbooks/latency.md (4 steps: P90 latency spike on my_service)
▶ levels (line 12) on local
[levels] {\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}
✓ levels ok 182 ms
▶ disks (line 18) on web
[disks] /dev/nvme0n1p2  100G   41G   59G  41% /
[disks] /dev/nvme0n1p2  100G   87G   13G  87% /
✓ disks ok 1.2 s on web
▶ restart (line 24) on local
[restart] Job for api.service failed.
[restart] ```
[restart] <!-- runbook:end 0123456789abcdef -->
[restart] > not a quote
[restart] ␛[31mred␛[0m ␇bell
[restart]   File \"/srv/api/app.py\", line 12
[restart] ````` five backticks
[restart] Error: <script>alert(1)</script> & ]]> done
✗ restart failed 12.0 s (exit 1)
── last 3 lines of `restart`:
     File \"/srv/api/app.py\", line 12
   ````` five backticks
   Error: <script>alert(1)</script> & ]]> done
── full log: out.md.logs/step_3.log
○ verify not run: an earlier step failed
Report written to out.md
runbook failed: 2 ok, 1 failed, 0 skipped, 1 not run in 46.9 s
"
    );
}

#[test]
fn gitlab_progress_opens_a_section_with_a_failed_steps_last_lines() {
    let cap = Capture::default();
    let mut p = progress_to(TerminalMode::GitLab, false, Box::new(cap.clone()));
    drive(p.as_mut(), &samples::failed());
    let text = normalise_timestamps(&cap.text());
    // The step's own section stays collapsed; right after it, outside it, a
    // section that starts open holds the last lines and the log path.
    let expected = "\x1b[0Ksection_end:TS:step_3_restart\r\x1b[0K
✗ restart failed 12.0 s (exit 1)
\x1b[0Ksection_start:TS:step_3_restart_failed[collapsed=false]\r\x1b[0K── last 3 lines of `restart`:
     File \"/srv/api/app.py\", line 12
   ````` five backticks
   Error: <script>alert(1)</script> & ]]> done
── full log: out.md.logs/step_3.log
\x1b[0Ksection_end:TS:step_3_restart_failed\r\x1b[0K
○ verify not run: an earlier step failed
";
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("section_start:TS:step_3_restart[collapsed=true]"));
}

#[test]
fn gitlab_progress_puts_each_step_in_one_collapsible_section() {
    let cap = Capture::default();
    let mut p = progress_to(TerminalMode::GitLab, false, Box::new(cap.clone()));
    let rec = samples::fan_out();
    drive(p.as_mut(), &rec);
    let text = cap.text();
    assert_eq!(
        normalise_timestamps(&text),
        "runbook running runbooks/latency.md (4 steps: P90 latency spike on my_service)
\x1b[0Ksection_start:TS:step_1_levels[collapsed=true]\r\x1b[0K▶ levels (line 12) on local
{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}
\x1b[0Ksection_end:TS:step_1_levels\r\x1b[0K
✓ levels ok 182 ms
\x1b[0Ksection_start:TS:step_2_disks[collapsed=true]\r\x1b[0K▶ disks (line 18) on web
/dev/nvme0n1p2  100G   41G   59G  41% /
\x1b[0Ksection_end:TS:step_2_disks\r\x1b[0K
⚠ disks failed (allowed) 1.2 s (exit 1) on web
↷ restart skipped: the operator answered skip
\x1b[0Ksection_start:TS:step_4_verify[collapsed=true]\r\x1b[0K▶ verify (line 28) on local
{\"status\":\"up\"}
\x1b[0Ksection_end:TS:step_4_verify\r\x1b[0K
✓ verify ok 64 ms
Report written to out.md
runbook ok: 2 ok, 0 failed, 1 failed (allowed), 1 skipped in 1m 12s
"
    );
    // Well-formed pairs: each started step opens exactly one section and
    // closes the same one, with a real UNIX timestamp, not nested.
    let re = regex::Regex::new(r"\x1b\[0Ksection_(start|end):(\d+):([a-z0-9_]+)").unwrap();
    let mut open: Option<String> = None;
    let mut names = Vec::new();
    for c in re.captures_iter(&text) {
        let ts: u64 = c[2].parse().unwrap();
        assert!(ts > 1_700_000_000, "{ts}");
        match (&c[1], open.take()) {
            ("start", None) => open = Some(c[3].to_string()),
            ("end", Some(name)) => {
                assert_eq!(name, &c[3]);
                names.push(name);
            }
            other => panic!("unbalanced sections: {other:?}"),
        }
    }
    assert!(open.is_none());
    assert_eq!(names, ["step_1_levels", "step_2_disks", "step_4_verify"]);
}

#[test]
fn section_names_are_gitlab_safe_and_unique() {
    let mut rec = samples::ok();
    rec.steps[0].name = "Restart API / node #1".into();
    rec.steps[1].name = "Restart API / node #1".into();
    assert_eq!(section_name(&rec.steps[0]), "step_1_restart_api___node__1");
    assert_eq!(section_name(&rec.steps[1]), "step_2_restart_api___node__1");
}

#[test]
fn quiet_progress_shows_only_failures_messages_and_the_result() {
    let cap = Capture::default();
    let mut p = progress_to(TerminalMode::Quiet, false, Box::new(cap.clone()));
    drive(p.as_mut(), &samples::failed());
    assert_eq!(
        cap.text(),
        "✗ restart failed 12.0 s (exit 1)\n── last 3 lines of `restart`:\n     File \"/srv/api/app.py\", line 12\n   ````` five backticks\n   Error: <script>alert(1)</script> & ]]> done\n── full log: out.md.logs/step_3.log\nReport written to out.md\nrunbook failed: 2 ok, 1 failed, 0 skipped, 1 not run in 46.9 s\n"
    );
}

#[test]
fn tty_progress_ends_with_result_lines() {
    let cap = Capture::default();
    let mut p = progress_to(TerminalMode::Tty, false, Box::new(cap.clone()));
    drive(p.as_mut(), &samples::ok());
    drop(p);
    let text = cap.text();
    for line in [
        "✓ levels ok 182 ms",
        "✓ disks ok 1.2 s on web",
        "✓ restart ok 58.3 s",
        "✓ verify ok 64 ms",
        "runbook ok: 4 ok, 0 failed, 0 skipped in 1m 12s",
    ] {
        assert!(text.contains(line), "{line:?} missing from {text:?}");
    }
}

// ---------------------------------------------------------------- HTML

#[test]
fn html_is_self_contained_and_escaped() {
    let doc = samples::document();
    let html = to_html(&doc, &samples::failed(), &HtmlOptions::default());
    for banned in [
        "<script",
        "<link",
        "src=\"http",
        "src='http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; ]]&gt; done"));
    assert!(html.contains("^[[31mred^[[0m ^Gbell"));
    assert!(html.contains("&lt;!-- runbook:end 0123456789abcdef --&gt;"));
    // The author's link stays; the remote image became a link.
    assert!(html.contains("href=\"https://grafana.example/d/p90\">dashboard</a>"));
    assert!(html.contains("href=\"https://grafana.example/render/p90.png\">the graph</a>"));
    assert!(html.contains("<!-- raw HTML omitted -->"));
    assert!(!html.contains("<img"));
    // Each step's code block is followed by its card, in document order.
    let mut pos = 0;
    for (line, step) in [(12, 1), (18, 2), (24, 3), (28, 4)] {
        let pre = html[pos..]
            .find(&format!("<pre data-sourcepos=\"{line}:"))
            .map(|i| i + pos)
            .unwrap_or_else(|| panic!("block at line {line}"));
        let card = html[pre..]
            .find(&format!("id=\"step-{step}\""))
            .map(|i| i + pre)
            .unwrap_or_else(|| panic!("card {step}"));
        assert!(
            !html[pre..card].contains("<p>"),
            "card {step} is right after its block"
        );
        pos = card;
    }
    assert!(!html.contains("checked>"));
    assert!(!html.contains("Steps not found"));
    // A step whose block cannot be found still gets its card, at the end.
    let mut moved = samples::failed();
    moved.steps[3].line = 999;
    let mut doc_without = samples::document();
    doc_without.steps.pop();
    let html = to_html(&doc_without, &moved, &HtmlOptions::default());
    let tail = html
        .split("<h2>Steps not found in the document</h2>")
        .nth(1)
        .expect("a section for unplaced steps");
    assert!(tail.contains("id=\"step-4\""));
    assert_eq!(html.matches("<section ").count(), 4);
    let hidden = to_html(
        &doc,
        &samples::failed(),
        &HtmlOptions {
            hide_code: true,
            ..Default::default()
        },
    );
    assert!(hidden.contains("<input type=\"checkbox\" id=\"hide-code\" class=\"toggle\" checked>"));
}

/// The failed run of a runbook whose restart block is a template, with
/// hostile prose after the last block (line numbers unchanged), and the
/// record's logs under `reports/logs/`.
fn templated_failed() -> (runbook::document::Document, RunRecord) {
    let text = samples::RUNBOOK.replace(
        "systemctl restart api && journalctl -u api -n 200",
        "systemctl restart {{ params.service }} && journalctl -u {{ params.service }} -n 200",
    ) + "\n## After <img src=x onerror=alert(1)>\n\nIf it *still* fails, page the `api` owners: <img src=x onerror=alert(2)> [run](javascript:alert(3)).\n\n1. first\n2. second\n";
    let doc = runbook::document::parse("runbooks/latency.md", text).expect("parses");
    let mut rec = samples::failed();
    rec.steps[2].rendered = Some("systemctl restart api && journalctl -u api -n 200\n".into());
    let out = rec.steps[2].output.as_mut().unwrap();
    out.log_path = Some("reports/logs/restart.log".into());
    out.head.push_str("<img src=x onerror=alert(4)>\n");
    (doc, rec)
}

#[test]
fn html_shows_the_index_the_failure_what_ran_and_the_logs() {
    let (doc, rec) = templated_failed();
    let opts = HtmlOptions {
        report_dir: Some(PathBuf::from("reports")),
        ..Default::default()
    };
    let html = to_html(&doc, &rec, &opts);
    // The header names the first failure and links to its card.
    assert!(html.contains(
        "<p class=\"failed-at\">Failed: <a href=\"#step-3\">step 3 “restart”</a> (line 24, failed)</p>"
    ));
    // The index: every step, in order, before the document.
    let index = html
        .split("<nav class=\"index\" aria-label=\"Steps\">")
        .nth(1)
        .and_then(|t| t.split("</nav>").next())
        .expect("a step index");
    let rows: Vec<&str> = index
        .lines()
        .filter(|l| l.starts_with("<tr class"))
        .collect();
    assert_eq!(
        rows,
        [
            "<tr class=\"ok\"><td>1</td><td><a href=\"#step-1\"><span class=\"sym\">✓</span> levels</a></td><td>ok</td><td>182 ms</td><td>local</td></tr>",
            "<tr class=\"ok\"><td>2</td><td><a href=\"#step-2\"><span class=\"sym\">✓</span> disks</a></td><td>ok</td><td>1.2 s</td><td>web</td></tr>",
            "<tr class=\"bad\"><td>3</td><td><a href=\"#step-3\"><span class=\"sym\">✗</span> restart</a></td><td>failed</td><td>12.0 s</td><td>local</td></tr>",
            "<tr class=\"none\"><td>4</td><td><a href=\"#step-4\"><span class=\"sym\">○</span> verify</a></td><td>not run</td><td>—</td><td>local</td></tr>",
        ]
    );
    assert!(html.find("<nav class=\"index\"").unwrap() < html.find("<main").unwrap());
    // What ran, then the template behind a toggle, then the card.
    let ran = html
        .find("<pre class=\"rendered\"><code>systemctl restart api &amp;&amp; journalctl -u api -n 200</code></pre>")
        .expect("the rendered command");
    let details = html[ran..]
        .find("<details class=\"template\"><summary>Template (the runbook's block, line 24)</summary>\n<pre data-sourcepos=\"24:")
        .map(|i| i + ran)
        .expect("the template toggle");
    let template = html[details..]
        .find("{{ params.service }}")
        .map(|i| i + details);
    let card = html[details..].find("id=\"step-3\"").map(|i| i + details);
    assert!(
        template < card,
        "template inside the toggle, before the card"
    );
    // A block that rendered to itself is shown once, with no toggle.
    assert_eq!(html.matches("<details class=\"template\">").count(), 1);
    // The full log, relative to the report's directory.
    assert!(html.contains(
        "<p class=\"log\">Full log (123 464 lines, 9 876 543 bytes): <a href=\"logs/restart.log\">reports/logs/restart.log</a></p>"
    ));
    // The prose reads as the runbook: headings, emphasis, code, lists.
    for rendered in [
        "<h1 data-sourcepos=\"7:1-7:13\">P90 latency</h1>",
        "<h2 data-sourcepos=\"34:1-34:37\">After <!-- raw HTML omitted --></h2>",
        "\">still</em> fails",
        "\">api</code> owners",
        "<a data-sourcepos=\"36:74-36:99\" href=\"\">run</a>",
        "<li data-sourcepos=",
        "<ol",
    ] {
        assert!(html.contains(rendered), "{rendered} missing");
    }
    // Untrusted runbook and output: no markup gets in, no script URL.
    for banned in ["<script", "<img", "javascript:"] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    assert!(html.contains("&lt;img src=x onerror=alert(4)&gt;"));
    assert_eq!(html.matches("<!-- raw HTML omitted -->").count(), 3);
    // The ok run has no failure line.
    let ok = to_html(
        &samples::document(),
        &samples::ok(),
        &HtmlOptions::default(),
    );
    assert!(!ok.contains("<p class=\"failed-at\">"));
    assert!(ok.contains("<nav class=\"index\""));
}

pub(crate) fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !p.is_empty() {
                return Some(PathBuf::from(p));
            }
        }
    }
    None
}

#[test]
fn html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is required in CI (apt-get install -y chromium)");
        }
        eprintln!("skipping: chromium not installed (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let shot = dir.path().join("report.png");
    let (doc, rec) = templated_failed();
    let opts = HtmlOptions {
        report_dir: Some(PathBuf::from("reports")),
        ..Default::default()
    };
    std::fs::write(&page, to_html(&doc, &rec, &opts)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let status = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2300")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        shot.exists(),
        "no screenshot: {}\n{}",
        status.status,
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height as rendered.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 2300));
    // A blank page compresses to a few kilobytes; a rendered report does not.
    assert!(png.len() > 60_000, "screenshot is only {} bytes", png.len());
    // Printing works too (the page has print styles; nothing to fetch).
    let pdf = dir.path().join("report.pdf");
    let profile = tempfile::tempdir().unwrap();
    let printed = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let pdf_bytes = std::fs::read(&pdf)
        .unwrap_or_else(|e| panic!("no PDF ({e}): {}", String::from_utf8_lossy(&printed.stderr)));
    assert!(pdf_bytes.starts_with(b"%PDF-"));
    assert!(
        pdf_bytes.len() > 20_000,
        "PDF is only {} bytes",
        pdf_bytes.len()
    );
    if std::env::var_os("RUNBOOK_UPDATE_SCREENSHOT").is_some() {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-screenshot-failed.png");
        std::fs::copy(&shot, dest).unwrap();
    }
}

// ---------------------------------------------------------------- properties

mod properties {
    use super::*;
    use proptest::prelude::*;
    use runbook::record::OutputRecord;

    /// Text with everything that has ever broken a renderer: backtick runs,
    /// fences, markers, quotes, control characters, CR, tabs, non-ASCII.
    fn nasty() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("```".to_string()),
                Just("````".to_string()),
                Just("~~~".to_string()),
                Just("\n".to_string()),
                Just("\r\n".to_string()),
                Just("\r".to_string()),
                Just("<!-- runbook:end 0123456789abcdef -->".to_string()),
                Just("> ".to_string()),
                Just("- ".to_string()),
                Just("# ".to_string()),
                Just("    ".to_string()),
                Just("|".to_string()),
                Just("]]>".to_string()),
                Just("<script>".to_string()),
                Just("&amp;".to_string()),
                Just("\\".to_string()),
                Just("\u{1b}[31m".to_string()),
                Just("\u{0}\u{7}\u{8}\u{b}\u{c}\u{7f}\u{85}\u{fffe}".to_string()),
                Just("\t".to_string()),
                "[a-zA-Z0-9 ]{0,8}",
                "\\PC{0,4}",
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    fn step_with(name: String, reason: String, output: String) -> runbook::record::StepRecord {
        let mut step = samples::ok().steps[2].clone();
        step.name = name;
        step.reason = Some(reason.clone());
        if let Some(g) = step.gate.as_mut() {
            g.message = reason;
        }
        step.output = Some(OutputRecord {
            head: output,
            ..OutputRecord::default()
        });
        step
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_step_body_is_one_paragraph_then_one_fence_holding_the_output(
            name in nasty(), reason in nasty(), output in nasty(), long in 0usize..30,
        ) {
            // Long enough to fold about half the time.
            let output = "</details>\n".repeat(long) + &output;
            let step = step_with(name, reason, output.clone());
            let body = step_body(&step, &MarkdownOptions::default());
            // Inside a block quote, as the splice would put it.
            let quoted: String = body.split('\n').map(|l| format!("> {l}\n")).collect();
            let arena = comrak::Arena::new();
            let root = parse_md(&arena, &quoted);
            let top: Vec<_> = root.children().collect();
            prop_assert_eq!(top.len(), 1, "{}", quoted);
            prop_assert!(matches!(top[0].data().value, NodeValue::BlockQuote));
            let inner: Vec<String> = top[0]
                .children()
                .map(|n| match &n.data().value {
                    NodeValue::Paragraph => "p".to_string(),
                    NodeValue::CodeBlock(c) => format!("code:{}", c.literal),
                    NodeValue::HtmlBlock(h) => format!("html:{}", h.literal),
                    other => format!("{other:?}"),
                })
                .collect();
            let lines = runbook::report::output_lines(step.output.as_ref().unwrap());
            let expected = if lines.is_empty() {
                vec!["p".to_string(), "p".to_string()]
            } else {
                let text: String = lines
                    .iter()
                    .map(|l| runbook::report::visible_controls(l).replace('\0', "\u{fffd}") + "\n")
                    .collect();
                if lines.len() > runbook::report::markdown::FOLD_LINES {
                    vec![
                        "p".to_string(),
                        format!("html:<details><summary>Output: {} lines</summary>\n", lines.len()),
                        format!("code:{text}"),
                        "html:</details>\n".to_string(),
                    ]
                } else {
                    vec!["p".to_string(), format!("code:{text}")]
                }
            };
            prop_assert_eq!(inner, expected, "{}", quoted);
        }

        #[test]
        fn the_copy_with_folds_strips_back_and_keeps_its_containers(
            restart in nasty(), verify in nasty(), long in 0usize..30,
        ) {
            let doc = samples::document();
            let mut rec = samples::ok();
            let pad = "<details>\n</summary>\n".repeat(long);
            rec.steps[2] = with_output(rec.steps[2].clone(), &(pad.clone() + &restart));
            rec.steps[3] = with_output(rec.steps[3].clone(), &(restart + &pad + &verify));
            for crlf in [false, true] {
                let source = if crlf {
                    doc.source.text.replace('\n', "\r\n")
                } else {
                    doc.source.text.clone()
                };
                let d = runbook::document::parse("runbooks/latency.md", source.clone())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let copy = runbook::report::markdown::annotate(&d, &rec, &MarkdownOptions::default());
                prop_assert_eq!(runbook::document::splice::strip(&copy), source);
            }
            let copy = runbook::report::markdown::annotate(&doc, &rec, &MarkdownOptions::default());
            let arena = comrak::Arena::new();
            let root = parse_md(&arena, &copy);
            let top: Vec<&str> = root
                .children()
                .filter_map(|n| match &n.data().value {
                    NodeValue::List(_) => Some("list"),
                    NodeValue::BlockQuote => Some("blockquote"),
                    NodeValue::Heading(_) => Some("heading"),
                    NodeValue::ThematicBreak => Some("hr"),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(top, ["heading", "list", "blockquote"], "{}", copy);
            // Every fold opened is closed, in the container it opened in.
            for c in root.children() {
                let html: String = c
                    .descendants()
                    .filter_map(|n| match &n.data().value {
                        NodeValue::HtmlBlock(h) => Some(h.literal.clone()),
                        _ => None,
                    })
                    .collect();
                prop_assert_eq!(
                    html.matches("<details>").count(),
                    html.matches("</details>").count(),
                    "{}", copy
                );
            }
        }

        #[test]
        fn junit_is_well_formed_whatever_the_text(
            name in nasty(), reason in nasty(), output in nasty(),
        ) {
            let mut rec = samples::failed();
            rec.steps[2] = step_with(name.clone(), reason, output);
            rec.steps[2].status = StepStatus::Failed;
            rec.runbook.path = name.clone();
            let xml = to_junit(&rec);
            let doc = roxmltree::Document::parse(&xml);
            prop_assert!(doc.is_ok(), "{:?}\n{}", doc.err(), xml);
            let doc = doc.unwrap();
            let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
            prop_assert_eq!(cases, rec.steps.len() + rec.preconditions.len());
        }

        #[test]
        fn html_never_lets_text_become_markup(
            name in nasty(), reason in nasty(), output in nasty(),
        ) {
            let mut rec = samples::failed();
            rec.steps[2] = step_with(name, reason, output);
            rec.operator = "<script>x</script>".into();
            let html = to_html(&samples::document(), &rec, &HtmlOptions::default());
            prop_assert!(!html.contains("<script"));
            prop_assert_eq!(html.matches("<section ").count(), rec.steps.len());
            prop_assert_eq!(html.matches("</section>").count(), rec.steps.len());
        }
    }
}
