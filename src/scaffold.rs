//! `runbook init`: writes a starter runbook that shows the DSL by example
//! (params, secrets, preconditions, hosts, a safe read-only step, a gated
//! step, an HTTP step) and that passes `runbook check --strict` as written, so
//! authors start from something valid and edit it.

/// The file name for a new runbook: the name slugified, plus `.md`
/// (`"Restart the API!"` → `restart-the-api.md`).
pub fn init_file_name(name: &str) -> String {
    let name = name.trim();
    let name = name
        .strip_suffix(".md")
        .or_else(|| name.strip_suffix(".MD"))
        .unwrap_or(name);
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "runbook.md".to_string()
    } else {
        format!("{slug}.md")
    }
}

/// A commented starter runbook titled `name`.
pub fn init_runbook(name: &str) -> String {
    let title: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = if title.is_empty() {
        "New runbook".to_string()
    } else {
        title
    };
    // A JSON string is a valid YAML double-quoted scalar.
    let yaml_title = serde_json::to_string(&title).unwrap_or_else(|_| "\"runbook\"".into());
    TEMPLATE
        .replace("@YAML_TITLE@", &yaml_title)
        .replace("@TITLE@", &title)
}

const TEMPLATE: &str = r#"---
# Front matter: metadata and everything the steps may refer to.
title: @YAML_TITLE@
owner: team-sre
description: What this runbook fixes, and when to reach for it.
tags: [starter]

# Parameters: `runbook run FILE -p service=worker`. Steps see them as
# `{{ params.NAME }}`; values are shell-quoted in shell steps.
params:
  service:
    description: The service to act on
    default: api
    choices: [api, worker]
  # since:
  #   description: How far back to look
  #   required: true

# Secrets are read at run time and masked in every report.
# secrets:
#   API_TOKEN: { env: API_TOKEN }
#   DB_PASSWORD: { file: /run/secrets/db }
#   VAULT_TOKEN: { command: "vault print token" }

# Preconditions, checked before any step runs (a failure exits with code 3).
# requires:
#   commands: [curl, jq]
#   env: [AWS_REGION]
#   http: ["https://status.example.com/-/ready"]

# Inventory for `host=` / `hosts=` on steps.
# hosts:
#   db1: { ssh: "admin@db1.internal" }
#   web: { ec2: { filters: { "tag:role": web } }, user: ec2-user }

# Default step timeout.
timeout: 5m
---

# @TITLE@

Describe the symptom that brings someone here, what this runbook does, and
how to tell it worked. Fenced blocks in `bash`, `sh`, `python`, `http`, ...
are steps; they run top to bottom. Blocks in `text` or `console` are prose.

## 1. Look before touching anything

`safe` marks a read-only step: it also runs with `--dry-run`.

```bash {name=status safe timeout=30s}
echo checking {{ params.service }} on "$(hostname)"
uptime
```

## 2. Act

`confirm` is a gate: the operator answers yes, skip or abort, and the answer
is recorded. In a pipeline, `--yes` approves it.

```bash {name=restart confirm="Restart the service now?" retries=1 retry_delay=5s}
# Replace with the real action, e.g.: systemctl restart {{ params.service }}
echo "restarting" {{ params.service }}
```

## 3. Verify

Steps see the results of earlier steps: `steps.NAME.stdout`, `.exit_code`,
`.json` (with `capture=json`), `.status`.

```bash {name=verify when="steps.restart.exit_code == 0"}
echo "restart output was:" {{ steps.restart.stdout }}
```

An HTTP step (remove `skip` to run it; `expect_status` fails the step on any
other status):

```http {skip name=health expect_status=200}
GET https://status.example.com/api/health
Accept: application/json
```
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_slugs() {
        assert_eq!(init_file_name("Restart the API!"), "restart-the-api.md");
        assert_eq!(
            init_file_name("  DB failover: eu-west-1 "),
            "db-failover-eu-west-1.md"
        );
        assert_eq!(init_file_name("disk-full.md"), "disk-full.md");
        assert_eq!(init_file_name("Ünïcode Runbook"), "ünïcode-runbook.md");
        assert_eq!(init_file_name("///"), "runbook.md");
        assert_eq!(init_file_name(""), "runbook.md");
    }

    #[test]
    fn title_is_quoted_in_yaml_and_plain_in_the_heading() {
        let text = init_runbook("Disk full: \"/var\" # 1");
        assert!(
            text.contains("\ntitle: \"Disk full: \\\"/var\\\" # 1\"\n"),
            "{text}"
        );
        assert!(text.contains("\n# Disk full: \"/var\" # 1\n"), "{text}");
        assert!(init_runbook("  ").contains("\ntitle: \"New runbook\"\n"));
        assert!(!init_runbook("a\nb").contains("a\nb"));
    }
}
