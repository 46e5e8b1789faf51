//! Interpreter for the schema language in `schema/*.schema` (see `schema/README.md`).
//!
//! Decoding turns any JSON value into the *canonical* value Go would produce by unmarshalling
//! into the typed struct and marshalling it again: fields in declaration order, `omitempty`
//! applied, absent non-omitempty fields filled with Go zero values, map keys sorted, numbers
//! and custom types normalised. The canonical value is what we store, print and compare.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Number, Value};

use super::gotypes;
use crate::gocompat::gofmt::{fmt_g_shortest32, fmt_json_float, number_text};

include!(concat!(env!("OUT_DIR"), "/schema_files.rs"));

/// Builtin value types of the schema language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    String,
    Bool,
    Int { bits: u8, signed: bool },
    Float { bits: u8 },
    AsNumber,
    Port,
    Protocol,
    IntOrString,
    Time,
    Duration,
    Any,
}

impl Builtin {
    fn from_name(name: &str) -> Option<Builtin> {
        use Builtin::*;
        Some(match name {
            "string" => String,
            "bool" => Bool,
            "int" | "int64" => Int {
                bits: 64,
                signed: true,
            },
            "int8" => Int {
                bits: 8,
                signed: true,
            },
            "int16" => Int {
                bits: 16,
                signed: true,
            },
            "int32" => Int {
                bits: 32,
                signed: true,
            },
            "uint" | "uint64" => Int {
                bits: 64,
                signed: false,
            },
            "uint8" => Int {
                bits: 8,
                signed: false,
            },
            "uint16" => Int {
                bits: 16,
                signed: false,
            },
            "uint32" => Int {
                bits: 32,
                signed: false,
            },
            "float32" => Float { bits: 32 },
            "float64" => Float { bits: 64 },
            "numorstring.ASNumber" => AsNumber,
            "numorstring.Port" => Port,
            "numorstring.Protocol" => Protocol,
            // Decoded like a Protocol (uint8 or string) but without its struct-level check.
            "numorstring.DSCP" => Protocol,
            "intstr.IntOrString" => IntOrString,
            "metav1.Time" => Time,
            "metav1.Duration" => Duration,
            "any" => Any,
            _ => return None,
        })
    }
}

/// A field or element type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// A builtin, possibly under a named Go type (`v3.IPIPMode`), kept for error texts.
    Scalar {
        go_name: String,
        base: Builtin,
    },
    Struct(String),
    Ptr(Box<Ty>),
    Slice(Box<Ty>),
    Map(Box<Ty>),
}

impl Ty {
    /// The Go type as printed in `encoding/json` error messages.
    pub fn go_string(&self) -> String {
        match self {
            Ty::Scalar { go_name, base } => match base {
                // These custom types report the inner Go type they tried last.
                Builtin::AsNumber | Builtin::Time | Builtin::Duration => "string".to_string(),
                _ => go_package_qualified(go_name),
            },
            Ty::Struct(n) => go_package_qualified(n),
            Ty::Ptr(t) => format!("*{}", t.go_string()),
            Ty::Slice(t) => format!("[]{}", t.go_string()),
            Ty::Map(t) => format!("map[string]{}", t.go_string()),
        }
    }

    /// The type with pointers removed (Go dereferences before reporting).
    pub fn pointee(&self) -> &Ty {
        match self {
            Ty::Ptr(t) => t.pointee(),
            t => t,
        }
    }
}

/// A type name as Go's reflection prints it: the schema's import aliases (`metav1`,
/// `networkingv1`, `corev1`) are all packages named `v1`.
fn go_package_qualified(name: &str) -> String {
    match name.split_once('.') {
        Some(("metav1" | "networkingv1" | "corev1", rest)) => format!("v1.{rest}"),
        Some((_, rest)) => match schema().get(name).and_then(|d| d.go_package.as_deref()) {
            Some(pkg) => format!("{pkg}.{rest}"),
            None => name.to_string(),
        },
        _ => name.to_string(),
    }
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub struct Field {
    pub json: String,
    pub go: String,
    pub ty: Ty,
    pub omitempty: bool,
    pub omitzero: bool,
    pub embed: bool,
    /// Go `json:",inline"`: an anonymous struct whose fields appear at this level.
    pub inline: bool,
    /// `enum=` values: the allowed values (several `enum=` flags: all must hold, as `allOf`).
    pub enum_values: Option<Vec<String>>,
    /// The OpenAPI constraints of the field's value (`default=`, `pattern=`, `min=`, ...).
    pub openapi: Option<Box<OpenApi>>,
    /// The same constraints for each element of a slice or map field (`item.` flags).
    pub item: Option<Box<OpenApi>>,
    /// The Go validator tags (`v=`), checked by `validate::go_tags`.
    pub tags: Vec<GoTag>,
}

/// The OpenAPI v3 constraints of one value, as the projectcalico.org/v3 CRDs state them.
#[derive(Debug, Clone, Default)]
pub struct OpenApi {
    /// Applied on write where the value is absent.
    pub default: Option<Value>,
    /// Each set must hold (more than one set is an `allOf`).
    pub enums: Vec<Vec<String>>,
    pub pattern: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    /// An object's `minProperties` / `maxProperties`.
    pub min_props: Option<usize>,
    pub max_props: Option<usize>,
    pub format: Option<String>,
    /// `x-kubernetes-list-type: set`: no duplicate elements.
    pub list_set: bool,
    /// Listed in the parent object's `required`.
    pub required: bool,
}

/// One Go validator tag of a field: `gte=1` is name `gte`, param `1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTag {
    pub name: String,
    pub param: String,
}

/// A CEL rule of a struct (`x-kubernetes-validations`), evaluated by `model::cel`.
#[derive(Debug, Clone)]
pub struct CelRule {
    pub rule: String,
    pub message: String,
}

/// A struct definition.
#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    /// The Go package error texts name, when it is not the name's prefix (`package` line).
    pub go_package: Option<String>,
    pub fields: Vec<Field>,
    pub cel: Vec<CelRule>,
    exact: HashMap<String, usize>,
    folded: HashMap<String, usize>,
}

impl StructDef {
    /// Go's field matching: exact JSON name first, then case-insensitive.
    pub fn lookup(&self, key: &str) -> Option<&Field> {
        self.exact
            .get(key)
            .or_else(|| self.folded.get(&key.to_lowercase()))
            .map(|&i| &self.fields[i])
    }

    /// Looks up a field by its Go name (for templates and validation messages).
    pub fn by_go_name(&self, go: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.go == go)
    }

    /// The short Go name used in `Go struct field X.y` error texts.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// A field line of a schema file: (line number, columns).
type FieldLine = (usize, Vec<String>);

/// All parsed schema files.
#[derive(Debug, Default)]
pub struct Schema {
    structs: HashMap<String, StructDef>,
    scalars: HashMap<String, Builtin>,
    /// Zero values of structs, computed once each: absent struct fields need them on every
    /// decode, and computing one decodes a whole empty struct tree.
    zeros: std::sync::RwLock<HashMap<String, Value>>,
}

/// The process-wide schema, parsed once on first use.
pub fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        // The sources are compiled in and covered by tests; a failure is a build defect.
        Schema::parse(SCHEMA_SOURCES).unwrap_or_else(|e| panic!("embedded schema: {e}"))
    })
}

/// A defect in a schema source. The sources are compiled in, so this is a build defect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// `at` is `file:line`.
    #[error("{at}: {problem}")]
    Line { at: String, problem: LineProblem },
    #[error("{file}: struct {name} has no end")]
    NoEnd { file: String, name: String },
    #[error("{file}: struct {name} defined twice")]
    DefinedTwice { file: String, name: String },
}

/// What is wrong with one schema line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("unterminated \"")]
    Unterminated,
    #[error("scalar needs a name and a base")]
    ScalarArity,
    #[error("unknown base {0}")]
    UnknownBase(String),
    #[error("package needs one name")]
    PackageArity,
    #[error("struct needs one name")]
    StructArity,
    #[error("end without struct")]
    EndWithoutStruct,
    #[error("cel needs a rule and a message")]
    CelArity,
    #[error("cannot parse {0:?}")]
    CannotParse(String),
    #[error("unknown type {0}")]
    UnknownType(String),
    #[error("bad number in {0}")]
    BadNumber(String),
    #[error("bad count in {0}")]
    BadCount(String),
    #[error("bad default in {0}")]
    BadDefault(String),
    #[error("unknown flag {0}")]
    UnknownFlag(String),
}

/// A string that does not parse as the scalar type it is stored in; the texts are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScalarError {
    #[error(transparent)]
    Time(#[from] gotypes::TimeError),
    #[error(transparent)]
    Duration(#[from] gotypes::DurationError),
    #[error("invalid AS Number format ({0})")]
    AsNumber(String),
    #[error("invalid port format ({0})")]
    PortFormat(String),
    #[error("invalid minimum port number in range ({0})")]
    MinPort(String),
    #[error("invalid maximum port number in range ({0})")]
    MaxPort(String),
    #[error(
        "minimum port number ({min}) is greater than maximum port number ({max}) in port range"
    )]
    PortOrder { min: u16, max: u16 },
    #[error("invalid name for named port ({0})")]
    PortName(String),
}

/// Splits a schema line into columns at whitespace; `"..."` (after `=` or as a whole column)
/// keeps its spaces and loses the quotes.
fn split_columns(line: &str) -> Result<Vec<String>, LineProblem> {
    let mut cols = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    cols.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err(LineProblem::Unterminated);
    }
    if started {
        cols.push(cur);
    }
    Ok(cols)
}

/// `v=omitempty,gte=1,oneof=A|B` (Go's `oneof` separates with spaces; `|` here).
fn parse_go_tags(s: &str) -> Vec<GoTag> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (name, param) = t.split_once('=').unwrap_or((t, ""));
            GoTag {
                name: name.to_string(),
                param: param.replace('|', " "),
            }
        })
        .collect()
}

fn parse_openapi_flag(o: &mut OpenApi, flag: &str, ty: &Ty) -> Result<(), LineProblem> {
    let (key, val) = flag.split_once('=').unwrap_or((flag, ""));
    let num = || {
        val.parse::<f64>()
            .map_err(|_| LineProblem::BadNumber(flag.to_string()))
    };
    let count = || {
        val.parse::<usize>()
            .map_err(|_| LineProblem::BadCount(flag.to_string()))
    };
    match key {
        "default" => {
            let is_string = matches!(
                ty.pointee(),
                Ty::Scalar {
                    base: Builtin::String,
                    ..
                }
            );
            o.default = Some(if is_string {
                Value::String(val.to_string())
            } else {
                serde_json::from_str(val).map_err(|_| LineProblem::BadDefault(flag.to_string()))?
            });
        }
        "enum" => o.enums.push(val.split('|').map(str::to_string).collect()),
        "pattern" => o.pattern = Some(val.to_string()),
        "min" => o.minimum = Some(num()?),
        "max" => o.maximum = Some(num()?),
        "minlen" => o.min_length = Some(count()?),
        "maxlen" => o.max_length = Some(count()?),
        "minitems" => o.min_items = Some(count()?),
        "maxitems" => o.max_items = Some(count()?),
        "minprops" => o.min_props = Some(count()?),
        "maxprops" => o.max_props = Some(count()?),
        "format" => o.format = Some(val.to_string()),
        "listset" => o.list_set = true,
        "required" => o.required = true,
        _ => return Err(LineProblem::UnknownFlag(flag.to_string())),
    }
    Ok(())
}

impl Schema {
    /// Parses schema sources; every referenced type must resolve.
    pub fn parse(sources: &[(&str, &str)]) -> Result<Schema, SchemaError> {
        let mut schema = Schema::default();
        // Raw field lines, resolved after all names are known.
        let mut raw: Vec<(String, String, Vec<FieldLine>)> = Vec::new();
        let mut packages: HashMap<String, String> = HashMap::new();
        for (file, text) in sources {
            let mut current: Option<(String, Vec<FieldLine>)> = None;
            // `package P`: the structs below live in Go package P (for error texts).
            let mut package: Option<String> = None;
            for (lineno, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let at = |problem| SchemaError::Line {
                    at: format!("{file}:{}", lineno + 1),
                    problem,
                };
                let cols = split_columns(line).map_err(at)?;
                match cols[0].as_str() {
                    "scalar" if current.is_none() => {
                        if cols.len() != 3 {
                            return Err(at(LineProblem::ScalarArity));
                        }
                        let base = Builtin::from_name(&cols[2])
                            .ok_or_else(|| at(LineProblem::UnknownBase(cols[2].clone())))?;
                        schema.scalars.insert(cols[1].clone(), base);
                    }
                    "package" if current.is_none() => {
                        if cols.len() != 2 {
                            return Err(at(LineProblem::PackageArity));
                        }
                        package = Some(cols[1].clone());
                    }
                    "struct" if current.is_none() => {
                        if cols.len() != 2 {
                            return Err(at(LineProblem::StructArity));
                        }
                        if let Some(p) = &package {
                            packages.insert(cols[1].clone(), p.clone());
                        }
                        current = Some((cols[1].clone(), Vec::new()));
                    }
                    "end" => match current.take() {
                        Some((name, fields)) => raw.push((file.to_string(), name, fields)),
                        None => return Err(at(LineProblem::EndWithoutStruct)),
                    },
                    "cel" if current.is_some() => {
                        if cols.len() != 3 {
                            return Err(at(LineProblem::CelArity));
                        }
                        if let Some((_, fields)) = current.as_mut() {
                            fields.push((lineno + 1, cols));
                        }
                    }
                    _ => match current.as_mut() {
                        Some((_, fields)) if cols.len() >= 3 => fields.push((lineno + 1, cols)),
                        _ => return Err(at(LineProblem::CannotParse(line.to_string()))),
                    },
                }
            }
            if let Some((name, _)) = current {
                return Err(SchemaError::NoEnd {
                    file: file.to_string(),
                    name,
                });
            }
        }
        let struct_names: std::collections::HashSet<String> =
            raw.iter().map(|(_, n, _)| n.clone()).collect();
        for (file, name, lines) in raw {
            let mut def = StructDef {
                go_package: packages.get(&name).cloned(),
                name: name.clone(),
                fields: Vec::new(),
                cel: Vec::new(),
                exact: HashMap::new(),
                folded: HashMap::new(),
            };
            for (lineno, cols) in lines {
                if cols[0] == "cel" {
                    def.cel.push(CelRule {
                        rule: cols[1].clone(),
                        message: cols[2].clone(),
                    });
                    continue;
                }
                let ty = schema
                    .parse_type(&cols[2], &|n| struct_names.contains(n))
                    .ok_or_else(|| SchemaError::Line {
                        at: format!("{file}:{lineno}"),
                        problem: LineProblem::UnknownType(cols[2].clone()),
                    })?;
                let mut field = Field {
                    json: cols[0].clone(),
                    go: cols[1].clone(),
                    ty,
                    omitempty: false,
                    omitzero: false,
                    embed: false,
                    inline: false,
                    enum_values: None,
                    openapi: None,
                    item: None,
                    tags: Vec::new(),
                };
                for flag in &cols[3..] {
                    match flag.as_str() {
                        "omitempty" => field.omitempty = true,
                        "omitzero" => field.omitzero = true,
                        "embed" => field.embed = true,
                        "inline" => field.inline = true,
                        f if f.starts_with("v=") => field.tags = parse_go_tags(&f[2..]),
                        f => {
                            let (target, f) = match f.strip_prefix("item.") {
                                Some(rest) => (&mut field.item, rest),
                                None => (&mut field.openapi, f),
                            };
                            let o = target.get_or_insert_with(Default::default);
                            parse_openapi_flag(o, f, &field.ty).map_err(|problem| {
                                SchemaError::Line {
                                    at: format!("{file}:{lineno}"),
                                    problem,
                                }
                            })?;
                        }
                    }
                }
                field.enum_values = field.openapi.as_ref().and_then(|o| o.enums.last().cloned());
                let idx = def.fields.len();
                def.exact.insert(field.json.clone(), idx);
                def.folded.entry(field.json.to_lowercase()).or_insert(idx);
                def.fields.push(field);
            }
            if schema.structs.insert(name.clone(), def).is_some() {
                return Err(SchemaError::DefinedTwice { file, name });
            }
        }
        Ok(schema)
    }

    fn parse_type(&self, s: &str, is_struct: &dyn Fn(&str) -> bool) -> Option<Ty> {
        if let Some(rest) = s.strip_prefix('*') {
            return Some(Ty::Ptr(Box::new(self.parse_type(rest, is_struct)?)));
        }
        if let Some(rest) = s.strip_prefix("[]") {
            return Some(Ty::Slice(Box::new(self.parse_type(rest, is_struct)?)));
        }
        if let Some(rest) = s.strip_prefix("map[string]") {
            return Some(Ty::Map(Box::new(self.parse_type(rest, is_struct)?)));
        }
        if let Some(b) = Builtin::from_name(s) {
            return Some(Ty::Scalar {
                go_name: s.to_string(),
                base: b,
            });
        }
        if let Some(b) = self.scalars.get(s) {
            return Some(Ty::Scalar {
                go_name: s.to_string(),
                base: *b,
            });
        }
        if is_struct(s) {
            return Some(Ty::Struct(s.to_string()));
        }
        None
    }

    /// A type spelled as in schema files (`*v3.ICMPFields`, `[]string`), if every name resolves.
    pub fn ty(&self, s: &str) -> Option<Ty> {
        self.parse_type(s, &|n| self.structs.contains_key(n))
    }

    /// A struct by Go type name (`v3.IPPoolSpec`).
    pub fn get(&self, name: &str) -> Option<&StructDef> {
        self.structs.get(name)
    }

    /// All struct names (for tests and tooling).
    pub fn struct_names(&self) -> impl Iterator<Item = &str> {
        self.structs.keys().map(String::as_str)
    }

    /// Decodes `v` as the struct `type_name` (see module docs). `strict` rejects unknown fields.
    pub fn decode(&self, type_name: &str, v: &Value, strict: bool) -> Result<Value, DecodeError> {
        self.run_decoder(type_name, v, strict, false, true, false)
    }

    /// Like a lenient `decode`, but a list or map given empty (not null) stays `[]`/`{}` where
    /// omitempty would drop it: the decoded Go struct holds a non-nil empty value, which Go's
    /// validator (`required`, `omitempty`) and `reflect.DeepEqual` tell from nil. Validation
    /// runs on this form; storage drops the empties again ([`Schema::decode`]).
    pub fn decode_keeping_empty(&self, type_name: &str, v: &Value) -> Result<Value, DecodeError> {
        self.run_decoder(type_name, v, false, false, true, true)
    }

    /// [`Schema::decode_yaml`] of a manifest's resource, keeping present empty lists and maps
    /// (see [`Schema::decode_keeping_empty`]).
    pub fn decode_manifest(&self, type_name: &str, v: &Value) -> Result<Value, DecodeError> {
        self.run_decoder(type_name, v, true, true, true, true)
    }

    /// Like a lenient `decode`, but as an encoder that ignores `omitzero` marshals it: zero
    /// structs stay as `{}` (libcalico's etcd backend stores rules' empty sides so).
    pub fn decode_ignoring_omitzero(
        &self,
        type_name: &str,
        v: &Value,
    ) -> Result<Value, DecodeError> {
        self.run_decoder(type_name, v, false, false, false, false)
    }

    /// Decodes a document read from YAML as calicoctl does (sigs.k8s.io/yaml, then a strict
    /// `encoding/json` decode): numbers and booleans headed for a plain string field become
    /// strings first (`name: 123` is the name "123"), then unknown fields are refused.
    pub fn decode_yaml(&self, type_name: &str, v: &Value) -> Result<Value, DecodeError> {
        self.run_decoder(type_name, v, true, true, true, false)
    }

    fn run_decoder(
        &self,
        type_name: &str,
        v: &Value,
        strict: bool,
        yaml: bool,
        honour_omitzero: bool,
        keep_empty: bool,
    ) -> Result<Value, DecodeError> {
        let mut d = Decoder {
            schema: self,
            strict,
            yaml,
            honour_omitzero,
            keep_empty,
            struct_name: "",
            path: Vec::new(),
            depth: 0,
            saved: None,
        };
        let out = d.decode(&Ty::Struct(type_name.to_string()), v)?;
        // Like encoding/json: a mismatched type or unknown field does not stop the decode; the
        // first one is reported at the end unless a custom unmarshaler failed outright.
        match d.saved {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// The Go zero value of a type, as Go would marshal it.
    pub fn zero_value(&self, ty: &Ty) -> Value {
        match ty {
            Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_) => Value::Null,
            Ty::Struct(name) => {
                if let Some(z) = self.zeros.read().ok().and_then(|m| m.get(name).cloned()) {
                    return z;
                }
                let z = self
                    .decode(name, &Value::Object(Map::new()), false)
                    .unwrap_or(Value::Object(Map::new()));
                if let Ok(mut m) = self.zeros.write() {
                    m.insert(name.clone(), z.clone());
                }
                z
            }
            Ty::Scalar { base, .. } => match base {
                Builtin::String => Value::String(String::new()),
                Builtin::Bool => Value::Bool(false),
                Builtin::Int { .. }
                | Builtin::Float { .. }
                | Builtin::AsNumber
                | Builtin::Port
                | Builtin::Protocol
                | Builtin::IntOrString => Value::Number(0.into()),
                Builtin::Duration => Value::String("0s".into()),
                Builtin::Time | Builtin::Any => Value::Null,
            },
        }
    }
}

/// Why a value could not be decoded; `Display` gives Go's `encoding/json` texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    UnknownField(String),
    Type {
        value: String,
        struct_name: String,
        field: String,
        go_type: String,
    },
    Custom(String),
    /// A string that does not parse as its scalar type (time, duration, AS number, port).
    Scalar(ScalarError),
    TooDeep,
}

impl From<ScalarError> for DecodeError {
    fn from(e: ScalarError) -> Self {
        DecodeError::Scalar(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownField(k) => write!(f, "json: unknown field {k:?}"),
            DecodeError::Type {
                value,
                struct_name,
                field,
                go_type,
            } => {
                if struct_name.is_empty() && field.is_empty() {
                    write!(
                        f,
                        "json: cannot unmarshal {value} into Go value of type {go_type}"
                    )
                } else {
                    write!(
                        f,
                        "json: cannot unmarshal {value} into Go struct field {struct_name}.{field} of type {go_type}"
                    )
                }
            }
            DecodeError::Custom(s) => f.write_str(s),
            DecodeError::Scalar(e) => e.fmt(f),
            DecodeError::TooDeep => f.write_str("json: exceeded max depth"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// How Go names the kind of JSON value it could not store.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The number literal Go's decoder sees after sigs.k8s.io/yaml turned YAML into JSON.
pub fn number_literal(n: &Number) -> String {
    number_text(n, fmt_json_float)
}

/// A float stored the way Go marshals it: integral values become integer numbers.
pub fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

const MAX_DEPTH: usize = 200;

struct Decoder<'a> {
    schema: &'a Schema,
    strict: bool,
    /// The input came from YAML: scalars headed for string fields are stringified first.
    yaml: bool,
    /// false: `omitzero` fields are treated as plain `omitempty` ones.
    honour_omitzero: bool,
    /// Lists and maps given empty stay (see [`Schema::decode_keeping_empty`]).
    keep_empty: bool,
    struct_name: &'a str,
    path: Vec<&'a str>,
    depth: usize,
    /// The first error encoding/json would save and report once the decode is over.
    saved: Option<DecodeError>,
}

impl<'a> Decoder<'a> {
    /// Keeps the first soft error (type mismatch, unknown field) and goes on with the Go zero
    /// value in its place, as encoding/json does.
    fn save(&mut self, e: DecodeError, ty: &Ty) -> Value {
        if self.saved.is_none() {
            self.saved = Some(e);
        }
        self.schema.zero_value(ty)
    }

    fn type_error(&self, value: String, ty: &Ty) -> DecodeError {
        DecodeError::Type {
            value,
            struct_name: self.struct_name.to_string(),
            field: self.path.join("."),
            go_type: ty.pointee().go_string(),
        }
    }

    /// A custom unmarshaler's "cannot unmarshal X into Go value of type string", with the
    /// field context Go adds on the way out.
    fn inner_string_error(&self, v: &Value) -> DecodeError {
        DecodeError::Type {
            value: json_kind(v).to_string(),
            struct_name: self.struct_name.to_string(),
            field: self.path.join("."),
            go_type: "string".to_string(),
        }
    }

    fn decode(&mut self, ty: &Ty, v: &Value) -> Result<Value, DecodeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let r = self.decode_inner(ty, v);
        self.depth -= 1;
        r
    }

    fn decode_inner(&mut self, ty: &Ty, v: &Value) -> Result<Value, DecodeError> {
        match ty {
            Ty::Ptr(inner) => {
                if v.is_null() {
                    Ok(Value::Null)
                } else {
                    self.decode(inner, v)
                }
            }
            Ty::Slice(elem) => match v {
                Value::Null => Ok(Value::Null),
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        if item.is_null() {
                            out.push(self.null_element(elem));
                        } else {
                            out.push(self.decode(elem, item)?);
                        }
                    }
                    Ok(Value::Array(out))
                }
                _ => {
                    let e = self.type_error(json_kind(v).to_string(), ty);
                    Ok(self.save(e, ty))
                }
            },
            Ty::Map(elem) => match v {
                Value::Null => Ok(Value::Null),
                Value::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    let mut out = Map::with_capacity(m.len());
                    for k in keys {
                        let item = &m[k];
                        let val = if item.is_null() {
                            self.null_element(elem)
                        } else {
                            self.decode(elem, item)?
                        };
                        out.insert(k.clone(), val);
                    }
                    Ok(Value::Object(out))
                }
                _ => {
                    let e = self.type_error(json_kind(v).to_string(), ty);
                    Ok(self.save(e, ty))
                }
            },
            Ty::Struct(name) => self.decode_struct(name, ty, v),
            Ty::Scalar { base, .. } => self.decode_scalar(*base, ty, v),
        }
    }

    /// A JSON null stored into a slice/map element leaves the Go zero value.
    fn null_element(&self, elem: &Ty) -> Value {
        self.schema.zero_value(elem)
    }

    fn decode_struct(&mut self, name: &str, ty: &Ty, v: &Value) -> Result<Value, DecodeError> {
        let def = self
            .schema
            .get(name)
            .ok_or_else(|| DecodeError::Custom(format!("internal: unknown struct {name}")))?;
        let obj = match v {
            Value::Object(m) => m,
            Value::Null => return Ok(self.schema.zero_value(ty)),
            _ => {
                let e = self.type_error(json_kind(v).to_string(), ty);
                return Ok(self.save(e, ty));
            }
        };
        // Go walks the JSON text, whose keys sigs.k8s.io/yaml emitted sorted.
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        let mut slots: Vec<Option<Value>> = vec![None; def.fields.len()];
        for key in keys {
            let Some(field) = def.lookup(key) else {
                if self.strict && self.saved.is_none() {
                    self.saved = Some(DecodeError::UnknownField(key.clone()));
                }
                continue;
            };
            let idx = def
                .fields
                .iter()
                .position(|f| f.json == field.json)
                .unwrap_or(0);
            let item = &obj[key];
            let saved_struct = std::mem::replace(&mut self.struct_name, def.short_name());
            self.path.push(&field.json);
            // sigs.k8s.io/yaml finds the target of an `inline` field's keys in the embedding
            // struct (a struct, not a string), so those are never stringified.
            let saved_yaml = self.yaml;
            self.yaml &= !field.inline;
            let r = if item.is_null() {
                Ok(self.null_into(&field.ty))
            } else {
                self.decode(&field.ty, item)
            };
            self.yaml = saved_yaml;
            self.path.pop();
            self.struct_name = saved_struct;
            slots[idx] = Some(r?);
        }
        let mut out = Map::new();
        for (field, slot) in def.fields.iter().zip(slots) {
            match slot {
                Some(val) => {
                    let omitzero = field.omitzero && self.honour_omitzero;
                    let keep = self.keep_empty
                        && matches!(field.ty, Ty::Slice(_) | Ty::Map(_))
                        && !val.is_null();
                    if !keep
                        && ((field.omitempty && is_empty(&field.ty, &val))
                            || (omitzero && self.is_zero(&field.ty, &val)))
                    {
                        continue;
                    }
                    out.insert(field.json.clone(), val);
                }
                None => {
                    // An absent field holds Go's zero value, which omitempty may drop (but
                    // never for a struct) and omitzero always drops.
                    let zero = self.schema.zero_value(&field.ty);
                    if (field.omitzero && self.honour_omitzero)
                        || (field.omitempty && is_empty(&field.ty, &zero))
                    {
                        continue;
                    }
                    out.insert(field.json.clone(), zero);
                }
            }
        }
        Ok(Value::Object(out))
    }

    /// A JSON null into a Go field: pointers/slices/maps become nil, everything else keeps its
    /// zero value.
    fn null_into(&self, ty: &Ty) -> Value {
        self.schema.zero_value(ty)
    }

    fn is_zero(&self, ty: &Ty, v: &Value) -> bool {
        *v == self.schema.zero_value(ty) || (!matches!(ty, Ty::Struct(_)) && is_empty(ty, v))
    }

    fn decode_scalar(&mut self, base: Builtin, ty: &Ty, v: &Value) -> Result<Value, DecodeError> {
        // Plain Go kinds: a mismatch is saved and decoding goes on.
        let plain: Result<Value, DecodeError> = match base {
            Builtin::String => match v {
                Value::String(_) => Ok(v.clone()),
                Value::Number(n) if self.yaml => Ok(Value::String(yaml_number_string(n))),
                Value::Bool(b) if self.yaml => Ok(Value::String(b.to_string())),
                _ => Err(self.type_error(json_kind(v).to_string(), ty)),
            },
            Builtin::Bool => match v {
                Value::Bool(_) => Ok(v.clone()),
                _ => Err(self.type_error(json_kind(v).to_string(), ty)),
            },
            Builtin::Int { bits, signed } => match v {
                Value::Number(n) => {
                    let lit = number_literal(n);
                    parse_int_literal(&lit, bits, signed)
                        .ok_or_else(|| self.type_error(format!("number {lit}"), ty))
                }
                _ => Err(self.type_error(json_kind(v).to_string(), ty)),
            },
            Builtin::Float { bits } => match v {
                Value::Number(n) => {
                    let f = n.as_f64().unwrap_or(0.0);
                    if bits == 32 && f.abs() > f32::MAX as f64 {
                        Err(self.type_error(format!("number {}", number_literal(n)), ty))
                    } else if n.is_f64() {
                        Ok(float_value(f))
                    } else {
                        Ok(v.clone())
                    }
                }
                _ => Err(self.type_error(json_kind(v).to_string(), ty)),
            },
            _ => return self.decode_custom(base, v),
        };
        Ok(plain.unwrap_or_else(|e| self.save(e, ty)))
    }

    /// Types with their own `UnmarshalJSON`: any failure stops the whole decode.
    fn decode_custom(&mut self, base: Builtin, v: &Value) -> Result<Value, DecodeError> {
        match base {
            Builtin::String | Builtin::Bool | Builtin::Int { .. } | Builtin::Float { .. } => {
                unreachable!("plain kinds are decoded by decode_scalar")
            }
            Builtin::AsNumber => self.decode_asnumber(v),
            Builtin::Port => self.decode_port(v),
            Builtin::Protocol => match v {
                Value::Number(n) => {
                    let lit = number_literal(n);
                    parse_int_literal(&lit, 8, false)
                        .ok_or_else(|| self.type_error(format!("number {lit}"), &scalar("uint8")))
                }
                Value::String(s) => Ok(match s.parse::<u8>() {
                    Ok(n) => Value::Number(n.into()),
                    Err(_) => v.clone(),
                }),
                _ => Err(self.type_error(json_kind(v).to_string(), &scalar("uint8"))),
            },
            Builtin::IntOrString => match v {
                Value::Number(n) => {
                    let lit = number_literal(n);
                    parse_int_literal(&lit, 32, true)
                        .ok_or_else(|| self.type_error(format!("number {lit}"), &scalar("int32")))
                }
                Value::String(_) => Ok(v.clone()),
                // intstr reads anything but a JSON string as its int32.
                _ => Err(self.type_error(json_kind(v).to_string(), &scalar("int32"))),
            },
            Builtin::Time => match v {
                Value::String(s) => gotypes::normalize_time(s)
                    .map(Value::String)
                    .map_err(|e| ScalarError::from(e).into()),
                _ => Err(self.inner_string_error(v)),
            },
            Builtin::Duration => match v {
                Value::String(s) => gotypes::normalize_duration(s)
                    .map(Value::String)
                    .map_err(|e| ScalarError::from(e).into()),
                _ => Err(self.inner_string_error(v)),
            },
            Builtin::Any => Ok(normalize_any(v)),
        }
    }

    fn decode_asnumber(&self, v: &Value) -> Result<Value, DecodeError> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(u) if u <= u32::MAX as u64 => Ok(Value::Number(u.into())),
                _ => Err(self.inner_string_error(v)),
            },
            Value::String(s) => parse_asnumber(s)
                .map(|n| Value::Number(n.into()))
                .map_err(DecodeError::Scalar),
            _ => Err(self.inner_string_error(v)),
        }
    }

    /// numorstring.Port: a quoted value is a port, a range or a port name; anything else is
    /// unmarshalled as a uint16 (whose errors carry the field context).
    fn decode_port(&self, v: &Value) -> Result<Value, DecodeError> {
        let uint16 = Ty::Scalar {
            go_name: "uint16".into(),
            base: Builtin::Int {
                bits: 16,
                signed: false,
            },
        };
        match v {
            Value::String(s) => port_from_string(s).map_err(DecodeError::Scalar),
            Value::Number(n) => {
                let lit = number_literal(n);
                parse_int_literal(&lit, 16, false)
                    .ok_or_else(|| self.type_error(format!("number {lit}"), &uint16))
            }
            _ => Err(self.type_error(json_kind(v).to_string(), &uint16)),
        }
    }
}

fn scalar(go: &str) -> Ty {
    Ty::Scalar {
        go_name: go.to_string(),
        base: Builtin::String,
    }
}

/// Go's omitempty test: structs (and struct-backed custom types) are never empty.
pub fn is_empty(ty: &Ty, v: &Value) -> bool {
    match ty {
        Ty::Struct(_) => false,
        Ty::Ptr(_) => v.is_null(),
        Ty::Slice(_) => v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        Ty::Map(_) => v.is_null() || v.as_object().is_some_and(|m| m.is_empty()),
        Ty::Scalar { base, .. } => match base {
            Builtin::String => v.is_null() || v.as_str() == Some(""),
            Builtin::Bool => v.is_null() || v.as_bool() == Some(false),
            Builtin::Int { .. } | Builtin::Float { .. } | Builtin::AsNumber => {
                v.is_null() || v.as_f64() == Some(0.0)
            }
            Builtin::Port
            | Builtin::Protocol
            | Builtin::IntOrString
            | Builtin::Time
            | Builtin::Duration => false,
            Builtin::Any => v.is_null(),
        },
    }
}

/// `strconv.ParseInt(lit, 10, 64)` plus the overflow check for the target width.
fn parse_int_literal(lit: &str, bits: u8, signed: bool) -> Option<Value> {
    if signed {
        let n: i64 = lit.parse().ok()?;
        let (min, max) = match bits {
            8 => (i8::MIN as i64, i8::MAX as i64),
            16 => (i16::MIN as i64, i16::MAX as i64),
            32 => (i32::MIN as i64, i32::MAX as i64),
            _ => (i64::MIN, i64::MAX),
        };
        (min..=max).contains(&n).then(|| Value::Number(n.into()))
    } else {
        let n: u64 = lit.parse().ok()?;
        let max = match bits {
            8 => u8::MAX as u64,
            16 => u16::MAX as u64,
            32 => u32::MAX as u64,
            _ => u64::MAX,
        };
        (n <= max).then(|| Value::Number(n.into()))
    }
}

/// Parses an AS number string: plain decimal or asdot `high.low`.
pub fn parse_asnumber(s: &str) -> Result<u32, ScalarError> {
    let bad = || ScalarError::AsNumber(s.to_string());
    if let Some((hi, lo)) = s.split_once('.') {
        let hi: u32 = hi.parse().map_err(|_| bad())?;
        let lo: u32 = lo.parse().map_err(|_| bad())?;
        if hi > 0xffff || lo > 0xffff {
            return Err(bad());
        }
        Ok((hi << 16) | lo)
    } else {
        s.parse::<u32>().map_err(|_| bad())
    }
}

/// numorstring's `PortFromString`, as the Port re-marshals: digits are a port number, `a:b`
/// a range (a number when a == b), anything else must look like a port name (letters,
/// digits, `-`, `_`, `.`, up to 128 characters; the validator checks the name rules later).
fn port_from_string(s: &str) -> Result<Value, ScalarError> {
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if digits(s) {
        return s
            .parse::<u16>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| ScalarError::PortFormat(s.to_string()));
    }
    if let Some((a, b)) = s.split_once(':')
        && digits(a)
        && digits(b)
    {
        let min = a
            .parse::<u16>()
            .map_err(|_| ScalarError::MinPort(s.to_string()))?;
        let max = b
            .parse::<u16>()
            .map_err(|_| ScalarError::MaxPort(s.to_string()))?;
        if min > max {
            return Err(ScalarError::PortOrder { min, max });
        }
        return Ok(if min == max {
            Value::Number(min.into())
        } else {
            Value::String(format!("{min}:{max}"))
        });
    }
    let name_ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if name_ok {
        Ok(Value::String(s.to_string()))
    } else {
        Err(ScalarError::PortName(s.to_string()))
    }
}

/// How sigs.k8s.io/yaml writes a YAML number bound for a string field (or a map key):
/// integers in decimal, floats as `strconv.FormatFloat(f, 'g', -1, 32)`.
pub fn yaml_number_string(n: &Number) -> String {
    number_text(n, fmt_g_shortest32)
}

/// `interface{}` round trip: maps sorted, numbers as float64.
pub fn normalize_any(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), normalize_any(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize_any).collect()),
        Value::Number(n) => float_value(n.as_f64().unwrap_or(0.0)),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_schema_parses() {
        let s = schema();
        assert!(s.get("v3.IPPoolSpec").is_some());
        assert!(s.get("metav1.ObjectMeta").is_some());
    }

    fn decode(v: Value) -> Result<Value, DecodeError> {
        schema().decode("v3.IPPool", &v, true)
    }

    #[test]
    fn canonical_order_and_omitempty() {
        let out = decode(json!({
            "spec": {"natOutgoing": true, "CIDR": "10.0.0.0/16", "blockSize": 26.0, "disabled": false},
            "metadata": {"name": "p", "labels": {"z": "1", "a": "2"}},
            "apiVersion": "projectcalico.org/v3",
            "kind": "IPPool"
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p","labels":{"a":"2","z":"1"}},"spec":{"cidr":"10.0.0.0/16","natOutgoing":true,"blockSize":26}}"#
        );
    }

    #[test]
    fn absent_required_fields_get_zero_values() {
        let out = decode(json!({"kind": "IPPool", "spec": {}})).unwrap();
        assert_eq!(out["spec"], json!({"cidr": ""}));
        assert_eq!(out["metadata"], json!({}));
    }

    #[test]
    fn go_error_texts() {
        let e = decode(json!({"spec": {"blockSize": "26"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field IPPoolSpec.spec.blockSize of type int"
        );
        let e = decode(json!({"spec": {"blockSize": 26.5}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal number 26.5 into Go struct field IPPoolSpec.spec.blockSize of type int"
        );
        let e = decode(json!({"spec": {"ipipMode": 1}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal number into Go struct field IPPoolSpec.spec.ipipMode of type v3.IPIPMode"
        );
        let e = decode(json!({"metadata": {"labels": {"a": 1}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        );
        let e = decode(json!({"spec": "x"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field IPPool.spec of type v3.IPPoolSpec"
        );
        let e = decode(json!({"spec": {"bogus": 1}})).unwrap_err();
        assert_eq!(e.to_string(), "json: unknown field \"bogus\"");
    }

    #[test]
    fn first_error_in_sorted_key_order() {
        let e = decode(json!({"spec": {"zzz": 1}, "metadata": {"yyy": 1}})).unwrap_err();
        assert_eq!(e, DecodeError::UnknownField("yyy".into()));
    }

    #[test]
    fn lenient_drops_unknown() {
        let out = schema()
            .decode(
                "v3.IPPool",
                &json!({"spec": {"cidr": "x", "future": 1}}),
                false,
            )
            .unwrap();
        assert_eq!(out["spec"], json!({"cidr": "x"}));
    }

    #[test]
    fn nulls_behave_like_go() {
        let out = decode(json!({"spec": {"cidr": null, "natOutgoing": null, "allowedUses": null}}))
            .unwrap();
        assert_eq!(out["spec"], json!({"cidr": ""}));
    }

    #[test]
    fn special_types() {
        let port_from_string = |s| port_from_string(s).map_err(|e| e.to_string());
        assert_eq!(parse_asnumber("1.10").unwrap(), 65546);
        assert!(parse_asnumber("70000.1").is_err());
        assert_eq!(port_from_string("80"), Ok(json!(80)));
        assert_eq!(port_from_string("00080"), Ok(json!(80)));
        assert_eq!(port_from_string("80:90"), Ok(json!("80:90")));
        assert_eq!(port_from_string("80:80"), Ok(json!(80)));
        assert_eq!(port_from_string("http"), Ok(json!("http")));
        assert_eq!(
            port_from_string("65536"),
            Err("invalid port format (65536)".into())
        );
        assert_eq!(
            port_from_string("90:80"),
            Err(
                "minimum port number (90) is greater than maximum port number (80) in port range"
                    .into()
            )
        );
        assert_eq!(
            port_from_string("1:65536"),
            Err("invalid maximum port number in range (1:65536)".into())
        );
        assert_eq!(
            port_from_string("a b"),
            Err("invalid name for named port (a b)".into())
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let mut v = json!({});
        for _ in 0..1000 {
            v = json!({ "fieldsV1": v });
        }
        let doc = json!({"metadata": {"managedFields": [{"fieldsV1": v}]}});
        // `any` values are copied, not recursed through the schema; but they must not blow up.
        assert!(decode(doc).is_ok());
    }
}
