//! The inventory as the runbook author writes it (`hosts:` in the front
//! matter): plain serde types and nothing else.
//!
//! They live here, beside `document` and `exec` rather than in either,
//! because both need them: `document` parses them out of the front matter,
//! `exec::inventory` turns them into SSH targets. Keeping them neutral lets
//! `exec` run without knowing Markdown and `document` parse without
//! knowing how anything runs.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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
