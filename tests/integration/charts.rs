//! Charts through the real binary (issue 13 item 4): a step with `chart=`
//! or a Prometheus result gets an SVG inline in the HTML report and the
//! notebook, written beside the copy as `OUT.md.assets/STEP.svg` (0700 /
//! 0600, never through a planted symlink) and linked from the copy with a
//! text table; the copy still strips back to the source and verifies.
//! Hostile labels are escaped, cut and capped; secrets are redacted.

use crate::common::{Scratch, block_of};
use std::os::unix::fs::PermissionsExt;

/// Three series as text columns, latency in milliseconds.
const TEXT_RUNBOOK: &str = "---\ntitle: Chart demo\n---\n\n# Latency\n\n\
```bash {name=lat chart=line chart_unit=ms}\n\
printf 'host t ms\\n'\n\
for i in 0 1 2 3 4 5; do\n\
  t=$((1796454000 + i * 60))\n\
  printf 'api-1 %s %s\\n' $t $((100 + i * 50))\n\
  printf 'api-2 %s %s\\n' $t $((80 + i * 5))\n\
done\n\
printf 'api-2 1796454400 NaN\\n'\n\
```\n\nAfter the chart.\n";

fn ran_text() -> Scratch {
    let s = Scratch::new();
    s.write("lat.md", TEXT_RUNBOOK);
    s.test()
        .args(["run", "lat.md", "--yes", "-q", "-o", "out.md"])
        .args(["--report-dir", "rep", "--format", "json,html,ipynb"])
        .run();
    s
}

/// The JSON report fits docs/report-schema.json (the `chart` field too).
fn fits_the_schema(json: &serde_json::Value) {
    let schema = crate::reports::schema();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn text_columns_chart_in_copy_assets_html_and_notebook() {
    let s = ran_text();
    let copy = s.read("out.md");
    let block = block_of(&copy, "lat");
    assert!(
        block.contains("![Chart of lat](out.md.assets/lat.svg)"),
        "{block}"
    );
    assert!(
        block.contains("| Series | Min | Max | Last |\n|---|---:|---:|---:|\n"),
        "{block}"
    );
    assert!(
        block.contains("| `api-1` | 100 ms | 350 ms | 350 ms |"),
        "{block}"
    );
    assert!(
        block.contains("| `api-2` | 80 ms | 105 ms | 105 ms |"),
        "{block}"
    );
    // The SVG beside the copy: private directory, private file.
    let svg_path = s.path("out.md.assets/lat.svg");
    assert_eq!(mode(&s.path("out.md.assets")), 0o700);
    assert_eq!(mode(&svg_path), 0o600);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("<title id=\"chart-1-title\">lat — line chart</title>"));
    assert!(
        svg.contains("api-1: min 100 ms, max 350 ms, last 350 ms."),
        "{svg}"
    );
    assert!(
        svg.contains("1 points skipped (NaN, Inf, stale or missing)"),
        "{svg}"
    );
    assert!(svg.contains("Time (2026-12-05 UTC)"), "{svg}");
    assert!(!svg.contains("<script"), "{svg}");
    roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    // The same chart inline in the HTML report.
    let html = s.read("rep/out.html");
    assert!(
        html.contains("<figure class=\"chart\">\n<svg xmlns"),
        "{html}"
    );
    assert_eq!(html.matches("<svg xmlns").count(), 1);
    // The record's summary.
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/out.json")).unwrap();
    fits_the_schema(&json);
    let chart = &json["steps"][0]["chart"];
    assert_eq!(chart["kind"], "line");
    assert_eq!(chart["unit"], "ms");
    assert_eq!(chart["source"], "text");
    assert_eq!(chart["svg"], "out.md.assets/lat.svg");
    assert_eq!(chart["skipped_points"], 1);
    assert_eq!(chart["series"][0]["label"], "api-1");
    assert_eq!(chart["series"][0]["max"], 350.0);
    assert_eq!(chart["series"][1]["points"], 6);
    // The notebook: the chart as an image/svg+xml display_data output.
    let nb: serde_json::Value = serde_json::from_str(&s.read("rep/out.ipynb")).unwrap();
    let cell = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell_type"] == "code")
        .unwrap();
    let display = cell["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["output_type"] == "display_data")
        .expect("a display_data output");
    assert!(
        display["data"]["image/svg+xml"]
            .as_str()
            .unwrap()
            .starts_with("<svg")
    );
    assert!(
        display["data"]["text/plain"][0]
            .as_str()
            .unwrap()
            .starts_with("Line chart of 2 series.")
    );
    if let Some(py) = crate::ipynb::python() {
        let check = std::process::Command::new(py)
            .arg("-c")
            .arg("import sys, nbformat\nnb = nbformat.read(sys.argv[1], as_version=4)\nnbformat.validate(nb)\nprint('valid')")
            .arg(s.path("rep/out.ipynb"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&check.stdout),
            "valid\n",
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn a_copy_with_charts_strips_to_the_source_and_verifies() {
    let s = ran_text();
    s.test()
        .args(["strip", "out.md"])
        .stdout(TEXT_RUNBOOK)
        .run();
    s.test()
        .args(["verify", "out.md", "--source", "lat.md"])
        .stdout_contains("ok")
        .run();
    // Editing the chart's table is tampering.
    let copy = s.read("out.md");
    s.write("tampered.md", &copy.replace("| 350 ms |", "| 35 ms |"));
    s.test().args(["verify", "tampered.md"]).status(1).run();
    // Running again on the copy replaces the chart block (idempotent).
    s.test()
        .args(["run", "out.md", "--yes", "-q", "-o", "again.md"])
        .run();
    let again = s.read("again.md");
    assert_eq!(again.matches("![Chart of lat]").count(), 1, "{again}");
    assert!(s.path("again.md.assets/lat.svg").exists());
}

#[test]
fn an_empty_prometheus_result_says_so_and_draws_nothing() {
    let s = Scratch::new();
    s.write(
        "e.md",
        "```bash {name=q capture=json}\necho '{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}'\n```\n",
    );
    s.test()
        .args([
            "run",
            "e.md",
            "-q",
            "-o",
            "out.md",
            "--report-dir",
            "rep",
            "--format",
            "html,ipynb",
        ])
        .run();
    let block = block_of(&s.read("out.md"), "q");
    assert!(
        block.contains("Chart: `no chart: the result is empty`"),
        "{block}"
    );
    assert!(!block.contains("!["), "{block}");
    assert!(!s.path("out.md.assets").exists());
    let html = s.read("rep/out.html");
    assert!(
        html.contains("<p class=\"chart-note\">no chart: the result is empty</p>"),
        "{html}"
    );
    assert!(!html.contains("<svg"));
    let nb = s.read("rep/out.ipynb");
    assert!(nb.contains("no chart: the result is empty"), "{nb}");
}

#[test]
fn a_single_point_is_drawn_as_a_dot() {
    let s = Scratch::new();
    s.write(
        "one.md",
        "```bash {name=one capture=json}\necho '{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"job\":\"x\"},\"values\":[[1796454000,\"0.25\"]]}]}'\n```\n",
    );
    s.test().args(["run", "one.md", "-q", "-o", "out.md"]).run();
    let svg = s.read("out.md.assets/one.svg");
    assert!(svg.contains("<circle"), "{svg}");
    assert!(!svg.contains("<polyline"), "{svg}");
    assert!(svg.contains("{job=&quot;x&quot;}"), "{svg}");
}

/// Labels an attacker controls (a scraped target's labels): markup,
/// quotes, a huge string, thousands of series, a secret, non-numbers.
#[test]
fn hostile_labels_are_escaped_cut_capped_and_redacted() {
    let s = Scratch::new();
    // A matrix is drawn in label order: these sort before `i0`…`i1999`.
    let huge = format!("b{}", "x".repeat(5000));
    let mut result = vec![
        serde_json::json!({"metric": {"instance": "<script>alert('x')</script>", "job": "\"><img src=x onerror=alert(1)>"},
                           "values": [[1796454000, "1"], [1796454060, "NaN"], [1796454120, "stale"], [1796454180, "+Inf"], [1796454240, "2"]]}),
        serde_json::json!({"metric": {"instance": huge, "job": "a"}, "values": [[1796454000, "3"]]}),
        serde_json::json!({"metric": {"instance": "a-leak", "token": "hunter2-secret-value"}, "values": [[1796454000, "4"]]}),
    ];
    for i in 0..2000 {
        result.push(serde_json::json!({"metric": {"instance": format!("i{i}")}, "values": [[1796454000, "1"]]}));
    }
    let payload = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": result}});
    s.write("payload.json", &payload.to_string());
    s.write(
        "h.md",
        "---\nsecrets:\n  TOKEN: { env: CHART_TOKEN }\n---\n\n```bash {name=h capture=json chart_unit=s}\ncat payload.json\n```\n",
    );
    s.test()
        .args([
            "run",
            "h.md",
            "-q",
            "-o",
            "out.md",
            "--report-dir",
            "rep",
            "--format",
            "json,html,ipynb",
        ])
        .env("CHART_TOKEN", "hunter2-secret-value")
        .run();
    let svg = s.read("out.md.assets/h.svg");
    roxmltree::Document::parse(&svg).expect("well-formed despite the labels");
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("<img"), "{svg}");
    assert!(
        svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{svg}"
    );
    assert!(
        svg.contains("+1991 more series not shown (at most 12 are drawn)"),
        "{svg}"
    );
    assert!(svg.contains("3 points skipped"), "{svg}");
    assert!(!svg.contains(&"x".repeat(100)), "a huge label is cut");
    assert!(svg.contains(&format!("{}…", "x".repeat(20))), "{svg}");
    for (name, text) in [
        ("svg", svg.clone()),
        ("copy", s.read("out.md")),
        ("html", s.read("rep/out.html")),
        ("json", s.read("rep/out.json")),
        ("ipynb", s.read("rep/out.ipynb")),
    ] {
        assert!(
            !text.contains("hunter2-secret-value"),
            "secret in the {name}"
        );
    }
    assert!(svg.contains("[REDACTED:TOKEN]"), "{svg}");
    let copy = s.read("out.md");
    let block = block_of(&copy, "h");
    // Table cells cannot be broken by the labels.
    assert!(block.contains("+1991 more series not shown"), "{block}");
    assert!(
        block.contains("| `{instance=\"<script>alert('x')</script>\", job=\"\\\"><img src=x one…` | 1 s | 2 s | 2 s |"),
        "{block}"
    );
    let json: serde_json::Value = serde_json::from_str(&s.read("rep/out.json")).unwrap();
    assert_eq!(
        json["steps"][0]["chart"]["series"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(json["steps"][0]["chart"]["more_series"], 1991);
    fits_the_schema(&json);
}

#[test]
fn unknown_chart_kinds_and_units_are_refused_by_check_with_position() {
    let s = Scratch::new();
    s.write(
        "bad.md",
        "# x\n\n```bash {name=a chart=lien}\necho 1 2\n```\n\n```bash {name=b chart=pie}\necho 1 2\n```\n\n```bash {name=c chart_unit=\"<b>\"}\necho 1 2\n```\n",
    );
    let out = s.test().args(["check", "bad.md"]).status(2).run();
    let text = format!("{}{}", out.stdout, out.stderr);
    for (want, at) in [
        (
            "error: invalid value `lien` for `chart`: expected line or bar (did you mean `line`?)\n",
            "--> bad.md:3:23\n",
        ),
        (
            "error: invalid value `pie` for `chart`: expected line or bar\n",
            "--> bad.md:7:23\n",
        ),
        (
            "error: invalid value `<b>` for `chart_unit`: expected a short unit such as s, ms, bytes or %\n",
            "--> bad.md:11:28\n",
        ),
    ] {
        let i = text
            .find(want)
            .unwrap_or_else(|| panic!("missing {want:?} in:\n{text}"));
        assert!(
            text[i + want.len()..].trim_start().starts_with(at),
            "{want:?} not at {at:?}:\n{text}"
        );
    }
    assert!(text.contains("3 errors"), "{text}");
    assert!(
        !text.contains("pie` for `chart`: expected line or bar (did you mean"),
        "{text}"
    );
}

#[test]
fn a_planted_symlink_for_the_assets_is_refused_before_anything_runs() {
    let s = Scratch::new();
    s.write("lat.md", TEXT_RUNBOOK);
    let victim = s.path("victim");
    std::fs::create_dir(&victim).unwrap();
    std::os::unix::fs::symlink(&victim, s.path("out.md.assets")).unwrap();
    s.test()
        .args(["run", "lat.md", "--yes", "-q", "-o", "out.md"])
        .status(2)
        .stderr_contains("out.md.assets is a symbolic link: refusing to write through it")
        .run();
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    assert!(!s.path("out.md").exists());

    // A symlink planted for the SVG file itself inside a real assets dir.
    let s = Scratch::new();
    s.write("lat.md", TEXT_RUNBOOK);
    std::fs::create_dir(s.path("out.md.assets")).unwrap();
    s.write("target.txt", "keep me");
    std::os::unix::fs::symlink(s.path("target.txt"), s.path("out.md.assets/lat.svg")).unwrap();
    let out = s
        .test()
        .args(["run", "lat.md", "--yes", "-q", "-o", "out.md"])
        .any_status()
        .run();
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(s.read("target.txt"), "keep me");
}

#[test]
fn assets_planted_during_the_run_lose_the_charts_not_the_record() {
    // The step itself plants the symlink after the up-front checks: the
    // chart is not written through it, the copy is still written (with the
    // text table, no link), and the exit code says a report failed (5).
    let s = Scratch::new();
    let planting = TEXT_RUNBOOK.replacen(
        "printf 'host t ms\\n'\n",
        "ln -s victim out.md.assets\nprintf 'host t ms\\n'\n",
        1,
    );
    assert_ne!(planting, TEXT_RUNBOOK);
    s.write("lat.md", &planting);
    std::fs::create_dir(s.path("victim")).unwrap();
    s.test()
        .args(["run", "lat.md", "--yes", "-q", "-o", "out.md"])
        .status(5)
        .stderr_contains(
            "error: the charts were not written: out.md.assets is a symbolic link: refusing to write through it\n",
        )
        .run();
    assert_eq!(std::fs::read_dir(s.path("victim")).unwrap().count(), 0);
    let copy = s.read("out.md");
    assert!(copy.contains("| Series | Min | Max | Last |"), "{copy}");
    assert!(!copy.contains("out.md.assets/lat.svg"), "{copy}");
    s.test().args(["verify", "out.md"]).run();
}

/// One SVG as it is drawn: two series over ten minutes, latency in
/// seconds (reviewed by eye in docs/report-screenshot-chart.png).
#[test]
fn line_chart_svg_snapshot() {
    let values = |base: f64, step: f64| -> Vec<serde_json::Value> {
        (0..11)
            .map(|i| {
                serde_json::json!([1796454000 + i * 60, format!("{}", base + step * i as f64)])
            })
            .collect()
    };
    let v = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "p90", "job": "api", "instance": "10.0.0.1:9100"}, "values": values(0.12, 0.08)},
        {"metric": {"__name__": "p90", "job": "api", "instance": "10.0.0.2:9100"}, "values": values(0.3, -0.01)},
    ]}});
    let d = runbook::chart::of_json(&v, Some(runbook::chart::ChartKind::Line), Some("s")).unwrap();
    let svg = runbook::chart::svg::render(&d, "latency_hour", "chart-1");
    roxmltree::Document::parse(&svg).expect("well-formed");
    insta::assert_snapshot!("line_chart_svg", svg);
    let v = serde_json::json!({"resultType": "vector", "result": [
        {"metric": {"instance": "a"}, "value": [1796454000, "1610612736"]},
        {"metric": {"instance": "b"}, "value": [1796454000, "524288000"]},
    ]});
    let d = runbook::chart::of_json(&v, None, Some("bytes")).unwrap();
    assert_eq!(d.kind, runbook::chart::ChartKind::Bar);
    let svg = runbook::chart::svg::render(&d, "disk", "chart-2");
    assert!(svg.contains(">1.5 GiB</text>"), "{svg}");
    assert!(svg.contains(">500 MiB</text>"), "{svg}");
}

/// `runbook merge` draws the charts beside the merged copy and links those,
/// not a shard's.
#[test]
fn merged_shards_link_their_own_charts() {
    let s = Scratch::new();
    s.write("lat.md", TEXT_RUNBOOK);
    for (i, dir) in ["a", "b"].iter().enumerate() {
        s.test()
            .args(["run", "lat.md", "--yes", "-q", "--report-dir", dir])
            .args(["--shard", &format!("{}/2", i + 1)])
            .run();
    }
    assert!(s.path("a/lat.md.assets/lat.svg").exists());
    s.test()
        .args(["merge", "a", "b", "--report-dir", "merged"])
        .run();
    let copy = s.read("merged/lat.md");
    let block = block_of(&copy, "lat");
    assert!(
        block.contains("![Chart of lat](lat.md.assets/lat.svg)"),
        "{block}"
    );
    assert_eq!(
        s.read("merged/lat.md.assets/lat.svg"),
        s.read("a/lat.md.assets/lat.svg")
    );
    assert_eq!(mode(&s.path("merged/lat.md.assets")), 0o700);
    s.test()
        .args(["verify", "merged/lat.md"])
        .stdout_contains("ok")
        .run();
}
