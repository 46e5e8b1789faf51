//! STUB (replaced by the real module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);
impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
#[derive(Debug, Clone)]
pub enum GoValue {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    Slice(Vec<GoValue>),
    Map(Vec<(String, GoValue)>),
    Struct {
        type_name: String,
        fields: Vec<GoField>,
    },
}
#[derive(Debug, Clone)]
pub struct GoField {
    pub name: String,
    pub value: GoValue,
    pub embedded: bool,
}
pub fn from_json_untyped(_v: &serde_json::Value) -> GoValue {
    GoValue::Nil
}
pub struct Template;
pub fn parse(_s: &str) -> Result<Template, TemplateError> {
    Err(TemplateError("go-template not available".into()))
}
impl Template {
    pub fn execute(
        &self,
        _d: &GoValue,
        _f: &dyn Fn(&str, &[GoValue]) -> Option<Result<GoValue, String>>,
    ) -> Result<String, TemplateError> {
        Ok(String::new())
    }
}
