//! GitLab's GraphQL API, for the one thing REST cannot do: incident
//! timeline events (`timelineEventCreate`). The mutation text is constant
//! and every value goes in `variables`, so nothing a runbook says can
//! change the query. GraphQL answers 200 with `errors` (top level, or the
//! mutation's own `errors` list) when it refuses: both are failures.

use super::client::{GitLab, network, status_text};
use super::{PublishError, TIMELINE_MAX};

/// The mutation, as GitLab's schema spells it
/// (`TimelineEventCreateInput`: `incidentId`, `note`, `occurredAt`).
pub const TIMELINE_EVENT_CREATE: &str = "mutation CreateTimelineEvent($input: TimelineEventCreateInput!) { timelineEventCreate(input: $input) { timelineEvent { id } errors } }";

/// The GraphQL endpoint beside the REST root: `…/api/v4` → `…/api/graphql`.
pub fn endpoint(rest_base: &str) -> String {
    let base = rest_base.trim_end_matches('/');
    match base.strip_suffix("/v4") {
        Some(api) => format!("{api}/graphql"),
        None => format!("{base}/graphql"),
    }
}

/// The request body: `{"query": …, "variables": {"input": …}}`.
pub fn timeline_request(incident_gid: &str, note: &str, occurred_at: &str) -> serde_json::Value {
    serde_json::json!({
        "operationName": "CreateTimelineEvent",
        "query": TIMELINE_EVENT_CREATE,
        "variables": {
            "input": {
                "incidentId": incident_gid,
                "note": clip(note),
                "occurredAt": occurred_at,
            }
        }
    })
}

/// A timeline note: one line, at most GitLab's 280 characters.
pub fn clip(note: &str) -> String {
    let one_line: String = note
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let t = one_line.trim();
    if t.chars().count() <= TIMELINE_MAX {
        return t.to_string();
    }
    let mut s: String = t.chars().take(TIMELINE_MAX - 1).collect();
    s.push('…');
    s
}

/// The created event's id, or what GitLab said was wrong.
pub fn timeline_response(body: &str) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not a GraphQL answer: {e}"))?;
    let messages = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| match e.get("message").and_then(|m| m.as_str()) {
                        Some(m) => m.to_string(),
                        None => e.as_str().map_or_else(|| e.to_string(), str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let top = messages(&v["errors"]);
    if !top.is_empty() {
        return Err(top.join("; "));
    }
    let payload = &v["data"]["timelineEventCreate"];
    let own = messages(&payload["errors"]);
    if !own.is_empty() {
        return Err(own.join("; "));
    }
    payload["timelineEvent"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no timelineEvent in the answer".to_string())
}

impl GitLab {
    /// Adds an event to the incident's timeline; returns its global id.
    pub async fn timeline_event(
        &self,
        incident_gid: &str,
        note: &str,
        occurred_at: &str,
    ) -> Result<String, PublishError> {
        let url = endpoint(&self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&timeline_request(incident_gid, note, occurred_at))
            .send()
            .await
            .map_err(|e| network(&url, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| network(&url, &e))?;
        if matches!(status.as_u16(), 401 | 403) {
            return Err(PublishError::Unauthorized {
                status: status_text(status),
            });
        }
        if !status.is_success() {
            return Err(PublishError::Status {
                method: "POST".into(),
                url,
                status: status_text(status),
                message: timeline_response(&text)
                    .err()
                    .unwrap_or_else(|| super::client::api_message(&text)),
            });
        }
        timeline_response(&text).map_err(|message| PublishError::GraphQl { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_beside_the_rest_root() {
        assert_eq!(
            endpoint("https://gitlab.example.com/api/v4/"),
            "https://gitlab.example.com/api/graphql"
        );
        assert_eq!(endpoint("http://h/gl/api/v4"), "http://h/gl/api/graphql");
    }

    #[test]
    fn values_go_in_variables_only() {
        let r = timeline_request(
            "gid://gitlab/Issue/9",
            "a \"quoted\"\n} mutation {",
            "2026-01-02T03:04:05Z",
        );
        assert_eq!(r["query"], TIMELINE_EVENT_CREATE);
        assert_eq!(r["variables"]["input"]["note"], "a \"quoted\" } mutation {");
        assert_eq!(
            r["variables"]["input"]["incidentId"],
            "gid://gitlab/Issue/9"
        );
        assert_eq!(clip(&"x".repeat(300)).chars().count(), 280);
    }

    #[test]
    fn both_kinds_of_graphql_errors_fail() {
        assert_eq!(
            timeline_response(
                r#"{"data":{"timelineEventCreate":{"timelineEvent":{"id":"gid://gitlab/IncidentManagement::TimelineEvent/3"},"errors":[]}}}"#
            ),
            Ok("gid://gitlab/IncidentManagement::TimelineEvent/3".into())
        );
        assert_eq!(
            timeline_response(
                r#"{"errors":[{"message":"The resource that you are attempting to access does not exist","locations":[{"line":1,"column":60}],"path":["timelineEventCreate"]}],"data":{"timelineEventCreate":null}}"#
            ),
            Err("The resource that you are attempting to access does not exist".into())
        );
        assert_eq!(
            timeline_response(
                r#"{"data":{"timelineEventCreate":{"timelineEvent":null,"errors":["Occurred at can't be blank"]}}}"#
            ),
            Err("Occurred at can't be blank".into())
        );
        assert!(timeline_response("<html>").is_err());
    }
}
