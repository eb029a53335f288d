//! The document module through its public API: the fixtures' steps
//! (snapshots), the exact text of parse errors, and property tests for the
//! splice/strip round trip over generated Markdown.

use proptest::prelude::*;
use runbook::document::splice::{Insert, has_generated, splice, strip};
use runbook::document::{Document, parse, parse_file};
use std::fmt::Write as _;
use std::path::Path;

const FIXTURES: &[&str] = &[
    "basic",
    "crlf",
    "list",
    "blockquote",
    "tilde",
    "four-backtick",
    "unclosed",
    "no-final-newline",
    "runme",
    "tricky-output",
];

fn load(name: &str) -> Document {
    // Relative, so diagnostics in snapshots do not depend on the checkout.
    let path = Path::new("fixtures").join(format!("{name}.md"));
    match parse_file(&path) {
        Ok(d) => d,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The steps as a stable text for snapshots.
fn describe(d: &Document) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "header_at: {}", d.header_at);
    for st in &d.steps {
        let _ = writeln!(
            s,
            "- {} (named: {}) lang={:?} kind={:?}\n  line={} col={} code_line={} block={}..{} insert_at={} needs_eol={} eol={:?} prefix={:?} closed={}\n  code={:?}",
            st.name,
            st.named,
            st.lang,
            st.kind,
            st.line,
            st.col,
            st.code_line,
            st.block.start,
            st.block.end,
            st.insert_at,
            st.needs_eol,
            st.eol,
            st.prefix,
            st.closed,
            st.code,
        );
    }
    for w in &d.warnings {
        let _ = writeln!(s, "{w}");
    }
    s
}

/// Every step gets a block; the header too.
fn annotate(d: &Document) -> String {
    let mut inserts = vec![d.header_insert("Run header\n\nresult: ok")];
    for st in &d.steps {
        inserts.push(st.insert(
            format!("step={}", st.name),
            format!("**{}**: ok\n\n```\noutput\n```", st.name),
        ));
    }
    splice(&d.source.text, &inserts)
}

#[test]
fn fixture_steps() {
    for name in FIXTURES {
        let d = load(name);
        insta::assert_snapshot!(format!("steps-{name}"), describe(&d));
    }
}

#[test]
fn fixture_spans_are_consistent() {
    for name in FIXTURES {
        let d = load(name);
        let text = &d.source.text;
        assert!(!d.steps.is_empty(), "{name}");
        for st in &d.steps {
            let block = &text[st.block.start..st.block.end];
            let fence_line = d.source.line_text(st.line);
            assert!(block.starts_with(fence_line), "{name} {}", st.name);
            assert_eq!(st.block.end, st.insert_at);
            assert!(
                st.insert_at == text.len() || text[..st.insert_at].ends_with('\n'),
                "{name} {}",
                st.name
            );
            assert_eq!(st.needs_eol, !text[..st.insert_at].ends_with('\n'));
            // The code is on the lines after the fence.
            let first = st.code.lines().next().unwrap_or_default();
            assert!(
                d.source.line_text(st.code_line).ends_with(first),
                "{name} {}",
                st.name
            );
        }
    }
}

#[test]
fn fixture_annotations() {
    for name in ["list", "blockquote", "crlf", "no-final-newline", "unclosed"] {
        let d = load(name);
        let out = annotate(&d);
        // insta normalises line endings: show the CRs.
        insta::assert_snapshot!(format!("annotated-{name}"), out.replace('\r', "␍"));
    }
}

#[test]
fn annotated_fixtures_strip_back_and_keep_their_steps() {
    for name in FIXTURES {
        let d = load(name);
        let out = annotate(&d);
        assert!(has_generated(&out));
        assert_eq!(strip(&out), d.source.text, "{name}");
        // The generated blocks stay inside their containers: the annotated
        // copy still has the same steps. (An unclosed fence swallows what
        // follows it, by definition, so it is left out here.)
        if *name == "unclosed" {
            continue;
        }
        let again = match parse(format!("{name}.md"), out.clone()) {
            Ok(a) => a,
            Err(e) => panic!("{name}: {e}"),
        };
        let names = |d: &Document| d.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&again), names(&d), "{name}");
        let codes = |d: &Document| {
            d.steps
                .iter()
                .filter(|s| s.closed)
                .map(|s| s.code.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&again), codes(&d), "{name}");
    }
}

fn err(text: &str) -> String {
    match parse("runbooks/x.md", text.to_string()) {
        Ok(_) => panic!("parsed: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn error_unknown_attribute() {
    assert_eq!(
        err("# T\n\n- item\n\n  ```bash {name=a tiemout=3s}\n  true\n  ```\n"),
        "error: unknown attribute `tiemout` (did you mean `timeout`?)\n --> runbooks/x.md:5:19\n  |\n5 |   ```bash {name=a tiemout=3s}\n  |                   ^^^^^^^"
    );
}

#[test]
fn error_bad_timeout() {
    assert_eq!(
        err("---\ntitle: t\n---\n> ```sh {timeout=abc}\n> true\n> ```\n"),
        "error: invalid value `abc` for `timeout`: `abc` is not a duration (expected e.g. 30s, 500ms, 5m, 1h30m)\n --> runbooks/x.md:4:18\n  |\n4 | > ```sh {timeout=abc}\n  |                  ^^^"
    );
}

#[test]
fn error_duplicate_name() {
    assert_eq!(
        err("```bash {name=deploy}\ntrue\n```\n\n```bash {\"name\":\"deploy\"}\ntrue\n```\n"),
        "error: duplicate step name `deploy` (first used on line 1)\n --> runbooks/x.md:5:10\n  |\n5 | ```bash {\"name\":\"deploy\"}\n  |          ^^^^^^^^^^^^^^^"
    );
    // A default name taken by an explicit one.
    assert_eq!(
        err("```bash\ntrue\n```\n\n```bash {name=step_1}\ntrue\n```\n"),
        "error: duplicate step name `step_1` (first used on line 1)\n --> runbooks/x.md:5:10\n  |\n5 | ```bash {name=step_1}\n  |          ^^^^^^^^^^^"
    );
}

#[test]
fn error_front_matter_unknown_key() {
    assert_eq!(
        err("---\r\ntitle: t\r\nrequires:\r\n  comands: [jq]\r\n---\r\n"),
        "error: front matter: unknown field `comands`, expected one of commands, env, files, http, hosts, check\n --> runbooks/x.md:4:3\n  |\n4 |   comands: [jq]\n  |   ^^^^^^^"
    );
}

#[test]
fn error_front_matter_bad_yaml() {
    assert_eq!(
        err("---\ntitle: t\ntitle: u\n---\n"),
        "error: front matter: duplicate mapping key `title` is not allowed here\n --> runbooks/x.md:3:1\n  |\n3 | title: u\n  | ^^^^^"
    );
    assert_eq!(
        err("---\nhosts:\n  db: {ssh: a, port: x}\n---\n"),
        "error: front matter: invalid u16\n --> runbooks/x.md:3:22\n  |\n3 |   db: {ssh: a, port: x}\n  |                      ^"
    );
    assert_eq!(
        err("---\ntitle: x\n  bad: : y\n---\n"),
        "error: front matter: mapping values are not allowed in this context\n --> runbooks/x.md:3:6\n  |\n3 |   bad: : y\n  |      ^"
    );
}

#[test]
fn errors_are_all_reported_in_order() {
    let e = err(
        "---\nowner: x\nowners: y\n---\n```bash {retries=many}\n```\n```python {nmae=x safe=maybe}\n```\n",
    );
    let heads: Vec<&str> = e.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        heads,
        [
            "error: front matter: unknown key `owners` (did you mean `owner`?)",
            "error: invalid value `many` for `retries`: expected a whole number, e.g. 3",
            "error: unknown attribute `nmae` (did you mean `name`?)",
            "error: invalid value `maybe` for `safe`: expected true or false",
        ]
    );
}

#[test]
fn error_invalid_name_and_braces() {
    assert_eq!(
        err("```bash {name=\" has space\"}\n```\n"),
        "error: invalid value ` has space` for `name`: a name has no control characters and no blanks around it\n --> runbooks/x.md:1:15\n  |\n1 | ```bash {name=\" has space\"}\n  |               ^^^^^^^^^^^^"
    );
    assert_eq!(
        err("```bash {name=a\n```\n"),
        "error: unclosed `{` in attributes\n --> runbooks/x.md:1:9\n  |\n1 | ```bash {name=a\n  |         ^"
    );
}

#[test]
fn prose_blocks_are_not_validated() {
    let d = match parse(
        "x.md",
        "```text {whatever=1}\n```\n```console {\n```\n".into(),
    ) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    assert!(d.steps.is_empty());
    // ...unless they name an interpreter.
    assert_eq!(
        err("```text {interpreter=cat tiemout=1}\n```\n"),
        "error: unknown attribute `tiemout` (did you mean `timeout`?)\n --> runbooks/x.md:1:26\n  |\n1 | ```text {interpreter=cat tiemout=1}\n  |                          ^^^^^^^"
    );
}

// ---------------------------------------------------------------------------
// Properties.

/// A container a piece is put in: (first line prefix, continuation prefix).
fn container() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![
        Just(("", "")),
        Just(("> ", "> ")),
        Just((">", ">")),
        Just(("- ", "  ")),
        Just(("1. ", "   ")),
        Just(("10) ", "    ")),
        Just(("* ", "  ")),
        Just(("> - ", ">   ")),
        Just(("- > ", "  > ")),
        Just(("  ", "  ")),
        Just(("-\t", "\t")),
    ]
}

fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("echo hi".to_string()),
        Just("```".to_string()),
        Just("~~~".to_string()),
        Just("````".to_string()),
        Just("  ```".to_string()),
        Just("> quoted".to_string()),
        Just("- item".to_string()),
        Just(String::new()),
        Just("<!-- c -->".to_string()),
        Just("x\ry".to_string()),
        Just("\t tab".to_string()),
        "[a-zé{}=\" ]{0,8}",
    ]
}

fn info() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("bash".to_string()),
        Just("sh".to_string()),
        Just("python3".to_string()),
        Just("http".to_string()),
        Just("json".to_string()),
        Just(String::new()),
        Just("bash {skip}".to_string()),
        Just("zsh {timeout=1s retries=2}".to_string()),
        Just("text {interpreter=\"cat -n\"}".to_string()),
        Just("sh {\"interactive\":\"false\"}".to_string()),
        Just(" node {confirm=\"ok?\"}".to_string()),
    ]
}

/// One piece of Markdown as lines (no line endings).
fn piece() -> impl Strategy<Value = Vec<String>> {
    let fence = (
        prop_oneof![Just('`'), Just('~')],
        3usize..6,
        info(),
        prop::collection::vec(body_line(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(c, n, info, body, closed)| {
            let f: String = std::iter::repeat_n(c, n).collect();
            let mut lines = vec![format!("{f}{info}")];
            lines.extend(body);
            if closed {
                lines.push(f);
            }
            lines
        });
    let prose = prop::collection::vec(
        prop_oneof![
            Just("Some text.".to_string()),
            Just("# Heading".to_string()),
            Just("<!-- note -->".to_string()),
            Just("text with ``` inside".to_string()),
            Just("***".to_string()),
            Just("    indented code".to_string()),
            Just("<div>".to_string()),
            Just("</div>".to_string()),
            Just(String::new()),
        ],
        1..3,
    );
    (container(), prop_oneof![3 => fence, 1 => prose]).prop_map(|((first, cont), lines)| {
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let p = if i == 0 { first } else { cont };
                if l.is_empty() {
                    p.trim_end().to_string()
                } else {
                    format!("{p}{l}")
                }
            })
            .collect()
    })
}

#[derive(Debug, Clone, Copy)]
enum Eols {
    Lf,
    Crlf,
    Mixed,
}

fn document() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(None),
            Just(Some("---\ntitle: x\n---".to_string())),
            Just(Some("---\n---".to_string())),
        ],
        prop::collection::vec((piece(), any::<bool>()), 0..6),
        prop_oneof![Just(Eols::Lf), Just(Eols::Crlf), Just(Eols::Mixed)],
        prop::collection::vec(any::<bool>(), 64),
        any::<bool>(),
    )
        .prop_map(|(front, pieces, eols, coin, final_newline)| {
            let mut lines: Vec<String> = Vec::new();
            if let Some(f) = front {
                lines.extend(f.lines().map(String::from));
            }
            for (p, blank) in pieces {
                lines.extend(p);
                if blank {
                    lines.push(String::new());
                }
            }
            let mut out = String::new();
            let n = lines.len();
            for (i, l) in lines.into_iter().enumerate() {
                out.push_str(&l);
                if i + 1 < n || final_newline {
                    let crlf = match eols {
                        Eols::Lf => false,
                        Eols::Crlf => true,
                        Eols::Mixed => coin[i % coin.len()],
                    };
                    out.push_str(if crlf { "\r\n" } else { "\n" });
                }
            }
            out
        })
}

/// Step output: anything, including fences, forged and real markers, CRs,
/// the fold's `<details>` lines.
fn body() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("```".to_string()),
            Just("~~~~".to_string()),
            Just("\r".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("-->".to_string()),
            Just("> ".to_string()),
            Just("<details><summary>Output: 21 lines</summary>\n\n".to_string()),
            Just("\n\n</details>".to_string()),
            Just("</summary>".to_string()),
            Just("<!-- runbook:end 0123456789abcdef -->".to_string()),
            Just("<!-- runbook:begin e3b0c44298fc1c14 step=x -->".to_string()),
            Just("<!-- runbook:end e3b0c44298fc1c14 -->".to_string()),
            Just("<!-- runbook:begin e3b0c44298fc1c14 step=x eol -->".to_string()),
            "[a-z é]{0,6}",
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn inserts_for(d: &Document, bodies: &[String]) -> Vec<Insert> {
    let mut v = vec![d.header_insert(bodies.first().cloned().unwrap_or_default())];
    for (i, st) in d.steps.iter().enumerate() {
        let b = bodies.get(i + 1).cloned().unwrap_or_default();
        v.push(st.insert(format!("step={}", st.name), b));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn splice_strips_back_byte_for_byte(
        doc in document(),
        a in prop::collection::vec(body(), 0..8),
        b in prop::collection::vec(body(), 0..8),
    ) {
        prop_assert_eq!(strip(&doc), doc.clone());
        // Generated documents may be invalid (e.g. a `{` inside a fence
        // line); those must fail cleanly, which is all that is asked then.
        if let Ok(d) = parse("p.md", doc.clone()) {
            for st in &d.steps {
                prop_assert!(st.insert_at <= doc.len());
                prop_assert_eq!(st.needs_eol, !doc[..st.insert_at].ends_with('\n'));
            }
            for st in d.steps.iter().filter(|s| s.closed) {
                // The line before insert_at is the closing fence.
                let (end_line, _) = d.source.line_col(st.insert_at.saturating_sub(1));
                let closing = d.source.line_text(end_line);
                let opening = d.source.line_text(st.line);
                let fence = &opening[st.col - 1..];
                let c = fence.chars().next().unwrap_or('`');
                let run: String = fence.chars().take_while(|&x| x == c).collect();
                prop_assert!(
                    closing.trim_start_matches([' ', '\t', '>']).starts_with(&run),
                    "{:?} closes with {:?}", opening, closing
                );
            }
            let once = splice(&doc, &inserts_for(&d, &a));
            prop_assert!(has_generated(&once));
            prop_assert_eq!(strip(&once), doc.clone());
            // Running again on the annotated copy: strip, parse, splice.
            let stripped = strip(&once);
            let d2 = parse("p.md", stripped.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let twice = splice(&stripped, &inserts_for(&d2, &b));
            prop_assert_eq!(twice.clone(), splice(&doc, &inserts_for(&d, &b)));
            prop_assert_eq!(strip(&twice), doc.clone());
        }
    }

    #[test]
    fn splice_at_any_offset_strips_back(
        text in "(\\PC|\r|\n|```|> ){0,40}",
        ats in prop::collection::vec((0usize..200, "[ >\t]{0,3}", any::<bool>(), body()), 0..5),
    ) {
        let inserts: Vec<Insert> = ats
            .into_iter()
            .map(|(at, prefix, crlf, body)| Insert {
                at: at % (text.len() + 1),
                needs_eol: false,
                prefix,
                eol: if crlf { "\r\n" } else { "\n" },
                label: "x".into(),
                body,
                link: Default::default(),
            })
            .collect();
        let out = splice(&text, &inserts);
        prop_assert_eq!(strip(&out), strip(&text));
    }

    #[test]
    fn parse_never_panics(text in "(\\PC|\r|\n|\t|```|~~~|\\{|\\}|\"|=|---|> |- ){0,60}") {
        let _ = parse("p.md", text);
    }

    #[test]
    fn parse_never_panics_on_any_string(text in any::<String>()) {
        let _ = parse("p.md", text.clone());
        let _ = strip(&text);
    }

    #[test]
    fn parse_never_panics_on_generated_documents(doc in document(), cut in 0usize..400) {
        // Also cut anywhere (on a char boundary): half a fence, half a CRLF.
        let mut cut = cut.min(doc.len());
        while !doc.is_char_boundary(cut) {
            cut -= 1;
        }
        let _ = parse("p.md", doc[..cut].to_string());
        let _ = parse("p.md", doc);
    }
}

/// The fixtures are runbooks the end-to-end tests run: every shell step
/// must succeed offline under `set -e`.
#[test]
fn fixture_shell_steps_run_offline() {
    use runbook::document::StepKind;
    for name in FIXTURES {
        let d = load(name);
        for st in &d.steps {
            let StepKind::Shell { program } = &st.kind else {
                panic!("{name}: {} is not a shell step", st.name);
            };
            let script = format!("set -e\n{}", st.code);
            let out = std::process::Command::new(program)
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap_or_else(|e| panic!("{name}: {program}: {e}"));
            assert!(
                out.status.success(),
                "{name} {}: {}",
                st.name,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !out.stdout.is_empty() || st.name == "silent",
                "{name} {}",
                st.name
            );
        }
    }
}

/// `parse_file` reads an annotated copy as the runbook it came from.
#[test]
fn parse_file_strips_an_annotated_copy() {
    let d = load("crlf");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("annotated.md");
    std::fs::write(&path, annotate(&d)).unwrap_or_else(|e| panic!("{e}"));
    let again = parse_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.source.text, d.source.text);
    let spans = |d: &Document| {
        d.steps
            .iter()
            .map(|s| (s.name.clone(), s.insert_at, s.prefix.clone(), s.eol))
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(&again), spans(&d));
}
