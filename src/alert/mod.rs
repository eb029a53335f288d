//! Alerts in: a run driven by the alert that paged someone. Reads an
//! Alertmanager webhook payload (version 4) or Prometheus' `/api/v1/alerts`
//! response, picks the alert the run is about (the first firing one, or the
//! one `KEY=VALUE` matchers single out), and gives the rest of the tool what
//! it needs of it: the `alert` template value, the values of params declared
//! `from_alert:`, and the few facts the record keeps (alertname, labels,
//! startsAt, fingerprint — never the annotations, which are free text).
//! [`resolve`] finds the runbook an alert links to, inside one directory.
//!
//! Everything in an alert is data: label values reach steps only through
//! templates, whose shell-context quoting applies to them as to any param.

pub mod resolve;

use crate::record::AlertRecord;
use indexmap::IndexMap;
use serde::Deserialize;

/// The largest payload read, in bytes: an Alertmanager group of a few
/// thousand alerts fits; anything larger is refused, not read into memory.
pub const MAX_PAYLOAD_BYTES: u64 = 8 * 1024 * 1024;

/// One alert, whichever API it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `firing` or `resolved` (Alertmanager); `firing`, `pending` or
    /// `inactive` (Prometheus' `state`).
    pub status: String,
    pub labels: IndexMap<String, String>,
    pub annotations: IndexMap<String, String>,
    /// RFC 3339; Prometheus' `activeAt`.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub generator_url: Option<String>,
    pub fingerprint: Option<String>,
}

/// The parts of an alert a param can be filled from (`from_alert:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertPath {
    Label(String),
    Annotation(String),
    Status,
    StartsAt,
    EndsAt,
    GeneratorUrl,
    Fingerprint,
}

/// The fields templates see under `alert.`.
pub const FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "status",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
];

/// What `from_alert:` accepts, for error messages.
pub const PATH_FORMS: &str =
    "labels.NAME, annotations.NAME, status, startsAt, endsAt, generatorURL or fingerprint";

impl AlertPath {
    /// Parses `labels.instance`, `annotations.summary`, `startsAt`, …; the
    /// reason when it is none of them.
    pub fn parse(text: &str) -> Result<AlertPath, String> {
        let scalar = match text {
            "status" => Some(AlertPath::Status),
            "startsAt" => Some(AlertPath::StartsAt),
            "endsAt" => Some(AlertPath::EndsAt),
            "generatorURL" => Some(AlertPath::GeneratorUrl),
            "fingerprint" => Some(AlertPath::Fingerprint),
            _ => None,
        };
        if let Some(p) = scalar {
            return Ok(p);
        }
        let (root, name) = text.split_once('.').unwrap_or((text, ""));
        let make = match root {
            "labels" => AlertPath::Label,
            "annotations" => AlertPath::Annotation,
            _ => {
                return Err(format!(
                    "`from_alert: {text}` is not a part of an alert: expected {PATH_FORMS}"
                ));
            }
        };
        if !is_label_name(name) {
            return Err(format!(
                "`from_alert: {text}`: `{root}.` must be followed by a label name \
                 ([a-zA-Z_][a-zA-Z0-9_]*), e.g. `{root}.instance`"
            ));
        }
        Ok(make(name.to_string()))
    }
}

/// Prometheus' label name grammar.
fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Alert {
    /// The value at `path`, when the alert has it.
    pub fn get(&self, path: &AlertPath) -> Option<&str> {
        match path {
            AlertPath::Label(n) => self.labels.get(n).map(String::as_str),
            AlertPath::Annotation(n) => self.annotations.get(n).map(String::as_str),
            AlertPath::Status => Some(self.status.as_str()),
            AlertPath::StartsAt => self.starts_at.as_deref(),
            AlertPath::EndsAt => self.ends_at.as_deref(),
            AlertPath::GeneratorUrl => self.generator_url.as_deref(),
            AlertPath::Fingerprint => self.fingerprint.as_deref(),
        }
    }

    /// What templates see as `alert`: the Alertmanager field names.
    pub fn template_value(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        })
    }

    /// What the record keeps: enough to say which alert drove the run.
    pub fn record(&self) -> AlertRecord {
        AlertRecord {
            alertname: self.labels.get("alertname").cloned(),
            status: self.status.clone(),
            labels: self.labels.clone(),
            starts_at: self.starts_at.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// `alertname{key="value", …}` as Prometheus writes a series, control
    /// characters escaped: for messages.
    pub fn describe(&self) -> String {
        let name = self.labels.get("alertname").map_or("", String::as_str);
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}=\"{}\"", v.escape_debug()))
            .collect();
        format!("{}{{{}}}", name.escape_debug(), labels.join(", "))
    }
}

/// Reads a payload's alerts. `origin` names it in errors (a path or
/// `<stdin>`); a JSON error points at `origin:line:col`.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Alert>, String> {
    // serde_json's own text ends with " at line L column C": the position
    // goes in front, as `file:line:col`, once.
    let at = |e: &serde_json::Error, what: &str| {
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let why = text.strip_suffix(&suffix).unwrap_or(&text);
        format!(
            "{origin}:{}:{}: invalid {what}: {why}",
            e.line(),
            e.column()
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| at(&e, "alert payload"))?;
    let shape = |e: serde_json::Error, what: &str| at(&e, what);
    if value.get("alerts").is_some() {
        if let Some(v) = value.get("version")
            && v != "4"
        {
            return Err(format!(
                "{origin}: unsupported Alertmanager webhook version {v}: runbook reads version \"4\""
            ));
        }
        let p: Webhook =
            serde_json::from_str(text).map_err(|e| shape(e, "Alertmanager webhook payload"))?;
        return Ok(p.alerts.into_iter().map(Alert::from).collect());
    }
    if value.pointer("/data/alerts").is_some() {
        let p: PromResponse = serde_json::from_str(text)
            .map_err(|e| shape(e, "Prometheus /api/v1/alerts response"))?;
        return Ok(p.data.alerts.into_iter().map(Alert::from).collect());
    }
    Err(format!(
        "{origin}: not an alert payload: expected an Alertmanager webhook (version \"4\", with \
         `alerts`) or a Prometheus /api/v1/alerts response (with `data.alerts`)"
    ))
}

/// `KEY=VALUE` matchers from `--alert-match`.
pub fn parse_matchers(given: &[String]) -> Result<Vec<(String, String)>, String> {
    given
        .iter()
        .map(|m| match m.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(format!(
                "invalid --alert-match `{m}`: expected LABEL=VALUE, e.g. --alert-match instance=web-1:9100"
            )),
        })
        .collect()
}

/// The alert a run is about: among the firing ones, those whose labels
/// match every matcher. Without matchers the first firing one (and a note
/// when there were several); with matchers exactly one must match.
pub fn choose(
    origin: &str,
    alerts: &[Alert],
    matchers: &[(String, String)],
) -> Result<(Alert, Option<String>), String> {
    let firing: Vec<&Alert> = alerts.iter().filter(|a| a.status == "firing").collect();
    if firing.is_empty() {
        return Err(format!(
            "{origin}: no firing alert ({} alert{} in the payload, none with status firing)",
            alerts.len(),
            if alerts.len() == 1 { "" } else { "s" }
        ));
    }
    let matches = |a: &&Alert| {
        matchers
            .iter()
            .all(|(k, v)| a.labels.get(k).is_some_and(|l| l == v))
    };
    let chosen: Vec<&Alert> = firing.iter().copied().filter(matches).collect();
    let wanted = || {
        matchers
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.escape_debug()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = |v: &[&Alert]| {
        let mut s: Vec<String> = v.iter().take(10).map(|a| a.describe()).collect();
        if v.len() > 10 {
            s.push(format!("… and {} more", v.len() - 10));
        }
        s.join("; ")
    };
    match chosen.as_slice() {
        [] => Err(format!(
            "{origin}: no firing alert matches {}; firing: {}",
            wanted(),
            list(&firing)
        )),
        [one] => Ok(((*one).clone(), None)),
        [first, ..] if matchers.is_empty() => Ok((
            (*first).clone(),
            Some(format!(
                "{origin}: {} firing alerts; this run is about the first, {} (pick another with --alert-match LABEL=VALUE)",
                chosen.len(),
                first.describe()
            )),
        )),
        several => Err(format!(
            "{origin}: {} firing alerts match {}: {}; add --alert-match LABEL=VALUE until one is left",
            several.len(),
            wanted(),
            list(several)
        )),
    }
}

#[derive(Deserialize)]
struct Webhook {
    alerts: Vec<WebhookAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: String,
    #[serde(default)]
    labels: IndexMap<String, String>,
    #[serde(default)]
    annotations: IndexMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: Option<String>,
}

impl From<WebhookAlert> for Alert {
    fn from(a: WebhookAlert) -> Self {
        Alert {
            status: a.status,
            labels: a.labels,
            annotations: a.annotations,
            starts_at: a.starts_at,
            // Alertmanager writes the zero time for "not ended".
            ends_at: a.ends_at.filter(|e| !e.starts_with("0001-01-01")),
            generator_url: a.generator_url.filter(|u| !u.is_empty()),
            fingerprint: a.fingerprint.filter(|f| !f.is_empty()),
        }
    }
}

#[derive(Deserialize)]
struct PromResponse {
    data: PromData,
}

#[derive(Deserialize)]
struct PromData {
    alerts: Vec<PromAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromAlert {
    state: String,
    #[serde(default)]
    labels: IndexMap<String, String>,
    #[serde(default)]
    annotations: IndexMap<String, String>,
    active_at: Option<String>,
}

impl From<PromAlert> for Alert {
    fn from(a: PromAlert) -> Self {
        Alert {
            status: a.state,
            labels: a.labels,
            annotations: a.annotations,
            starts_at: a.active_at,
            ends_at: None,
            generator_url: None,
            fingerprint: None,
        }
    }
}

#[cfg(test)]
mod tests;
