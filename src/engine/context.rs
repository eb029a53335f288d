//! What templates see during a run: params, env, secrets, the inventory, the
//! run's own facts and every earlier step's result. Values are converted to
//! minijinja once and cached, so rendering stays linear in the number of
//! steps (converting everything on each render made runs quadratic).

use crate::document::Document;
use crate::template::to_value;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What later steps see of an earlier one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepCtx {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub status: String,
    pub json: Option<serde_json::Value>,
    #[serde(default)]
    pub hosts: IndexMap<String, HostCtx>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostCtx {
    pub stdout: String,
    pub exit_code: Option<i32>,
    pub status: String,
}

pub struct Context {
    pub params: IndexMap<String, serde_json::Value>,
    pub env: IndexMap<String, String>,
    pub secrets: IndexMap<String, String>,
    pub hosts: IndexMap<String, serde_json::Value>,
    pub run: serde_json::Value,
    /// The alert that drove the run (`--alert`); null without one.
    pub alert: serde_json::Value,
    pub steps: IndexMap<String, StepCtx>,
    /// Template values, converted once. Every step renders against the
    /// context (several times), and converting the whole environment and
    /// every earlier step's result on each render made a run quadratic in
    /// its number of steps.
    pub cache: ValueCache,
}

#[derive(Default)]
pub struct ValueCache {
    /// params, env, hosts, run, alert: fixed for the run.
    fixed: std::sync::OnceLock<[minijinja::Value; 5]>,
    /// `secrets` as shown (index 0) and revealed (index 1).
    secrets: [std::sync::OnceLock<minijinja::Value>; 2],
    /// Each step's result, converted when it is set.
    steps: IndexMap<String, minijinja::Value>,
    /// The `steps` map, until the next step result is set: without (0)
    /// and with (1) dry-run placeholders for steps not run.
    steps_map: [std::sync::Mutex<Option<minijinja::Value>>; 2],
}

impl Context {
    /// Changes a param (an operator's edit at a gate) for every later render.
    pub fn set_param(&mut self, name: &str, value: serde_json::Value) {
        self.params.insert(name.to_string(), value);
        self.cache.fixed = std::sync::OnceLock::new();
    }

    /// Sets the result of a step as later steps see it.
    pub fn set_step(&mut self, name: String, ctx: StepCtx) {
        self.cache.steps.insert(name.clone(), to_value(&ctx));
        for map in &mut self.cache.steps_map {
            *map.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        }
        self.steps.insert(name, ctx);
    }

    /// The template context. `reveal` = real secret values (for execution);
    /// otherwise secrets render as their template text (for reports).
    pub fn value(&self, reveal: bool, placeholders: Option<&Document>) -> minijinja::Value {
        let [params, env, hosts, run, alert] = self.cache.fixed.get_or_init(|| {
            [
                to_value(&self.params),
                to_value(&self.env),
                to_value(&self.hosts),
                to_value(&self.run),
                to_value(&self.alert),
            ]
        });
        let secrets = self.cache.secrets[usize::from(reveal)].get_or_init(|| {
            let secrets: IndexMap<String, String> = self
                .secrets
                .iter()
                .map(|(k, v)| {
                    let shown = if reveal {
                        v.clone()
                    } else {
                        format!("{{{{ secrets.{k} }}}}")
                    };
                    (k.clone(), shown)
                })
                .collect();
            to_value(&secrets)
        });
        let steps_map = |placeholders: Option<&Document>| {
            let mut steps: std::collections::BTreeMap<String, minijinja::Value> = self
                .cache
                .steps
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(doc) = placeholders {
                for s in &doc.steps {
                    steps.entry(s.name.clone()).or_insert_with(|| {
                        crate::template::placeholder(&format!("steps.{}", s.name))
                    });
                }
            }
            minijinja::Value::from(steps)
        };
        // Built once per step result, not per render: rebuilding it (with a
        // placeholder for every step of the runbook) on each render made a
        // dry run quadratic in its number of steps.
        let steps = self.cache.steps_map[usize::from(placeholders.is_some())]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| steps_map(placeholders))
            .clone();
        minijinja::context! {
            params => params.clone(),
            env => env.clone(),
            secrets => secrets.clone(),
            hosts => hosts.clone(),
            run => run.clone(),
            alert => alert.clone(),
            steps => steps,
        }
    }
}
