//! STUB (replaced by the real module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);
impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
pub struct JsonPath(String);
pub fn parse(t: &str) -> Result<JsonPath, TemplateError> {
    Ok(JsonPath(t.to_string()))
}
impl JsonPath {
    pub fn execute(&self, _d: &serde_json::Value) -> Result<String, TemplateError> {
        Err(TemplateError(format!("jsonpath not available: {}", self.0)))
    }
}
