//! References: every name a template uses must exist when the run renders
//! it. `params.X`, `secrets.X` and `hosts.X` must be declared in the front
//! matter; `steps.X` must name a step that has run by then (not the step
//! itself, not one that only runs later, and none at all in `requires:`,
//! which is rendered before any step); `alert.X` must be a field of an
//! alert (its labels cannot be known before one arrives); any other root is
//! unknown. A literal
//! `host=`/`hosts=` must be declared, a `user@host` address or `all`.
//! Without this rule a typo fails the step that renders it, half-way
//! through a run.

use super::position;
use super::templates::{self, Origin, TEMPLATE_ROOTS};
use crate::document::{Diagnostic, Document, Span, Step};
use regex::Regex;
use std::collections::{BTreeSet, HashSet};

/// Names minijinja itself provides (global functions and loop helpers); not
/// runbook variables, never reported as unknown.
const BUILTINS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
];

/// What a template may refer to.
#[derive(Clone, Copy)]
struct Scope<'a> {
    /// The step the template belongs to, if any (for `steps.X` ordering).
    step: Option<&'a Step>,
    /// `steps.X` is not available at all (front matter preconditions).
    no_steps: bool,
}

impl<'a> Scope<'a> {
    fn step(step: &'a Step) -> Self {
        Scope {
            step: Some(step),
            no_steps: false,
        }
    }
}

/// The reference rules over one document, with the environment templates
/// are compiled in (syntax errors are reported on the way).
pub(super) struct References<'a> {
    doc: &'a Document,
    env: minijinja::Environment<'static>,
}

impl<'a> References<'a> {
    pub(super) fn new(doc: &'a Document) -> Self {
        References {
            doc,
            env: templates::template_env(),
        }
    }

    /// `requires:` entries are templates too, rendered before any step runs.
    pub(super) fn preconditions(&self, out: &mut Vec<Diagnostic>) {
        let req = &self.doc.front.requires;
        let lists: [(&str, &Vec<String>); 4] = [
            ("http", &req.http),
            ("files", &req.files),
            ("check", &req.check),
            ("hosts", &req.hosts),
        ];
        let scope = Scope {
            step: None,
            no_steps: true,
        };
        for (key, items) in lists {
            for item in items {
                if !templated(item) {
                    continue;
                }
                let span = position::front_value(self.doc, &["requires", key], item);
                let span = position::inline(self.doc, span, item);
                self.template(item, Origin::Inline(span), scope, out);
            }
        }
    }

    /// The step body.
    pub(super) fn body(&self, step: &'a Step, out: &mut Vec<Diagnostic>) {
        self.template(step.script(), Origin::Body(step), Scope::step(step), out);
    }

    /// `when=` (an expression, or a template), `cwd=` and `env=` values.
    pub(super) fn attributes(&self, step: &'a Step, out: &mut Vec<Diagnostic>) {
        let scope = Scope::step(step);
        let a = &step.attrs;
        if let Some(when) = &a.when {
            let span = self.value_span(step, "when", when);
            if templated(when) {
                self.template(when, Origin::Inline(span), scope, out);
            } else if let Some(refs) =
                templates::compile_expression(&self.env, self.doc, when, span, out)
            {
                self.check(when, Origin::Inline(span), scope, refs, out);
            }
        }
        if let Some(cwd) = &a.cwd {
            let span = self.value_span(step, "cwd", cwd);
            self.template(cwd, Origin::Inline(span), scope, out);
        }
        if !a.env.is_empty() {
            let span = position::attr(self.doc, step, "env");
            for (_, v) in &a.env {
                let vspan = position::inline(self.doc, span, v);
                self.template(v, Origin::Inline(vspan), scope, out);
            }
        }
    }

    /// `host=` and `hosts=`: a template, or a declared host, a `user@host`
    /// address or `all`.
    pub(super) fn hosts(&self, step: &'a Step, out: &mut Vec<Diagnostic>) {
        let a = &step.attrs;
        for key in ["host", "hosts"] {
            let value = if key == "host" { &a.host } else { &a.hosts };
            let Some(h) = value else { continue };
            let span = self.value_span(step, key, h);
            if templated(h) {
                self.template(h, Origin::Inline(span), Scope::step(step), out);
            } else if !self.doc.front.hosts.contains_key(h) && !h.contains('@') && h != "all" {
                out.push(self.error(
                    span,
                    format!(
                        "unknown host `{h}`: not declared under `hosts:` in the front matter \
                         and not a `user@host` address"
                    ),
                ));
            }
        }
    }

    /// Where the value of attribute `key` stands.
    fn value_span(&self, step: &Step, key: &str, value: &str) -> Span {
        position::inline(self.doc, position::attr(self.doc, step, key), value)
    }

    fn error(&self, span: Span, message: String) -> Diagnostic {
        Diagnostic::at(&self.doc.source, span.start, span.end, message)
    }

    /// Compiles a template (reporting a syntax error) and checks its
    /// references.
    fn template(
        &self,
        text: &str,
        origin: Origin<'a>,
        scope: Scope<'a>,
        out: &mut Vec<Diagnostic>,
    ) {
        if let Some(refs) = templates::compile(&self.env, self.doc, text, origin, out) {
            self.check(text, origin, scope, refs, out);
        }
    }

    fn check(
        &self,
        text: &str,
        origin: Origin<'a>,
        scope: Scope<'a>,
        refs: HashSet<String>,
        out: &mut Vec<Diagnostic>,
    ) {
        let refs: BTreeSet<String> = refs.into_iter().collect();
        // A root used alone and with attributes appears twice; check each
        // distinct (root, name) once.
        let mut done = BTreeSet::new();
        for r in &refs {
            let mut parts = r.split('.');
            let root = parts.next().unwrap_or_default();
            let name = parts.next();
            if !done.insert((root.to_string(), name.map(str::to_string))) {
                continue;
            }
            if !TEMPLATE_ROOTS.contains(&root) {
                if BUILTINS.contains(&root) {
                    continue;
                }
                let span = self.reference_span(text, origin, root, None);
                out.push(self.error(
                    span,
                    format!(
                        "unknown variable `{root}`: templates see params, env, secrets, hosts, run, steps and alert"
                    ),
                ));
                continue;
            }
            let Some(name) = name else { continue };
            if let Some(message) = self.undefined(root, name, scope) {
                let span = self.reference_span(text, origin, root, Some(name));
                out.push(self.error(span, message));
            }
        }
    }

    /// Why `root.name` does not exist for `scope`, if it does not.
    fn undefined(&self, root: &str, name: &str, scope: Scope<'a>) -> Option<String> {
        let front = &self.doc.front;
        match root {
            "params" if !front.params.contains_key(name) => Some(format!(
                "undefined param `{name}`: not declared under `params:` in the front matter"
            )),
            "secrets" if !front.secrets.contains_key(name) => Some(format!(
                "undefined secret `{name}`: not declared under `secrets:` in the front matter"
            )),
            "hosts" if !front.hosts.contains_key(name) => Some(format!(
                "undefined host `{name}`: not declared under `hosts:` in the front matter"
            )),
            "steps" => self.step_reference(name, scope),
            "alert" if !crate::alert::FIELDS.contains(&name) => Some(format!(
                "unknown alert field `{name}`: an alert has {}",
                crate::alert::FIELDS.join(", ")
            )),
            _ => None,
        }
    }

    fn step_reference(&self, name: &str, scope: Scope<'a>) -> Option<String> {
        if scope.no_steps {
            return Some(format!(
                "preconditions run before any step: `steps.{name}` is not available here"
            ));
        }
        let target = self.doc.steps.iter().find(|s| s.name == name);
        match (target, scope.step) {
            (None, _) => Some(format!(
                "undefined step `{name}`: no step is named `{name}`"
            )),
            (Some(t), Some(cur)) if t.index == cur.index => Some(format!(
                "step `{name}` refers to its own result `steps.{name}`"
            )),
            (Some(t), Some(cur)) if t.index > cur.index => Some(format!(
                "step `{}` refers to `steps.{name}`, which only runs later (line {})",
                cur.name, t.line
            )),
            _ => None,
        }
    }

    /// Where a reference stands: inside a `{{ }}`/`{% %}` region if possible.
    fn reference_span(
        &self,
        text: &str,
        origin: Origin<'a>,
        root: &str,
        name: Option<&str>,
    ) -> Span {
        let pat = match name {
            Some(n) => format!(r"\b{}\s*\.\s*{}\b", regex::escape(root), regex::escape(n)),
            None => format!(r"(^|[^.\w]){}\b", regex::escape(root)),
        };
        let found = Regex::new(&pat).ok().and_then(|re| {
            let regions = templates::regions(text);
            let in_region = re.find_iter(text).find(|m| {
                regions.is_empty()
                    || regions
                        .iter()
                        .any(|(s, e)| m.start() >= *s && m.end() <= *e)
            });
            in_region.or_else(|| re.find(text)).map(|m| {
                // Skip the boundary character matched before a bare root.
                let lead = m.as_str().len()
                    - m.as_str()
                        .trim_start_matches(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .len();
                (m.start() + lead, m.end())
            })
        });
        let src = &self.doc.source;
        match found {
            Some((s, e)) => Span::new(origin.map(src, s), origin.map(src, e)),
            None => origin.start(self.doc),
        }
    }
}

/// Whether a value holds template syntax.
fn templated(v: &str) -> bool {
    v.contains("{{") || v.contains("{%")
}

#[cfg(test)]
mod tests {
    use crate::analyze::diagnostics;
    use crate::analyze::testdoc::{doc, named, render};
    use crate::document::{Attrs, Diagnostic};

    #[test]
    fn clean_runbook_has_no_diagnostics() {
        let d = doc(
            "---\nparams:\n  svc: { default: api, choices: [api, worker] }\nsecrets:\n  TOKEN: { env: TOKEN }\nhosts:\n  db1: { ssh: root@10.0.0.5 }\n---\n\n```bash {name=a}\necho {{ params.svc }} {{ secrets.TOKEN }} {{ env.HOME }} {{ run.id }}\n```\n\n```bash {name=b host=db1}\n{% for l in steps.a.stdout.split() %}{{ l }}{{ loop.index }}{% endfor %}\n```\n",
            |i| {
                let mut a = named(["a", "b"][i]);
                if i == 1 {
                    a.host = Some("db1".into());
                }
                a
            },
        );
        assert_eq!(render(&diagnostics(&d)), "");
    }

    #[test]
    fn undefined_references_point_at_the_reference() {
        let d = doc(
            "---\nparams:\n  svc: {}\n---\n```bash {name=a}\necho ok\necho {{ params.nope }} {{ secrets.KEY }}\n  curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}\n```\n",
            |_| named("a"),
        );
        assert_eq!(
            render(&diagnostics(&d)),
            "\
error: undefined param `nope`: not declared under `params:` in the front matter
 --> rb.md:7:9
  |
7 | echo {{ params.nope }} {{ secrets.KEY }}
  |         ^^^^^^^^^^^
error: undefined secret `KEY`: not declared under `secrets:` in the front matter
 --> rb.md:7:27
  |
7 | echo {{ params.nope }} {{ secrets.KEY }}
  |                           ^^^^^^^^^^^
error: undefined host `web`: not declared under `hosts:` in the front matter
 --> rb.md:8:11
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |           ^^^^^^^^^
error: undefined step `zzz`: no step is named `zzz`
 --> rb.md:8:27
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |                           ^^^^^^^^^
error: unknown variable `bogus`: templates see params, env, secrets, hosts, run, steps and alert
 --> rb.md:8:50
  |
8 |   curl {{ hosts.web }}/{{ steps.zzz.stdout }} {{ bogus }}
  |                                                  ^^^^^"
        );
    }

    #[test]
    fn later_step_and_self_references() {
        let d = doc(
            "```bash {name=first}\necho {{ steps.second.stdout }}\n```\n\n```bash {name=second}\necho {{ steps.second.exit_code }} {{ steps.first.stdout }}\n```\n",
            |i| named(["first", "second"][i]),
        );
        let out = diagnostics(&d);
        assert_eq!(
            out.iter().map(Diagnostic::short).collect::<Vec<_>>(),
            vec![
                "rb.md:2:9: error: step `first` refers to `steps.second`, which only runs later (line 5)",
                "rb.md:6:9: error: step `second` refers to its own result `steps.second`",
            ]
        );
    }

    #[test]
    fn when_cwd_env_and_host_attributes_are_checked() {
        let text = "---\nhosts:\n  db1: { ssh: root@h }\n---\n```bash {name=a when=\"steps.b.exit_code == 0\" cwd=\"{{ params.dir }}\" env=\"X={{ secrets.S }}\" host=db9}\necho\n```\n\n```bash {name=b host=root@10.0.0.1 hosts=db1}\necho\n```\n\n```bash {name=c when=\"params.x ==\"}\necho\n```\n";
        let d = doc(text, |i| {
            let mut a = named(["a", "b", "c"][i]);
            match i {
                0 => {
                    a.when = Some("steps.b.exit_code == 0".into());
                    a.cwd = Some("{{ params.dir }}".into());
                    a.env = vec![("X".into(), "{{ secrets.S }}".into())];
                    a.host = Some("db9".into());
                }
                1 => {
                    a.host = Some("root@10.0.0.1".into());
                    a.hosts = Some("db1".into());
                }
                _ => a.when = Some("params.x ==".into()),
            }
            a
        });
        let out = diagnostics(&d);
        let short: Vec<_> = out.iter().map(Diagnostic::short).collect();
        assert_eq!(
            short,
            vec![
                "rb.md:5:23: error: step `a` refers to `steps.b`, which only runs later (line 9)",
                "rb.md:5:47: error: `cwd` is not supported on remote hosts: use `cd` / `export` in the step",
                "rb.md:5:55: error: undefined param `dir`: not declared under `params:` in the front matter",
                "rb.md:5:70: error: `env` is not supported on remote hosts: use `cd` / `export` in the step",
                "rb.md:5:80: error: undefined secret `S`: not declared under `secrets:` in the front matter",
                "rb.md:5:99: error: unknown host `db9`: not declared under `hosts:` in the front matter and not a `user@host` address",
                // The remote-targets rule (`remote.rs`), which runs on the same document.
                "rb.md:9:36: error: step `b` sets both `host` and `hosts`: use `host` for one machine or `hosts` for several, not both",
                "rb.md:13:32: error: expression syntax error: unexpected end of input, expected expression",
            ]
        );
    }

    #[test]
    fn preconditions_cannot_see_steps() {
        let text = "---\nrequires:\n  http: [\"{{ params.url }}/-/ready\", \"{{ steps.a.stdout }}\"]\n---\n";
        let d = doc(text, |_| Attrs::default());
        assert_eq!(
            diagnostics(&d)
                .iter()
                .map(Diagnostic::short)
                .collect::<Vec<_>>(),
            vec![
                "rb.md:3:14: error: undefined param `url`: not declared under `params:` in the front matter",
                "rb.md:3:42: error: preconditions run before any step: `steps.a` is not available here",
            ]
        );
    }
}
