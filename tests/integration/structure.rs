//! Issue 9: the module rules hold structurally, checked on every test run.
//! `cli` is the only module that knows clap; `exec` knows neither Markdown
//! nor the record; the engine sees no report file; a file a user names is
//! read only through `input` (bounded); no source file is over 800 lines
//! and no function outside tests over 120.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Files under `prefix` whose code mentions `needle`.
fn users(prefix: &str, needle: &str) -> Vec<String> {
    all()
        .into_iter()
        .filter(|(p, text)| p.starts_with(prefix) && text.contains(needle))
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn only_cli_knows_the_command_line() {
    let outside: Vec<String> = users("src/", "crate::cli")
        .into_iter()
        .filter(|p| !p.starts_with("src/cli/"))
        .collect();
    assert_eq!(outside, Vec::<String>::new());
    let clap: Vec<String> = users("src/", "clap::")
        .into_iter()
        .filter(|p| !p.starts_with("src/cli/"))
        .collect();
    assert_eq!(clap, Vec::<String>::new());
}

#[test]
fn the_engine_sees_no_report_file_and_no_terminal_view() {
    for needle in [
        "crate::report::registry",
        "crate::report::terminal",
        "crate::cli",
    ] {
        assert_eq!(
            users("src/engine/", needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}

#[test]
fn exec_knows_neither_markdown_nor_the_record() {
    for needle in ["crate::document", "crate::record", "crate::engine"] {
        assert_eq!(users("src/exec/", needle), Vec::<String>::new(), "{needle}");
    }
}

#[test]
fn document_never_runs_anything() {
    for needle in ["crate::exec", "crate::engine", "std::process"] {
        assert_eq!(
            users("src/document/", needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}

#[test]
fn files_users_name_are_read_only_through_input() {
    // exec reads /proc and its own state files; safe_fs its own lock.
    let allowed = ["src/exec/", "src/input.rs", "src/safe_fs.rs"];
    let readers: Vec<String> = all()
        .into_iter()
        .filter(|(p, _)| !allowed.iter().any(|a| p.starts_with(a)))
        .filter(|(_, text)| text.contains("fs::read_to_string(") || text.contains("fs::read("))
        .map(|(p, _)| p)
        .collect();
    assert!(readers.is_empty(), "{readers:?}");
}

#[test]
fn no_source_file_over_800_lines() {
    let long: Vec<(String, usize)> = all()
        .into_iter()
        .map(|(p, t)| (p, t.lines().count()))
        .filter(|(_, n)| *n > 800)
        .collect();
    assert_eq!(long, Vec::new());
}

/// Each `fn` outside `#[cfg(test)]` modules with its length in lines
/// (from its signature to its closing brace, by brace depth).
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let test_mod = lines
        .iter()
        .position(|l| l.trim_start().starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..test_mod].iter().enumerate() {
        let t = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(super) fn ",
            "pub(super) async fn ",
            "pub(crate) fn ",
            "pub(crate) async fn ",
        ]
        .iter()
        .any(|p| t.starts_with(p));
        if !is_fn {
            continue;
        }
        let mut depth = 0i32;
        let mut opened = false;
        for (j, l) in lines[i..].iter().enumerate() {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                out.push((t.chars().take(60).collect(), j + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_over_120_lines_outside_tests() {
    let mut long = Vec::new();
    for (path, text) in all() {
        for (sig, n) in functions(&text) {
            if n > 120 {
                long.push(format!("{path}: {n} lines: {sig}"));
            }
        }
    }
    assert_eq!(long, Vec::<String>::new());
}
