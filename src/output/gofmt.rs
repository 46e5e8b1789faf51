//! STUB (replaced by the real module).
pub fn fmt_v_float(f: f64) -> String { format!("{f}") }
pub fn fmt_json_float(f: f64) -> String { format!("{f}") }
pub fn fmt_g5(f: f64) -> String { format!("{f}") }
pub fn fmt_pct0(f: f64) -> String { format!("{f:.0}") }
