//! Hand-built documents for the rules' unit tests: the front matter is
//! deserialized from the text and steps are found by a minimal fence scan,
//! so the rules are tested independently of the Markdown parser.

use crate::document::{Attrs, Diagnostic, Document, FrontMatter, Source, Span, Step, StepKind};

/// Builds a document from text: YAML front matter between `---` lines,
/// steps from ```` ``` ```` fences, attributes from `attrs(i)`.
pub(crate) fn doc(text: &str, attrs: impl Fn(usize) -> Attrs) -> Document {
    let source = Source::new("rb.md", text.to_string());
    let mut front = FrontMatter::default();
    let mut front_span = None;
    if let Some(rest) = text.strip_prefix("---\n") {
        let end = rest.find("\n---\n").expect("front matter end");
        front = serde_saphyr::from_str(&rest[..end]).expect("front matter");
        front_span = Some(Span::new(0, 4 + end + 5));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start_matches("> ");
        let prefix = lines[i].len() - l.len();
        if let Some(info) = l.strip_prefix("```")
            && !info.is_empty()
        {
            let lang = info
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string();
            let mut j = i + 1;
            let mut code = String::new();
            while j < lines.len() && lines[j].get(prefix..) != Some("```") {
                code.push_str(lines[j].get(prefix..).unwrap_or_default());
                code.push('\n');
                j += 1;
            }
            let closed = j < lines.len();
            let index = steps.len();
            let mut a = attrs(index);
            let line_start = source.offset(i + 1, 1);
            for key in [
                "name",
                "confirm",
                "when",
                "host",
                "hosts",
                "cwd",
                "env",
                "interpreter",
            ] {
                if let Some(k) = lines[i].find(&format!("{key}=")) {
                    let rest = &lines[i][k..];
                    let end = if rest[key.len() + 1..].starts_with('"') {
                        key.len() + 2 + rest[key.len() + 2..].find('"').unwrap_or(0) + 1
                    } else {
                        rest.find([' ', '}']).unwrap_or(rest.len())
                    };
                    a.spans.push((
                        key.to_string(),
                        Span::new(line_start + k, line_start + k + end),
                    ));
                } else if key == "confirm" && lines[i].contains(" confirm") {
                    let k = lines[i].find(" confirm").unwrap_or(0) + 1;
                    a.spans.push((
                        key.to_string(),
                        Span::new(line_start + k, line_start + k + 7),
                    ));
                }
            }
            let name = a.name.clone().unwrap_or(format!("step-{}", index + 1));
            steps.push(Step {
                index,
                named: a.name.is_some(),
                name,
                kind: if lang == "http" {
                    StepKind::Http
                } else {
                    StepKind::Shell {
                        program: lang.clone(),
                    }
                },
                lang,
                attrs: a,
                transcript: None,
                code,
                line: i + 1,
                col: prefix + 1,
                code_line: i + 2,
                block: Span::default(),
                insert_at: 0,
                needs_eol: false,
                prefix: " ".repeat(prefix),
                eol: "\n",
                closed,
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    Document {
        source,
        front,
        front_span,
        header_at: 0,
        steps,
        warnings: vec![],
    }
}

pub(crate) fn named(n: &str) -> Attrs {
    Attrs {
        name: Some(n.to_string()),
        ..Attrs::default()
    }
}

pub(crate) fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
