//! An operator's `[e]dit` at a gate: a declared param changes for this and
//! every later step, checked as the command line is (declared, one of its
//! choices), and the gate's record says what was changed.

use super::Engine;
use crate::analyze::params::same_value;
use crate::report::plain_value as plain;

impl Engine {
    /// Sets param `name` to `value`; a note for the record, or why not.
    pub(super) fn edit_param(&mut self, name: &str, value: &str) -> Result<String, String> {
        let declared = &self.doc.front.params;
        let Some(spec) = declared.get(name) else {
            let names: Vec<&str> = declared.keys().map(String::as_str).collect();
            return Err(format!(
                "no param `{name}` (declared: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        let new = serde_json::Value::String(value.to_string());
        if let Some(choices) = &spec.choices
            && !choices.iter().any(|c| same_value(c, &new))
        {
            let list: Vec<String> = choices.iter().map(plain).collect();
            return Err(format!("param `{name}` must be one of {}", list.join(", ")));
        }
        let old = self.ctx.params.get(name).map(plain).unwrap_or_default();
        self.ctx.set_param(name, new);
        let note = format!(
            "{name}: {} → {}",
            self.redactor.redact(&old),
            self.redactor.redact(value)
        );
        self.sinks.message(&format!("param {note}"));
        Ok(note)
    }

    /// The declared params as they stand, secrets masked.
    pub(super) fn shown_params(&self) -> Vec<(String, String)> {
        self.doc
            .front
            .params
            .keys()
            .map(|k| {
                let v = self.ctx.params.get(k).map(plain).unwrap_or_default();
                (k.clone(), self.redactor.redact(&v))
            })
            .collect()
    }
}
