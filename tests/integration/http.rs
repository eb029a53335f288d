//! HTTP steps against a real Prometheus on 127.0.0.1, plus local TCP
//! listeners for the failure modes (no answer, refused, huge body).

use crate::support::prometheus::Prometheus;
use runbook::exec::http::{
    HttpError, MAX_BODY_BYTES, parse_request, response_text, send, status_matches,
};
use runbook::exec::process::Interrupt;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

fn no_interrupts() -> (
    tokio::sync::watch::Sender<Interrupt>,
    tokio::sync::watch::Receiver<Interrupt>,
) {
    tokio::sync::watch::channel(Interrupt::None)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_query_against_prometheus() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let req = parse_request(&format!(
        "# current targets\nGET {}/api/v1/query?query=up HTTP/1.1\nAccept: application/json\n",
        prom.url()
    ))
    .unwrap();
    let (_tx, rx) = no_interrupts();
    let resp = send(&req, Some(Duration::from_secs(10)), rx).await;
    assert_eq!(resp.error, None);
    assert_eq!(resp.status, Some(200));
    assert_eq!(resp.reason, "OK");
    assert_eq!(resp.version, "HTTP/1.1");
    assert!(!resp.truncated);
    assert_eq!(status_matches(None, 200), Ok(true));
    let ct = resp
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(ct, Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["status"], "success");
    let result = json["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["metric"]["job"], "prometheus");
    assert_eq!(
        result[0]["metric"]["instance"],
        format!("127.0.0.1:{}", prom.port)
    );
    assert_eq!(result[0]["value"][1], "1");

    let text = response_text(&resp);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(
        text.contains("\ncontent-type: application/json\n"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\n\n{}\n", resp.body_text())),
        "{text}"
    );

    let record = runbook::record::HttpRecord::from_exchange(&req, &resp);
    assert_eq!(record.method, "GET");
    assert_eq!(record.status, Some(200));
    assert_eq!(record.error, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn query_with_spaces_and_continuation_lines_is_encoded() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let req = parse_request(&format!(
        "GET {}/api/v1/query\n    ?query=count by (job) (up)\n",
        prom.url()
    ))
    .unwrap();
    let (_tx, rx) = no_interrupts();
    let resp = send(&req, Some(Duration::from_secs(10)), rx).await;
    assert_eq!(resp.status, Some(200), "{}", response_text(&resp));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["data"]["result"][0]["metric"]["job"], "prometheus");
    assert_eq!(json["data"]["result"][0]["value"][1], "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn expect_status_mismatch_on_not_found() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let req = parse_request(&format!("{}/api/v1/no-such-endpoint", prom.url())).unwrap();
    let (_tx, rx) = no_interrupts();
    let resp = send(&req, Some(Duration::from_secs(10)), rx).await;
    assert_eq!(resp.error, None);
    assert_eq!(resp.status, Some(404));
    assert_eq!(status_matches(None, 404), Ok(false));
    assert_eq!(status_matches(Some("200"), 404), Ok(false));
    assert_eq!(status_matches(Some("2xx,404"), 404), Ok(true));
    assert_eq!(status_matches(Some("4xx"), 404), Ok(true));
    assert!(response_text(&resp).starts_with("HTTP/1.1 404 Not Found\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn post_form_with_headers_and_body() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let (_tx, rx) = no_interrupts();
    let form = |body: &str| {
        parse_request(&format!(
            "POST {}/api/v1/query HTTP/1.1\n\
             Content-Type: application/x-www-form-urlencoded\n\
             Accept: application/json\n\
             \n\
             {body}\n",
            prom.url()
        ))
        .unwrap()
    };
    let req = form("query=up%20%3D%3D%201");
    assert_eq!(req.body.as_deref(), Some("query=up%20%3D%3D%201"));
    let resp = send(&req, Some(Duration::from_secs(10)), rx.clone()).await;
    assert_eq!(resp.status, Some(200), "{}", response_text(&resp));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["result"][0]["metric"]["job"], "prometheus");
    assert_eq!(json["data"]["result"][0]["value"][1], "1");

    // A second form field is read too: evaluated in 2023, before this
    // Prometheus existed, the query has no samples.
    let req = form("query=up&time=1700000000");
    let resp = send(&req, Some(Duration::from_secs(10)), rx.clone()).await;
    assert_eq!(resp.status, Some(200), "{}", response_text(&resp));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["data"]["result"], serde_json::json!([]));

    // Without the form content type Prometheus never sees the query: the
    // header is what made the difference.
    let bare = parse_request(&format!("POST {}/api/v1/query\n\nquery=up\n", prom.url())).unwrap();
    let resp = send(&bare, Some(Duration::from_secs(10)), rx).await;
    assert_eq!(resp.status, Some(400), "{}", response_text(&resp));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json["errorType"], "bad_data");
}

/// Accepts connections and never answers.
fn silent_listener() -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        if let Ok((s, _)) = l.accept() {
            held.push(s);
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    (port, h)
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_when_the_server_never_answers() {
    let (port, _h) = silent_listener();
    let req = parse_request(&format!("GET http://127.0.0.1:{port}/slow")).unwrap();
    let (_tx, rx) = no_interrupts();
    let resp = send(&req, Some(Duration::from_millis(500)), rx).await;
    assert_eq!(resp.status, None);
    assert_eq!(
        resp.error,
        Some(HttpError::TimedOut(Duration::from_millis(500)))
    );
    assert!(resp.elapsed >= Duration::from_millis(500));
    assert!(resp.elapsed < Duration::from_secs(3), "{:?}", resp.elapsed);
    assert_eq!(
        response_text(&resp),
        "error: no complete response within 500ms\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_stops_a_waiting_request() {
    let (port, _h) = silent_listener();
    let req = parse_request(&format!("GET http://127.0.0.1:{port}/slow")).unwrap();
    let (tx, rx) = no_interrupts();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(Interrupt::Graceful);
        // Keep the sender alive past the request.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let resp = send(&req, None, rx).await;
    assert_eq!(resp.error, Some(HttpError::Interrupted));
    assert!(resp.elapsed < Duration::from_secs(3), "{:?}", resp.elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused() {
    let port = crate::support::free_port();
    let req = parse_request(&format!("GET http://127.0.0.1:{port}/")).unwrap();
    let (_tx, rx) = no_interrupts();
    // Spawned: the runner may run HTTP steps on their own task.
    let spawned = req.clone();
    let resp = tokio::spawn(async move { send(&spawned, Some(Duration::from_secs(5)), rx).await })
        .await
        .unwrap();
    assert_eq!(
        resp.error,
        Some(HttpError::Failed("connection refused".into()))
    );
    assert_eq!(
        runbook::record::HttpRecord::from_exchange(&req, &resp)
            .error
            .as_deref(),
        Some("connection refused")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn body_is_cut_at_the_limit() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let total = MAX_BODY_BYTES + 1024 * 1024;
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {total}\r\n\r\n"
            );
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        }
    });
    let req = parse_request(&format!("GET http://127.0.0.1:{port}/big")).unwrap();
    let (_tx, rx) = no_interrupts();
    let resp = send(&req, Some(Duration::from_secs(20)), rx).await;
    assert_eq!(resp.error, None);
    assert_eq!(resp.status, Some(200));
    assert!(resp.truncated);
    assert_eq!(resp.body.len(), MAX_BODY_BYTES);
    assert!(response_text(&resp).ends_with("a\n[body cut at 16 MiB]\n"));
}

#[test]
fn parse_errors_name_the_line() {
    let err = |t: &str| parse_request(t).unwrap_err().to_string();
    assert_eq!(
        err("# only a comment\n\n"),
        "line 2: no request line: expected `METHOD URL` or a URL"
    );
    assert_eq!(
        err(""),
        "line 1: no request line: expected `METHOD URL` or a URL"
    );
    assert_eq!(
        err("# c\nFETCH http://127.0.0.1/\n"),
        "line 2: unknown method `FETCH` (expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, TRACE, CONNECT)"
    );
    assert_eq!(err("POST\n"), "line 1: `POST` needs a URL");
    assert_eq!(err("GET HTTP/1.1\n"), "line 1: `GET` needs a URL");
    assert_eq!(
        err("GET /api/v1/query\n"),
        "line 1: invalid URL `/api/v1/query`: relative URL without a base"
    );
    assert_eq!(
        err("GET ftp://127.0.0.1/x\n"),
        "line 1: unsupported URL scheme `ftp` in `ftp://127.0.0.1/x` (use http or https)"
    );
    assert_eq!(
        err("GET http://127.0.0.1/\nAccept: */*\nnot a header\n"),
        "line 3: expected a header `Name: value` or a blank line before the body, found `not a header`"
    );
    assert_eq!(
        err("GET http://127.0.0.1/\nBad Name: x\n"),
        "line 2: invalid header name `Bad Name`"
    );
    assert_eq!(
        err("GET http://127.0.0.1/a\n\n{}\n\n### second\nGET http://127.0.0.1/b\n"),
        "line 5: `###` starts a second request: put each request in its own http block"
    );
    assert_eq!(
        err("GET http://127.0.0.1/a\nAccept: */*\n###\nGET http://127.0.0.1/b\n"),
        "line 3: `###` starts a second request: put each request in its own http block"
    );
    // A leading `###` line is only a comment.
    assert_eq!(
        parse_request("### levels\nGET http://127.0.0.1/a\n")
            .unwrap()
            .url,
        "http://127.0.0.1/a"
    );
    let e = parse_request("\n\nGET http://127.0.0.1/\nX: 1\n: v\n").unwrap_err();
    assert_eq!(e.line, 5);
    assert_eq!(e.message, "invalid header name ``");
}

/// The incident fixture (fixtures/incident/) serves a latency histogram in
/// which 127.0.0.1 is clearly the slowest instance; the runbook's default
/// query finds it. The end-to-end test of runbooks/p90-latency.md relies on
/// this.
#[tokio::test(flavor = "multi_thread")]
async fn incident_fixture_has_one_noisy_instance() {
    let query = r#"histogram_quantile(0.9, sum by (instance, le) (rate(http_request_duration_seconds_bucket{service="my_service"}[5m])))"#;
    let runbook = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/runbooks/p90-latency.md"
    ))
    .unwrap();
    assert!(runbook.contains(&format!("default: '{query}'")));
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incident");
    let Some(prom) = Prometheus::start_fixture(&fixture, query) else {
        return;
    };
    // Wait for enough samples that rate() sees every bucket.
    let req = parse_request(&format!(
        "GET {}/api/v1/query?query={}",
        prom.url(),
        crate::support::prometheus::encode_query(query)
    ))
    .unwrap();
    let mut levels = Vec::new();
    for _ in 0..50 {
        let (_tx, rx) = no_interrupts();
        let resp = send(&req, Some(Duration::from_secs(10)), rx).await;
        assert_eq!(resp.status, Some(200), "{}", response_text(&resp));
        let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        levels = json["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| {
                let v: f64 = s["value"][1].as_str()?.parse().ok()?;
                Some((s["metric"]["instance"].as_str()?.to_string(), v))
            })
            .filter(|(_, v)| v.is_finite())
            .collect();
        if levels.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    levels.sort_by(|a, b| b.1.total_cmp(&a.1));
    let names: Vec<&str> = levels.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        names,
        ["127.0.0.1:9100", "127.0.0.5:9100", "127.0.0.4:9100"]
    );
    // Linear interpolation inside the buckets of rules.yml.
    assert!((levels[0].1 - 0.9615).abs() < 0.01, "{levels:?}");
    assert!(levels[1].1 < 0.1 && levels[2].1 < 0.1, "{levels:?}");
}

#[test]
fn unrendered_blocks_are_checked_with_templates_allowed() {
    use runbook::exec::http::check_template;
    assert_eq!(
        check_template(
            "{# the query is built below #}\n\
             {% set q = 'up' %}\n\
             # levels\n\
             GET {{ params.prometheus_url }}/api/v1/query?query={{ q | urlencode }}\n\
             Authorization: Bearer {{ secrets.TOKEN }}\n\
             {{ extra_headers }}\n\
             {{ header_name }}: 1\n\
             \n\
             {{ body }}\n"
        ),
        Ok(())
    );
    assert_eq!(check_template("{{ method }} http://127.0.0.1/\n"), Ok(()));
    let err = |t: &str| check_template(t).unwrap_err().to_string();
    assert_eq!(
        err("GET {{ url }}\nnot a header\n"),
        "line 2: expected a header `Name: value` or a blank line before the body, found `not a header`"
    );
    assert_eq!(
        err("{% set x = 1 %}\nFETCH {{ url }}\n"),
        "line 2: unknown method `FETCH` (expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, TRACE, CONNECT)"
    );
    assert_eq!(
        err("GET /relative\n"),
        "line 1: invalid URL `/relative`: relative URL without a base"
    );
    // The seed runbook's http step passes.
    let text = include_str!("../../runbooks/p90-latency.md");
    let doc = runbook::document::parse("runbooks/p90-latency.md", text.to_string())
        .expect("the seed runbook parses");
    let levels = doc.step("levels").expect("the `levels` step");
    assert_eq!(levels.lang, "http");
    assert_eq!(check_template(&levels.code), Ok(()));
}

#[test]
fn unrendered_request_line_forms() {
    use runbook::exec::http::check_template;
    assert_eq!(check_template("{{ url }}\n"), Ok(()));
    assert_eq!(check_template("{{ url }} HTTP/1.1\n"), Ok(()));
    assert_eq!(check_template("{{ method }} {{ url }}\n"), Ok(()));
    assert_eq!(check_template("{{ base }}/api/v1/query?query=up\n"), Ok(()));
    assert_eq!(check_template("{{ base }}/a b HTTP/1.1\n"), Ok(()));
    // A lone template could be the whole URL.
    assert_eq!(check_template("{{ target }}\n"), Ok(()));
    assert_eq!(
        check_template("POST\n").unwrap_err().to_string(),
        "line 1: `POST` needs a URL"
    );
}
