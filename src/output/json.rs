//! STUB (replaced by the real module).
use serde_json::Value;
pub fn to_go_json(v: &Value) -> String { serde_json::to_string(v).unwrap_or_default() }
pub fn to_go_json_indent(v: &Value) -> String { serde_json::to_string_pretty(v).unwrap_or_default() }
