//! The machine-readable report: the whole [`RunRecord`] as pretty JSON,
//! described by `docs/report-schema.json` (versioned by `schema_version`).

use crate::record::RunRecord;

/// The record as pretty-printed JSON, every field included.
pub fn to_json(rec: &RunRecord) -> String {
    // The record has string map keys and no floats built from input, so
    // serialisation cannot fail; keep a valid JSON answer regardless.
    match serde_json::to_string_pretty(rec) {
        Ok(s) => s,
        Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
    }
}
