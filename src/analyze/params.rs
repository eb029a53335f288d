//! Param values are compared as their plain text: `-p env=1` on the command
//! line is the string `"1"`, and it must match `choices: [1, 2]` written as
//! YAML numbers. Both the analysis (a default among the choices) and the run
//! (a given value among the choices) use [`same_value`], so they never
//! disagree on what a choice is.

use crate::report::plain_value as plain;

/// Whether two param values are the same choice.
pub fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    plain(a) == plain(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_their_text_are_the_same_choice() {
        assert!(same_value(&json!(1), &json!("1")));
        assert!(same_value(&json!(true), &json!("true")));
        assert!(same_value(&json!("api"), &json!("api")));
        assert!(!same_value(&json!(1), &json!("01")));
        assert!(!same_value(&json!("api"), &json!("worker")));
    }
}
