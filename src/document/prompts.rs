//! Runme's prompt convention in shell steps: a line `export NAME=[Enter a
//! value]` asks for NAME (no default); in a step that opts in with
//! `promptEnv: yes` (or `true`, `auto`), `export NAME="default"` (or an
//! unquoted plain word) asks too, with that default. Without the opt-in a
//! plain `export` stays a plain `export`. This module only finds those lines
//! (and rewrites them once the values are known); asking is the command
//! line's business, and a step with `promptEnv: no` asks nothing.

use super::Step;
use crate::text::is_identifier;

/// One variable a step asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub name: String,
    /// `None` for a `[placeholder]`.
    pub default: Option<String>,
    /// The placeholder's text (`Enter a value`) or the default, for the question.
    pub hint: String,
    pub step: String,
    /// The line in the runbook.
    pub line: usize,
}

/// `export NAME=...` as Runme reads it: (name, default, hint); `None` for a
/// line that is not a prompt (a value with `$`, quotes inside, commands...).
pub fn parse_line(line: &str) -> Option<(String, Option<String>, String)> {
    let rest = line.trim().strip_prefix("export")?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    let (name, value) = rest.split_once('=')?;
    if !is_identifier(name) {
        return None;
    }
    let plain = |v: &str| {
        !v.contains([
            '$', '`', '"', '\'', '\\', ';', '|', '&', '<', '>', ' ', '(', ')',
        ])
    };
    if let Some(p) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        return (!p.contains(['[', ']', '\n'])).then(|| (name.into(), None, p.to_string()));
    }
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
    let default = match unquoted {
        Some(v) if !v.contains(['"', '\'', '$', '`', '\\']) => v,
        Some(_) => return None,
        None if plain(value) => value,
        None => return None,
    };
    Some((name.into(), Some(default.into()), default.into()))
}

/// Whether a step asks (shell steps, unless `promptEnv: false`).
pub fn asks(step: &Step) -> bool {
    step.is_shell() && step.attrs.prompt_env != Some(false)
}

/// A line of `step` that is a prompt: a `[placeholder]` always, a default
/// only when the step opted in.
pub fn prompt_in(step: &Step, line: &str) -> Option<(String, Option<String>, String)> {
    if !asks(step) {
        return None;
    }
    parse_line(line).filter(|(_, d, _)| d.is_none() || step.attrs.prompt_env == Some(true))
}

/// Every prompt of the steps that ask, in order.
pub fn prompts<'a>(steps: impl Iterator<Item = &'a Step>) -> Vec<Prompt> {
    let mut out = Vec::new();
    for step in steps {
        for (i, line) in step.code.lines().enumerate() {
            if let Some((name, default, hint)) = prompt_in(step, line) {
                out.push(Prompt {
                    name,
                    default,
                    hint,
                    step: step.name.clone(),
                    line: step.code_line + i,
                });
            }
        }
    }
    out
}

/// Whether a variable's value is kept out of sight (echo off, masked in
/// the record): its name says TOKEN, SECRET, PASSWORD or KEY.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY"]
        .iter()
        .any(|w| upper.contains(w))
}

/// `code` with each prompt line for a known value replaced by
/// `export NAME=<quoted value>` (`quote` quotes for the step's shell).
pub fn apply(
    step: &Step,
    code: &str,
    value: &dyn Fn(&str) -> Option<String>,
    quote: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let replaced = prompt_in(step, body).and_then(|(name, _, _)| {
            let v = value(&name)?;
            let indent = &body[..body.len() - body.trim_start().len()];
            Some(format!("{indent}export {name}={}", quote(&v)))
        });
        match replaced {
            Some(r) => {
                out.push_str(&r);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_lines() {
        let p = |l: &str| parse_line(l);
        assert_eq!(
            p("export NAME=[Enter your name]"),
            Some(("NAME".into(), None, "Enter your name".into()))
        );
        assert_eq!(
            p("  export REGION=\"eu-west-1\""),
            Some((
                "REGION".into(),
                Some("eu-west-1".into()),
                "eu-west-1".into()
            ))
        );
        assert_eq!(
            p("export N=3"),
            Some(("N".into(), Some("3".into()), "3".into()))
        );
        assert_eq!(
            p("export E=\"\""),
            Some(("E".into(), Some(String::new()), String::new()))
        );
        for no in [
            "export PATH=$PATH:/x",
            "export A=\"$(id)\"",
            "export A=b c",
            "echo export A=1",
            "export 1A=2",
            "exported A=1",
            "export A=`x`",
        ] {
            assert_eq!(p(no), None, "{no}");
        }
        assert!(looks_secret("GITHUB_TOKEN") && looks_secret("api_key") && !looks_secret("REGION"));
    }

    #[test]
    fn apply_rewrites_only_known_prompts() {
        let code = "echo a\n  export A=[x]\nexport B=\"d\"\r\nexport C=$HOME\nexport D=1\n";
        let text = |attrs: &str| format!("```bash {attrs}\n{code}```\n");
        let step = |attrs: &str| match crate::document::parse("t.md", text(attrs)) {
            Ok(d) => d.steps[0].clone(),
            Err(e) => panic!("{e}"),
        };
        let v = |n: &str| (n != "B").then(|| format!("v-{n}"));
        let q = |s: &str| format!("'{s}'");
        // Placeholders always; defaults only with promptEnv: yes.
        let plain = step("{name=a}");
        assert_eq!(
            apply(&plain, code, &v, &q),
            "echo a\n  export A='v-A'\nexport B=\"d\"\r\nexport C=$HOME\nexport D=1\n"
        );
        let opted = step(r#"{"promptEnv":"yes"}"#);
        assert_eq!(
            apply(&opted, code, &v, &q),
            "echo a\n  export A='v-A'\nexport B=\"d\"\r\nexport C=$HOME\nexport D='v-D'\n"
        );
        assert_eq!(prompts([&plain].into_iter()).len(), 1);
        assert_eq!(prompts([&opted].into_iter()).len(), 3);
        assert!(prompts([&step("{promptEnv=no}")].into_iter()).is_empty());
    }
}
