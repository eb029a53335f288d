//! Filters (`{{ x | trim }}`) and tests (`{% if x is defined %}`) must exist
//! in the template environment the run renders with
//! ([`crate::template::environment`]): minijinja only looks them up when it
//! renders, so without this rule a typo fails the step that uses it, in the
//! middle of a run. The names are found with a small scanner over the
//! template regions (string literals and `{% raw %}` skipped) and each is
//! probed against the real environment.

use super::templates::map_code_offset;
use super::{error, position};
use crate::document::{Diagnostic, Document, Span, Step};
use minijinja::{Environment, ErrorKind};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Filter,
    Test,
}

/// A filter or test name at a byte range of a template.
struct Use {
    kind: Kind,
    name: String,
    start: usize,
    end: usize,
}

pub(super) fn known(doc: &Document, out: &mut Vec<Diagnostic>) {
    let mut c = Checker {
        doc,
        env: crate::template::environment(),
        known: HashMap::new(),
        out,
    };
    for step in &doc.steps {
        c.step(step);
    }
    let req = &doc.front.requires;
    for (key, items) in [
        ("http", &req.http),
        ("files", &req.files),
        ("check", &req.check),
        ("hosts", &req.hosts),
    ] {
        for item in items {
            let span = position::front_value(doc, &["requires", key], item);
            c.text(item, &|o| span.start + o.min(span.len()));
        }
    }
}

struct Checker<'a> {
    doc: &'a Document,
    env: Environment<'static>,
    known: HashMap<(Kind, String), bool>,
    out: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn step(&mut self, step: &Step) {
        let src = &self.doc.source;
        self.text(step.script(), &|o| map_code_offset(src, step, o));
        let a = &step.attrs;
        if let Some(when) = &a.when {
            let span = position::attr_value(self.doc, step, "when", when);
            let map = |o: usize| span.start + o.min(span.len());
            if when.contains("{{") || when.contains("{%") {
                self.text(when, &map);
            } else if self.env.compile_expression(when).is_ok() {
                self.report(scan_region(when, 0, when.len(), false), &map);
            }
        }
        let mut inline: Vec<(&str, &str)> =
            a.env.iter().map(|(_, v)| ("env", v.as_str())).collect();
        for (key, v) in [("cwd", &a.cwd), ("host", &a.host), ("hosts", &a.hosts)] {
            if let Some(v) = v {
                inline.push((key, v));
            }
        }
        for (key, v) in inline {
            let span = position::attr_value(self.doc, step, key, v);
            self.text(v, &|o| span.start + o.min(span.len()));
        }
    }

    /// A template that compiles (syntax errors are reported elsewhere).
    fn text(&mut self, text: &str, map: &dyn Fn(usize) -> usize) {
        let text = &*crate::template::literal::blank(text);
        if !(text.contains("{{") || text.contains("{%"))
            || self.env.template_from_str(text).is_err()
        {
            return;
        }
        self.report(scan(text), map);
    }

    fn report(&mut self, uses: Vec<Use>, map: &dyn Fn(usize) -> usize) {
        for u in uses {
            if self.is_known(u.kind, &u.name) {
                continue;
            }
            let what = match u.kind {
                Kind::Filter => "filter",
                Kind::Test => "test",
            };
            let span = Span::new(map(u.start), map(u.end));
            let message = format!(
                "unknown {what} `{}`: the template environment has no such {what}",
                u.name
            );
            self.out.push(error(self.doc, span, message));
        }
    }

    /// Asks the environment itself: an unknown name fails with
    /// `UnknownFilter`/`UnknownTest` when rendered; anything else (a known
    /// filter rejecting `none`) means it exists.
    fn is_known(&mut self, kind: Kind, name: &str) -> bool {
        let env = &self.env;
        *self
            .known
            .entry((kind, name.to_string()))
            .or_insert_with(|| {
                let (probe, unknown) = match kind {
                    Kind::Filter => (format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter),
                    Kind::Test => (
                        format!("{{% if none is {name} %}}{{% endif %}}"),
                        ErrorKind::UnknownTest,
                    ),
                };
                !matches!(env.render_str(&probe, ()), Err(e) if e.kind() == unknown)
            })
    }
}

/// Filter and test names in the `{{ }}` / `{% %}` regions of a template.
fn scan(text: &str) -> Vec<Use> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut raw = false;
    while let Some(rel) = text[i..].find('{') {
        let s = i + rel;
        let close = match text.get(s + 1..s + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            _ => {
                i = s + 1;
                continue;
            }
        };
        let end = text[s + 2..]
            .find(close)
            .map(|e| s + 2 + e)
            .unwrap_or(text.len());
        let inner = text[s + 2..end].trim_matches(['-', '+', ' ', '\t', '\n', '\r']);
        let word = inner.split_whitespace().next().unwrap_or_default();
        if close == "%}" && (word == "raw" || word == "endraw") {
            raw = word == "raw";
        } else if !raw {
            out.extend(scan_region(text, s + 2, end, close == "%}"));
        }
        i = (end + 2).min(text.len());
        if i >= text.len() {
            break;
        }
    }
    out
}

/// Names after `|` and `is [not]` (and `{% filter NAME %}`) in
/// `text[start..end]`, outside string literals.
fn scan_region(text: &str, start: usize, end: usize, tag: bool) -> Vec<Use> {
    let b = text.as_bytes();
    let ident_at = |at: usize| -> (usize, usize) {
        let mut j = at;
        while j < end && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let s = j;
        while j < end && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        (s, j)
    };
    let mut out = Vec::new();
    let mut push = |kind, (s, e): (usize, usize)| {
        if e > s && !b[s].is_ascii_digit() {
            out.push(Use {
                kind,
                name: text[s..e].to_string(),
                start: s,
                end: e,
            });
        }
    };
    let mut quote = None;
    let mut i = start;
    let mut first_word = tag;
    while i < end {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'"' || c == b'\'' {
            quote = Some(c);
        } else if c == b'|' {
            push(Kind::Filter, ident_at(i + 1));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let (s, e) = ident_at(i);
            let word = &text[s..e];
            if first_word && word == "filter" {
                push(Kind::Filter, ident_at(e));
            } else if word == "is" && (s == 0 || !is_ident_byte(b[s - 1])) {
                let (ns, ne) = ident_at(e);
                if &text[ns..ne] == "not" {
                    push(Kind::Test, ident_at(ne));
                } else {
                    push(Kind::Test, (ns, ne));
                }
            }
            first_word = false;
            i = e.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, &'static str)> {
        scan(text)
            .into_iter()
            .map(|u| {
                let k = if u.kind == Kind::Filter { "f" } else { "t" };
                assert_eq!(&text[u.start..u.end], u.name);
                (u.name, k)
            })
            .collect()
    }

    #[test]
    fn finds_filters_and_tests_outside_strings() {
        let t = "a | b {{ x | trim | replace('|', \"is x\") }} {% if y is not defined and z is odd %}{% filter upper %}q{% endfilter %}{% endif %}";
        let got = names(t);
        let want = [
            ("trim", "f"),
            ("replace", "f"),
            ("defined", "t"),
            ("odd", "t"),
            ("upper", "f"),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(n, k)| (n.to_string(), *k))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn raw_blocks_and_identifiers_containing_is_are_skipped() {
        assert!(names("{% raw %}{{ x | nope }}{% endraw %}{{ this | length }}").len() == 1);
        assert!(names("{{ axis }} {{ list_is }}").is_empty());
    }
}
