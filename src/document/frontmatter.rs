//! The YAML front matter: metadata, params, secrets, preconditions, hosts
//! and defaults. Parsed with serde-saphyr (serde_yaml is deprecated and
//! archived); unknown keys are errors with their position.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub params: IndexMap<String, ParamSpec>,
    #[serde(default)]
    pub secrets: IndexMap<String, SecretSpec>,
    #[serde(default)]
    pub requires: Requires,
    #[serde(default)]
    pub hosts: IndexMap<String, HostSpec>,
    /// Default shell for `shell`/`sh`-less blocks, e.g. `bash`.
    pub shell: Option<String>,
    /// Prelude for bash steps; default `set -eo pipefail`.
    pub shell_options: Option<String>,
    /// Default step timeout, e.g. `5m`.
    pub timeout: Option<String>,
    /// `confirm: all` gates every step; `true` is the same.
    pub confirm: Option<ConfirmDefault>,
    /// `interactive: false` marks a runbook meant for pipelines: gates are
    /// then an error in `runbook check`.
    pub interactive: Option<bool>,
    /// Lines of output kept in the annotated copy (head + tail).
    pub max_output_lines: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConfirmDefault {
    Bool(bool),
    /// Only `all` is meaningful.
    Word(String),
}

impl ConfirmDefault {
    pub fn gates_all(&self) -> bool {
        match self {
            ConfirmDefault::Bool(b) => *b,
            ConfirmDefault::Word(w) => w == "all",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    pub choices: Option<Vec<serde_json::Value>>,
    pub description: Option<String>,
}

/// Where a secret comes from. Exactly one source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub env: Option<String>,
    pub file: Option<String>,
    pub command: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub check: Vec<String>,
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.env.is_empty()
            && self.files.is_empty()
            && self.http.is_empty()
            && self.hosts.is_empty()
            && self.check.is_empty()
    }
}

/// An inventory entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `user@host[:port]`, or a list of them (fan-out).
    pub ssh: Option<OneOrMany>,
    /// An EC2 lookup.
    pub ec2: Option<Ec2Spec>,
    /// Other inventory entries this one stands for (fan-out).
    pub group: Option<Vec<String>>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<String>,
    pub jump: Option<String>,
    /// `strict` (default), `accept-new` or `no`.
    pub host_key_checking: Option<String>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Spec {
    pub instance_id: Option<String>,
    #[serde(default)]
    pub filters: IndexMap<String, OneOrMany>,
    pub region: Option<String>,
    /// Use the public IP instead of the private one.
    #[serde(default)]
    pub public_ip: bool,
}
