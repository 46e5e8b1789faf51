//! STUB (replaced by the real module).
pub fn render_box_table(headers: &[&str], rows: &[Vec<String>]) -> String { format!("{headers:?}{rows:?}") }
