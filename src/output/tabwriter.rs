//! STUB (replaced by the real module).
pub fn tabwriter(rows: &[Vec<String>]) -> String {
    let mut w = vec![];
    for r in rows { for (i, c) in r.iter().enumerate() { if w.len() <= i { w.push(5); } w[i] = w[i].max(c.chars().count() + 3); } }
    let mut out = String::new();
    for r in rows { for (i, c) in r.iter().enumerate() { out.push_str(&format!("{:width$}", c, width = w[i])); } out.push('\n'); }
    out
}
