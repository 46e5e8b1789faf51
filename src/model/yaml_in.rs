//! STUB (replaced by the real module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError { pub message: String, pub line: Option<usize>, pub column: Option<usize> }
impl std::fmt::Display for YamlError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.message) } }
pub fn split_documents(input: &str) -> Result<Vec<(String, usize)>, YamlError> { Ok(vec![(input.to_string(), 1)]) }
pub fn yaml_to_json(doc: &str) -> Result<Option<serde_json::Value>, YamlError> { serde_json::from_str(doc).map(Some).map_err(|e| YamlError { message: e.to_string(), line: None, column: None }) }
pub fn yaml_to_json_at(doc: &str, _l: usize) -> Result<Option<serde_json::Value>, YamlError> { yaml_to_json(doc) }
