//! STUB (replaced by the real module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError { pub message: String, pub position: usize }
impl std::fmt::Display for SelectorError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.message) } }
pub struct Selector(String);
pub fn parse(s: &str) -> Result<Selector, SelectorError> { Ok(Selector(s.to_string())) }
impl Selector { pub fn uses_global(&self) -> bool { self.0.contains("global()") } pub fn is_global_only(&self) -> bool { self.0.trim() == "global()" } }
