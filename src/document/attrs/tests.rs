//! Unit tests of the attribute parser and validator.

use super::*;

fn err(text: &str) -> Vec<(String, usize, usize)> {
    match parse(text, 100) {
        Ok(a) => panic!("parsed {text}: {a:?}"),
        Err(es) => es
            .into_iter()
            .map(|e| (e.message, e.span.start - 100, e.span.end - 100))
            .collect(),
    }
}

fn one(text: &str) -> (String, usize, usize) {
    let mut es = err(text);
    assert_eq!(es.len(), 1, "{es:?}");
    es.remove(0)
}

fn ok(text: &str) -> Attrs {
    match parse(text, 0) {
        Ok(a) => a,
        Err(e) => panic!("{text}: {e:?}"),
    }
}

#[test]
fn key_value_form() {
    let a = ok(
        r#" {name=deploy confirm="Really \"sure\"?" timeout=30s retries=2 retry_delay=500ms allow_failure when="{{ x }}" host=db1 hosts=web cwd=/tmp env="A=1 B=x=y" capture=json safe expect_status=2xx,404 interactive=false}"#,
    );
    assert_eq!(a.name.as_deref(), Some("deploy"));
    assert_eq!(a.confirm, Some(Confirm::Message("Really \"sure\"?".into())));
    assert_eq!(a.timeout, Some(Duration::from_secs(30)));
    assert_eq!(a.retries, 2);
    assert_eq!(a.retry_delay, Some(Duration::from_millis(500)));
    assert!(a.allow_failure && a.safe && !a.skip);
    assert_eq!(a.when.as_deref(), Some("{{ x }}"));
    assert_eq!(a.host.as_deref(), Some("db1"));
    assert_eq!(a.hosts.as_deref(), Some("web"));
    assert_eq!(a.cwd.as_deref(), Some("/tmp"));
    assert_eq!(
        a.env,
        vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
    );
    assert_eq!(a.capture, Some(Capture::Json));
    assert_eq!(a.expect_status.as_deref(), Some("2xx,404"));
    assert_eq!(a.interactive, Some(false));
    assert_eq!(a.span_of("name"), Some(Span::new(2, 13)));
    assert_eq!(a.span_of("safe"), Some(Span::new(167, 171)));
    assert_eq!(a.spans.len(), 15);
}

#[test]
fn flags_accept_booleans() {
    let a = ok("{confirm=true safe=false skip=false allow_failure=true}");
    assert_eq!(a.confirm, Some(Confirm::Default));
    assert!(!a.safe && !a.skip && a.allow_failure);
    assert_eq!(ok("{confirm=false}").confirm, None);
    assert_eq!(ok("{ confirm }").confirm, Some(Confirm::Default));
    assert!(ok("{skip}").skip);
    assert!(ok("").spans.is_empty());
    assert!(ok("  {}  ").spans.is_empty());
}

#[test]
fn runme_json_form() {
    let a = ok(
        r#" {"name":"setup","interactive":"false","background":false,"terminalRows":20,"id":"01HF","interpreter":"bash -x","closeTerminalOnSuccess":null}"#,
    );
    assert_eq!(a.name.as_deref(), Some("setup"));
    assert_eq!(a.interactive, Some(false));
    assert_eq!(a.interpreter.as_deref(), Some("bash -x"));
    assert_eq!(a.span_of("name"), Some(Span::new(2, 16)));
    let a = ok(r#"{ "timeout": 5, "confirm": "Go \"now\"?", "safe": true, }"#);
    assert_eq!(a.timeout, Some(Duration::from_secs(5)));
    assert_eq!(a.confirm, Some(Confirm::Message("Go \"now\"?".into())));
    assert!(a.safe);
}

#[test]
fn runme_options_with_go_booleans() {
    for t in ["true", "True", "TRUE", "t", "T", "1"] {
        let a = ok(&format!(
            r#"{{"background":"{t}","excludeFromRunAll":"{t}","interactive":"{t}"}}"#
        ));
        assert!(
            a.background && a.exclude_from_run_all && a.interactive == Some(true),
            "{t}"
        );
    }
    for f in ["false", "False", "FALSE", "f", "F", "0"] {
        let a = ok(&format!(
            r#"{{"background":"{f}","interactive":"{f}","safe":"{f}"}}"#
        ));
        assert!(
            !a.background && a.interactive == Some(false) && !a.safe,
            "{f}"
        );
    }
    // `""` is Runme's "not set"; `language`, lowercase `mimetype`, `id` are known.
    let a = ok(
        r#"{"name":"lint:nix","cwd":"","timeout":"","language":"sh","mimetype":"text/plain","id":"01J","promptEnv":"no"}"#,
    );
    assert_eq!(a.name.as_deref(), Some("lint:nix"));
    assert_eq!((a.cwd, a.timeout, a.prompt_env), (None, None, Some(false)));
    assert!(a.warnings.is_empty());
    assert_eq!(
        one(r#"{"excludeFromRunAll":"maybe"}"#).0,
        "invalid value `maybe` for `excludeFromRunAll`: expected true or false"
    );
}

#[test]
fn unknown_attribute() {
    assert_eq!(
        one("{name=a tiemout=3s}"),
        (
            "unknown attribute `tiemout` (did you mean `timeout`?)".into(),
            8,
            15
        )
    );
    // Not a near-miss: a warning, the block still a step.
    let a = ok("{frobnicate tag=db,slow category=ops}");
    assert_eq!(a.warnings.len(), 1);
    assert_eq!(
        a.warnings[0].message,
        "unknown attribute `frobnicate` is ignored"
    );
    assert_eq!((a.warnings[0].span.start, a.warnings[0].span.end), (1, 11));
    assert_eq!(a.tags, ["db", "slow", "ops"]);
    assert_eq!(
        one(r#"{"nmae":"x"}"#),
        (
            "unknown attribute `nmae` (did you mean `name`?)".into(),
            2,
            6
        )
    );
}

#[test]
fn bad_values() {
    assert_eq!(
        one("{timeout=abc}"),
        (
            "invalid value `abc` for `timeout`: `abc` is not a duration (expected e.g. 30s, 500ms, 5m, 1h30m)".into(),
            9,
            12
        )
    );
    assert_eq!(
        one("{retry_delay=3x}"),
        (
            "invalid value `3x` for `retry_delay`: `3x` has an unknown unit `x` (use ms, s, m or h)".into(),
            13,
            15
        )
    );
    assert_eq!(
        one("{retries=-1}"),
        (
            "invalid value `-1` for `retries`: expected a whole number, e.g. 3".into(),
            9,
            11
        )
    );
    assert_eq!(
        one("{safe=yes}"),
        (
            "invalid value `yes` for `safe`: expected true or false".into(),
            6,
            9
        )
    );
    assert_eq!(
        one("{capture=xml}"),
        (
            "invalid value `xml` for `capture`: expected json or text".into(),
            9,
            12
        )
    );
    assert_eq!(
        one(r#"{env="A=1 B"}"#),
        (
            "invalid value `A=1 B` for `env`: expected K=V pairs separated by spaces, e.g. env=\"A=1 B=2\"".into(),
            5,
            12
        )
    );
    assert_eq!(
        one("{expect_status=20}"),
        (
            "invalid value `20` for `expect_status`: expected statuses like 200, 2xx or 200,404"
                .into(),
            15,
            17
        )
    );
    assert_eq!(
        one(r#"{"name":" x"}"#),
        (
            "invalid value ` x` for `name`: a name has no control characters and no blanks around it".into(),
            8,
            12
        )
    );
    assert_eq!(
        one(r#"{confirm=""}"#),
        (
            "invalid value `` for `confirm`: the message is empty".into(),
            9,
            11
        )
    );
    assert_eq!(
        one("{timeout}"),
        (
            "attribute `timeout` needs a value, e.g. `timeout=...`".into(),
            1,
            8
        )
    );
    assert_eq!(
        one("{host=}"),
        (
            "attribute `host` needs a value, e.g. `host=...`".into(),
            6,
            6
        )
    );
    assert_eq!(
        one("{name=a name=b}"),
        ("duplicate attribute `name`".into(), 8, 12)
    );
}

#[test]
fn every_problem_is_reported() {
    assert_eq!(
        err("{tiemout=1 retries=x safe=2}")
            .into_iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [
            "unknown attribute `tiemout` (did you mean `timeout`?)",
            "invalid value `x` for `retries`: expected a whole number, e.g. 3",
            "invalid value `2` for `safe`: expected true or false",
        ]
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(one("{name=a"), ("unclosed `{` in attributes".into(), 0, 1));
    assert_eq!(
        one(r#" {confirm="oops}"#),
        ("unterminated string in attributes".into(), 10, 11)
    );
    assert_eq!(
        one("{name=a} extra"),
        ("unexpected text after the attributes".into(), 9, 14)
    );
    assert_eq!(
        one("title=x"),
        (
            "expected attributes in braces after the language, e.g. `{name=x}`".into(),
            0,
            7
        )
    );
    assert_eq!(one("{=x}"), ("unexpected `=` in attributes".into(), 1, 2));
    assert_eq!(
        one(r#"{a"b=1}"#),
        ("unexpected `\"` in attributes".into(), 2, 3)
    );
    assert_eq!(
        one(r#"{name=a"b"}"#),
        (
            "unexpected `\"` in a value (quote the whole value)".into(),
            7,
            8
        )
    );
    assert_eq!(
        one(r#"{name="a"b}"#),
        ("unexpected `b` after a quoted value".into(), 9, 10)
    );
    assert_eq!(
        one(r#"{"name" "x"}"#),
        (
            "expected `:` after `\"name\"` in JSON attributes".into(),
            8,
            9
        )
    );
    assert_eq!(
        one(r#"{"name":["x"]}"#),
        (
            "unsupported JSON value in attributes (use a string, number or boolean)".into(),
            8,
            9
        )
    );
    assert_eq!(
        one(r#"{"name":"x" "a":1}"#),
        (
            "expected `,` or `}` in JSON attributes, found `\"`".into(),
            12,
            13
        )
    );
    assert_eq!(
        one(r#"{"name":"x", a:1}"#),
        (
            "expected a quoted key in JSON attributes, found `a`".into(),
            13,
            14
        )
    );
    assert_eq!(
        one(r#"{"name":"\q"}"#),
        ("invalid JSON string in attributes".into(), 8, 12)
    );
    assert_eq!(
        one(r#"{"name":"x""#),
        ("unclosed `{` in attributes".into(), 0, 1)
    );
    assert_eq!(
        one(r#"{"name":"x}"#),
        ("unterminated string in attributes".into(), 8, 9)
    );
}

#[test]
fn split_and_suggest() {
    assert_eq!(split_info("bash {x}"), ("bash", " {x}", 4));
    assert_eq!(split_info("sh{x}"), ("sh", "{x}", 2));
    assert_eq!(split_info("{interpreter=x}"), ("", "{interpreter=x}", 0));
    assert_eq!(suggest("retires"), Some("retries"));
    assert_eq!(suggest("Name"), Some("name"));
    assert_eq!(suggest("zzzzzz"), None);
    assert!(valid_name("a.b-c_1") && valid_name("_x") && valid_name("9"));
    assert!(valid_name("lint:nix") && valid_name("build:qcow2:image") && valid_name("../x"));
    assert!(!valid_name("") && !valid_name(" a") && !valid_name("a\nb"));
}

mod env {
    use super::super::parse_env;

    #[test]
    fn env_pairs_with_templates_holding_spaces() {
        assert_eq!(
            parse_env("A=1 B={{ params.x }} C={{ secrets.T | default('a b') }}"),
            Some(vec![
                ("A".into(), "1".into()),
                ("B".into(), "{{ params.x }}".into()),
                ("C".into(), "{{ secrets.T | default('a b') }}".into()),
            ])
        );
        assert_eq!(parse_env("A=1 nope"), None);
        assert_eq!(parse_env("nope"), None);
        assert_eq!(parse_env("A={{ x"), None);
    }
}
