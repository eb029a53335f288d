//! Issue 8, items 8 and 9: no parameter can execute. Every hostile payload
//! goes through the real binary in every shell context (quotes, here-docs,
//! arithmetic, nested shells). For each pair: no marker file appears, and
//! either the value arrives byte for byte or rendering is refused with exit
//! 2 and an exact message naming the step, the line and the context.

use crate::common::*;

/// How a context treats a value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Any value arrives literally.
    Literal,
    /// Arithmetic: integers arrive, anything else is refused.
    Integer(&'static str),
    /// The tool cannot prove the context safe: always refused.
    Refused(&'static str),
}
use Kind::*;

/// Each step body writes the value it received to the file `got`.
const CONTEXTS: &[(&str, &str, Kind)] = &[
    ("unquoted", "printf %s {{ params.v }} > got", Literal),
    ("double", "printf %s \"{{ params.v }}\" > got", Literal),
    ("single", "printf %s '{{ params.v }}' > got", Literal),
    ("ansi-c", "printf %s $'{{ params.v }}' > got", Literal),
    (
        "subst",
        "printf %s \"$(printf %s {{ params.v }})\" > got",
        Literal,
    ),
    (
        "backquote",
        "printf %s \"`printf %s {{ params.v }}`\" > got",
        Literal,
    ),
    ("heredoc", "cat > got <<EOF\n{{ params.v }}\nEOF", Literal),
    (
        "heredoc-quoted",
        "cat > got <<'EOF'\n{{ params.v }}\nEOF",
        Literal,
    ),
    // Arithmetic.
    (
        "arith",
        "printf %s $(( {{ params.v }} )) > got",
        Integer("$(( … ))"),
    ),
    (
        "arith-quoted",
        "printf %s \"$(( {{ params.v }} ))\" > got",
        Integer("$(( … ))"),
    ),
    (
        "arith-cmd",
        "(( x = {{ params.v }} )); printf %s \"$x\" > got",
        Integer("(( … ))"),
    ),
    (
        "arith-bracket",
        "printf %s $[ {{ params.v }} ] > got",
        Integer("$[ … ]"),
    ),
    (
        "arith-for",
        "for (( i = {{ params.v }}; i <= {{ params.v }}; i++ )); do printf %s \"$i\" > got; done",
        Integer("for (( … ))"),
    ),
    (
        "test-eq",
        "[[ {{ params.v }} -eq {{ params.v }} ]] && printf %s {{ params.v }} > got",
        Integer("[[ … -eq … ]]"),
    ),
    (
        "test-eq-quoted",
        "[[ \"{{ params.v }}\" -eq 0 ]] || printf %s {{ params.v }} > got",
        Integer("[[ … -eq … ]]"),
    ),
    (
        "param-expansion",
        "printf %s \"${UNSET_X:-{{ params.v }}}\" > got",
        Integer("${ … }"),
    ),
    (
        "array-subscript",
        "a=(); a[{{ params.v }}]=1; printf %s \"${!a[@]}\" > got",
        Integer("NAME[ … ]"),
    ),
    (
        "let",
        "let \"x = {{ params.v }}\"; printf %s \"$x\" > got",
        Integer("let"),
    ),
    (
        "declare-i",
        "declare -i n={{ params.v }}; printf %s \"$n\" > got",
        Integer("declare -i"),
    ),
    (
        "heredoc-arith",
        "cat > got <<EOF\n$(( {{ params.v }} ))\nEOF",
        Integer("$(( … ))"),
    ),
    // Nested shells: quoted once for the inner shell, once for the outer.
    (
        "bash-c-single",
        "bash -c 'printf %s {{ params.v }} > got'",
        Literal,
    ),
    (
        "sh-c-double",
        "sh -c \"printf %s {{ params.v }} > got\"",
        Literal,
    ),
    (
        "bash-c-inner-double",
        "bash -c 'printf %s \"{{ params.v }}\" > got'",
        Literal,
    ),
    (
        "bash-c-inner-single",
        "bash -c \"printf %s '{{ params.v }}' > got\"",
        Literal,
    ),
    (
        "bash-lc-word",
        "bash -lc printf\\ %s\\ {{ params.v }}\\ \\>\\ got",
        Literal,
    ),
    (
        "eval-double",
        "eval \"printf %s {{ params.v }} > got\"",
        Literal,
    ),
    (
        "eval-words",
        "eval printf %s {{ params.v }} '>' got",
        Literal,
    ),
    (
        "find-exec",
        "find . -maxdepth 0 -exec sh -c 'printf %s {{ params.v }} > got' \\;",
        Literal,
    ),
    (
        "xargs",
        "echo x | xargs sh -c 'printf %s {{ params.v }} > got'",
        Literal,
    ),
    (
        "ssh-single",
        "ssh() { shift; sh -c \"$*\"; }\nssh host 'printf %s {{ params.v }} > got'",
        Literal,
    ),
    (
        "ssh-double",
        "ssh() { shift 3; sh -c \"$*\"; }\nssh -p 22 host \"printf %s {{ params.v }} > got\"",
        Literal,
    ),
    (
        "ssh-bash-c",
        "ssh() { shift; sh -c \"$*\"; }\nssh host \"bash -c 'printf %s {{ params.v }} > got'\"",
        Literal,
    ),
    (
        "kubectl-exec",
        "kubectl() { while [ \"$1\" != -- ]; do shift; done; shift; \"$@\"; }\nkubectl exec pod -- sh -c 'printf %s {{ params.v }} > got'",
        Literal,
    ),
    (
        "docker-exec",
        "docker() { shift 2; \"$@\"; }\ndocker exec c sh -c 'printf %s {{ params.v }} > got'",
        Literal,
    ),
    (
        "bash-c-bash-c",
        "bash -c 'bash -c \"printf %s {{ params.v }} > got\"'",
        Literal,
    ),
    (
        "sh-heredoc",
        "bash <<EOF\nprintf %s {{ params.v }} > got\nEOF",
        Literal,
    ),
    (
        "ssh-heredoc",
        "ssh() { sh; }\nssh host <<'EOF'\nprintf %s {{ params.v }} > got\nEOF",
        Literal,
    ),
    (
        "sh-c-positional",
        "sh -c 'printf %s \"$1\" > got' sh {{ params.v }}",
        Literal,
    ),
    // Not provable: the outer shell expands inside the inner script first.
    (
        "sh-c-outer-expansion",
        "sh -c \"cd $PWD && printf %s {{ params.v }} > got\"",
        Refused("sh -c"),
    ),
    (
        "sh-heredoc-expansion",
        "bash <<EOF\ncd $PWD\nprintf %s {{ params.v }} > got\nEOF",
        Refused("a here-document read by a shell"),
    ),
];

fn payloads(marker: &str) -> Vec<String> {
    [
        "$(touch @M@)",
        "`touch @M@`",
        ";touch @M@",
        "x; touch @M@",
        "x && touch @M@",
        "x | touch @M@",
        "'",
        "\"",
        "it's \"quoted\"",
        "a\ntouch @M@",
        "$((1+1))",
        "x[$(touch @M@)]",
        "a[$(touch @M@)]",
        "'; touch @M@; '",
        "\"; touch @M@; \"",
        "'\"$(touch @M@)\"'",
        "\\",
        "\\'$(touch @M@)",
        "$HOME",
        "${IFS}touch${IFS}@M@",
        "hello world",
        "EOF\ntouch @M@",
        "-n",
        "42",
        "7",
    ]
    .iter()
    .map(|p| p.replace("@M@", marker))
    .collect()
}

const HEAD: &str = "---\nparams:\n  v:\n    required: true\n---\n";

/// What happened to one payload in one context, or why it is wrong.
fn attempt(context: &(&str, &str, Kind), payload: &str) -> Result<(), String> {
    let (name, body, kind) = *context;
    let s = Scratch::new();
    let marker = s.path("PWNED");
    let payload = payload.replace("PWNED_DIR", &s.dir.path().display().to_string());
    s.write("rb.md", &format!("{HEAD}```bash {{name=s}}\n{body}\n```\n"));
    let r = s
        .test()
        .args([
            "run",
            "rb.md",
            "-p",
            &format!("v={payload}"),
            "-o",
            "out.md",
        ])
        .any_status()
        .run();
    let what = format!("context `{name}`, payload {payload:?}");
    if marker.exists() {
        return Err(format!("{what}: EXECUTED\n{}", r.stderr));
    }
    // A here-document read by a shell gets the value quoted for that shell:
    // it cannot end the document early.
    let heredoc_end =
        matches!(name, "heredoc" | "heredoc-quoted") && payload.lines().any(|l| l == "EOF");
    let integer = payload.parse::<i64>().is_ok();
    let refusal = match kind {
        Refused(trigger) => Some(format!(
            "a value in the script run by `{trigger}` cannot be proven safe: the outer shell \
             expands `$` or `` ` `` in that script first; pass the value as an argument \
             (`sh -c '… \"$1\"' sh VALUE`) or through env="
        )),
        Integer(what) if !integer => Some(format!(
            "a value in `{what}` must be an integer literal (arithmetic can run commands), got {payload:?}"
        )),
        _ if heredoc_end => {
            Some("a value would end the here-document `EOF` early; refusing to render".into())
        }
        _ => None,
    };
    match refusal {
        Some(message) => {
            let line = 6 + body
                .lines()
                .position(|l| l.contains("{{"))
                .map_or(1, |p| p + 1);
            let want = format!("error: template error in step `s`: {message}\n");
            let at = format!("--> rb.md:{line}:1");
            if r.code != 2 || !r.stderr.contains(&want) || !r.stderr.contains(&at) {
                return Err(format!(
                    "{what}: expected exit 2 with\n{want}{at}\ngot exit {}:\n{}",
                    r.code, r.stderr
                ));
            }
            if s.path("got").exists() {
                return Err(format!("{what}: refused, yet the step ran"));
            }
        }
        None => {
            let got = std::fs::read_to_string(s.path("got")).unwrap_or_default();
            let got = got.strip_suffix('\n').filter(|_| body.contains("<<"));
            let got = got
                .map(str::to_string)
                .unwrap_or_else(|| std::fs::read_to_string(s.path("got")).unwrap_or_default());
            if r.code != 0 || got != payload {
                return Err(format!(
                    "{what}: expected the value intact, got exit {} and {got:?}\n{}",
                    r.code, r.stderr
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn no_payload_executes_in_any_context() {
    let payloads = payloads("PWNED_DIR/PWNED");
    let work: Vec<(usize, &String)> = (0..CONTEXTS.len())
        .flat_map(|c| payloads.iter().map(move |p| (c, p)))
        .collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = work
            .chunks(work.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|(c, p)| attempt(&CONTEXTS[*c], p).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n\n{}",
        failures.len(),
        work.len(),
        failures.join("\n\n")
    );
}

#[test]
fn arithmetic_refusal_comes_before_anything_runs() {
    let s = Scratch::new();
    s.write(
        "rb.md",
        &format!(
            "{HEAD}```bash {{name=first}}\ntouch first-ran\n```\n\n```bash {{name=count}}\necho ok\necho $(( {{{{ params.v }}}} + 1 ))\n```\n"
        ),
    );
    s.test()
        .args(["run", "rb.md", "-p", "v=a[$(touch PWNED)]", "-o", "out.md"])
        .status(2)
        .stderr_contains("error: template error in step `count`: a value in `$(( … ))` must be an integer literal (arithmetic can run commands), got \"a[$(touch PWNED)]\"\n")
        .stderr_contains("--> rb.md:12:1")
        .run();
    assert!(
        !s.path("first-ran").exists(),
        "a step ran before the refusal"
    );
    assert!(!s.path("PWNED").exists());
    assert!(block_of(&s.read("out.md"), "count").contains("failed"));
}

#[test]
fn a_step_result_in_arithmetic_is_checked_when_it_is_known() {
    let s = Scratch::new();
    s.write(
        "rb.md",
        "```bash {name=a}\necho 'x[$(touch PWNED)]'\n```\n\n```bash {name=b}\necho $(( {{ steps.a.stdout | trim }} + 1 ))\n```\n",
    );
    // A dry run cannot know a's output: a placeholder, not a refusal.
    s.test()
        .args(["run", "rb.md", "--dry-run", "-o", "dry.md"])
        .run();
    assert!(block_of(&s.read("dry.md"), "b").contains("⟨steps.a.stdout⟩"));
    let r = s
        .test()
        .args(["run", "rb.md", "-o", "out.md"])
        .status(1)
        .run();
    assert!(
        r.stderr.contains(
            "template error in step `b`: a value in `$(( … ))` must be an integer literal (arithmetic can run commands), got \"x[$(touch PWNED)]\""
        ),
        "{}",
        r.stderr
    );
    assert!(!s.path("PWNED").exists());
    // An integer result is used as it is.
    s.write(
        "ok.md",
        "```bash {name=a}\necho 41\n```\n\n```bash {name=b}\necho $(( {{ steps.a.stdout | trim }} + 1 )) > got\n```\n",
    );
    s.test().args(["run", "ok.md", "-o", "ok.out.md"]).run();
    assert_eq!(s.read("got"), "42\n");
}

#[test]
fn check_warns_on_templates_in_interpreter_steps() {
    let s = Scratch::new();
    s.write(
        "rb.md",
        "---\nparams:\n  v: {default: x}\n---\n```python {name=py}\nprint(\"{{ params.v }}\")\n```\n\n```ruby {name=rb}\nputs 1\n```\n",
    );
    let r = s.test().args(["check", "rb.md"]).run();
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains(
            "warning: step `py` pastes a template value into `python3` code without any quoting: a parameter can run code there; pass it with env= (`env=\"NAME={{ params.x }}\"`) and read it from the environment\n --> rb.md:6:8\n"
        ),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(!all.contains("step `rb`"), "{all}");
}
