//! Printers for `get` (`-o ps|wide|yaml|json|custom-columns|go-template…`), built on the
//! Go-compatible text primitives of [`crate::gocompat`].
//! Printers know nothing about datastores; they receive canonical objects.

pub mod stream;

use std::io::Write;

use serde_json::{Map, Value};

use crate::gocompat::goerr::read_file_error;
use crate::gocompat::{gotemplate, json, jsonpath, tabwriter, yaml};

use crate::model::kinds::{API_VERSION, ColumnCtx, KindInfo};
use crate::model::schema::{Builtin, Ty, schema};

/// Why `-o` cannot be used or printing failed; the texts are calicoctl's.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("need to specify a template")]
    NoTemplate,
    #[error("need to specify a template file")]
    NoTemplateFile,
    /// Go's `os.ReadFile` text (`open PATH: no such file or directory`), as calicoctl prints it.
    #[error("{0}")]
    TemplateFile(String),
    #[error("need to specify at least one column")]
    NoColumns,
    #[error("error reading jsonpath file {path}: {source}")]
    JsonPathFile {
        path: String,
        source: std::io::Error,
    },
    #[error("unrecognized output format '{0}'")]
    Unrecognized(String),
    #[error("unknown heading {heading}, valid values are: {valid}")]
    UnknownHeading { heading: String, valid: String },
    #[error("not a table format")]
    NotTable,
    #[error(transparent)]
    GoTemplate(#[from] gotemplate::TemplateError),
    #[error(transparent)]
    JsonPath(#[from] jsonpath::TemplateError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The go-template function `config` was asked for a name it does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown config name")]
struct UnknownConfigName;

/// A parsed `-o` value.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    Ps,
    Wide,
    Yaml,
    Json,
    /// calicoctl style (`NAME,CIDR`) or kubectl style (`HDR:.path,…`).
    CustomColumns(Vec<String>),
    GoTemplate(String),
    Name,
    JsonPath(String),
}

impl OutputFormat {
    /// Parses `-o`; texts are calicoctl's. Template files are read here, before any datastore
    /// access.
    pub fn parse(s: &str) -> Result<OutputFormat, OutputError> {
        Ok(match s {
            "ps" => OutputFormat::Ps,
            "wide" => OutputFormat::Wide,
            "yaml" | "yml" => OutputFormat::Yaml,
            "json" => OutputFormat::Json,
            "name" => OutputFormat::Name,
            // calicoctl's texts for the two template formats given without their value.
            "go-template" => return Err(OutputError::NoTemplate),
            "go-template-file" => return Err(OutputError::NoTemplateFile),
            _ => {
                if let Some(t) = s.strip_prefix("go-template=") {
                    if t.is_empty() {
                        return Err(OutputError::NoTemplate);
                    }
                    OutputFormat::GoTemplate(t.to_string())
                } else if let Some(f) = s.strip_prefix("go-template-file=") {
                    if f.is_empty() {
                        return Err(OutputError::NoTemplateFile);
                    }
                    OutputFormat::GoTemplate(
                        std::fs::read_to_string(f)
                            .map_err(|e| OutputError::TemplateFile(read_file_error(f, &e)))?,
                    )
                } else if let Some(c) = s.strip_prefix("custom-columns=") {
                    if c.is_empty() {
                        return Err(OutputError::NoColumns);
                    }
                    OutputFormat::CustomColumns(c.split(',').map(str::to_string).collect())
                } else if let Some(t) = s.strip_prefix("jsonpath=") {
                    OutputFormat::JsonPath(t.to_string())
                } else if let Some(f) = s.strip_prefix("jsonpath-file=") {
                    OutputFormat::JsonPath(std::fs::read_to_string(f).map_err(|source| {
                        OutputError::JsonPathFile {
                            path: f.to_string(),
                            source,
                        }
                    })?)
                } else {
                    return Err(OutputError::Unrecognized(s.to_string()));
                }
            }
        })
    }
}

/// One printed result: a `<Kind>List` (from `get <kind>`) or a single object.
#[derive(Debug, Clone)]
pub enum Printed {
    List {
        kind: &'static KindInfo,
        items: Vec<Value>,
        revision: String,
    },
    Object {
        kind: &'static KindInfo,
        obj: Value,
    },
}

impl Printed {
    fn kind(&self) -> &'static KindInfo {
        match self {
            Printed::List { kind, .. } | Printed::Object { kind, .. } => kind,
        }
    }

    /// The JSON value as calicoctl marshals it (lists: kind, apiVersion, metadata, items).
    pub fn to_value(&self) -> Value {
        match self {
            Printed::Object { obj, .. } => obj.clone(),
            Printed::List {
                kind,
                items,
                revision,
            } => {
                let mut m = Map::new();
                m.insert("kind".into(), Value::String(kind.list_kind()));
                m.insert("apiVersion".into(), Value::String(API_VERSION.into()));
                m.insert("metadata".into(), list_metadata(revision));
                m.insert("items".into(), Value::Array(items.clone()));
                Value::Object(m)
            }
        }
    }

    fn items(&self) -> Vec<&Value> {
        match self {
            Printed::Object { obj, .. } => vec![obj],
            Printed::List { items, .. } => items.iter().collect(),
        }
    }
}

/// A list's `metadata`: its resourceVersion, or `{}` when there is none.
pub(crate) fn list_metadata(revision: &str) -> Value {
    let mut meta = Map::new();
    if !revision.is_empty() {
        meta.insert("resourceVersion".into(), Value::String(revision.into()));
    }
    Value::Object(meta)
}

/// Options that influence printing.
#[derive(Debug, Clone, Default)]
pub struct PrintOptions {
    /// `-A` or a non-empty `-n`: prepend NAMESPACE for namespaced kinds.
    pub print_namespace: bool,
    pub no_headers: bool,
    pub column_ctx: ColumnCtx,
}

/// Checks custom-columns headings against the kind (calicoctl style only).
pub fn check_headings(kind: &KindInfo, cols: &[String]) -> Result<(), OutputError> {
    if cols.iter().any(|c| c.contains(':')) {
        return Ok(());
    }
    let valid = kind.all_headings();
    for c in cols {
        if !valid.contains(&c.as_str()) {
            return Err(OutputError::UnknownHeading {
                heading: c.clone(),
                valid: valid.join(", "),
            });
        }
    }
    Ok(())
}

/// Prints results in the requested format.
pub fn print(
    out: &mut dyn Write,
    printed: &[Printed],
    format: &OutputFormat,
    opts: &PrintOptions,
) -> Result<(), OutputError> {
    match format {
        OutputFormat::Ps | OutputFormat::Wide | OutputFormat::CustomColumns(_) => {
            for p in printed {
                let kind = p.kind();
                let layout = TableLayout::new(kind, format, opts)?;
                let mut rows: Vec<Vec<String>> = Vec::new();
                if !opts.no_headers {
                    rows.push(layout.headings.clone());
                }
                for item in p.items() {
                    rows.push(layout.row(kind, item, opts)?);
                }
                out.write_all(tabwriter::tabwriter(&rows).as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Yaml => {
            let v = combined(printed);
            out.write_all(yaml::to_yaml(&v).as_bytes())?;
        }
        OutputFormat::Json => {
            let v = combined(printed);
            out.write_all(json::to_go_json_indent(&v).as_bytes())?;
        }
        OutputFormat::Name => {
            for p in printed {
                for item in p.items() {
                    writeln!(
                        out,
                        "{}.projectcalico.org/{}",
                        p.kind().kind.to_lowercase(),
                        crate::model::meta::name(item)
                    )?;
                }
            }
        }
        OutputFormat::JsonPath(t) => {
            let tpl = jsonpath::parse(t)?;
            let data = if printed.len() == 1 {
                printed[0].to_value()
            } else {
                serde_json::json!({
                    "apiVersion": "v1",
                    "items": printed.iter().map(Printed::to_value).collect::<Vec<_>>(),
                    "kind": "List",
                    "metadata": {"resourceVersion": ""}
                })
            };
            let s = tpl.execute(&data)?;
            out.write_all(s.as_bytes())?;
        }
        OutputFormat::GoTemplate(t) => {
            let tpl = gotemplate::parse(t)?;
            // calicoctl hands the template a `[]runtime.Object`.
            let data = gotemplate::GoValue::Slice(
                printed
                    .iter()
                    .map(|p| gotemplate::GoValue::Object(Box::new(go_view_printed(p))))
                    .collect(),
            );
            let asn = opts.column_ctx.default_asn.clone();
            let funcs = move |name: &str,
                              args: &[gotemplate::GoValue]|
                  -> Option<Result<gotemplate::GoValue, gotemplate::FuncError>> {
                if name != "config" {
                    return None;
                }
                Some(match args.first() {
                    Some(gotemplate::GoValue::String(s)) if s == "asnumber" => {
                        Ok(gotemplate::GoValue::String(asn.clone()))
                    }
                    _ => Err(UnknownConfigName.into()),
                })
            };
            let s = tpl.execute(&data, &funcs)?;
            out.write_all(s.as_bytes())?;
        }
    }
    Ok(())
}

/// The columns of a table format: headings, and kubectl-style JSONPaths when given.
pub(crate) struct TableLayout {
    pub headings: Vec<String>,
    kubectl_paths: Option<Vec<String>>,
}

impl TableLayout {
    pub(crate) fn new(
        kind: &KindInfo,
        format: &OutputFormat,
        opts: &PrintOptions,
    ) -> Result<Self, OutputError> {
        let (headings, kubectl_paths) = match format {
            OutputFormat::Ps => (heads(kind, kind.ps, opts.print_namespace), None),
            OutputFormat::Wide => (heads(kind, kind.wide, opts.print_namespace), None),
            OutputFormat::CustomColumns(cols) if cols.iter().any(|c| c.contains(':')) => {
                let mut h = Vec::new();
                let mut paths = Vec::new();
                for c in cols {
                    let (name, path) = c.split_once(':').unwrap_or((c, ""));
                    h.push(name.to_string());
                    paths.push(path.to_string());
                }
                (h, Some(paths))
            }
            OutputFormat::CustomColumns(cols) => {
                check_headings(kind, cols)?;
                (cols.clone(), None)
            }
            _ => return Err(OutputError::NotTable),
        };
        Ok(TableLayout {
            headings,
            kubectl_paths,
        })
    }

    pub(crate) fn row(
        &self,
        kind: &KindInfo,
        item: &Value,
        opts: &PrintOptions,
    ) -> Result<Vec<String>, OutputError> {
        Ok(match &self.kubectl_paths {
            Some(paths) => paths
                .iter()
                .map(|path| kubectl_column(item, path))
                .collect::<Result<Vec<_>, _>>()?,
            None => self
                .headings
                .iter()
                .map(|h| kind.column(h, item, &opts.column_ctx).unwrap_or_default())
                .collect(),
        })
    }
}

fn heads(kind: &KindInfo, base: &[&str], print_namespace: bool) -> Vec<String> {
    let mut h: Vec<String> = Vec::new();
    if print_namespace && kind.namespaced {
        h.push("NAMESPACE".into());
    }
    h.extend(base.iter().map(|s| s.to_string()));
    h
}

/// One object alone, ≥2 as an array, none as `null` (calicoctl's rule).
fn combined(printed: &[Printed]) -> Value {
    match printed {
        [] => Value::Null,
        [one] => one.to_value(),
        many => Value::Array(many.iter().map(Printed::to_value).collect()),
    }
}

/// A kubectl-style custom column: a JSONPath without braces (`.spec.cidr`).
fn kubectl_column(item: &Value, path: &str) -> Result<String, OutputError> {
    let tpl = if path.starts_with('{') {
        path.to_string()
    } else {
        format!("{{{path}}}")
    };
    let t = jsonpath::parse(&tpl)?;
    let s = t.execute(item)?;
    Ok(if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    })
}

// ---- Go view for go-template -------------------------------------------------------------

fn go_view_printed(p: &Printed) -> gotemplate::GoValue {
    use gotemplate::{GoField, GoValue};
    match p {
        Printed::Object { kind, obj } => go_view(&Ty::Struct(kind.type_name()), Some(obj)),
        Printed::List {
            kind,
            items,
            revision,
        } => GoValue::Struct {
            type_name: format!("v3.{}", kind.list_kind()),
            fields: vec![
                GoField {
                    name: "Kind".into(),
                    value: GoValue::String(kind.list_kind()),
                    embedded: false,
                },
                GoField {
                    name: "APIVersion".into(),
                    value: GoValue::String(API_VERSION.into()),
                    embedded: false,
                },
                GoField {
                    name: "ListMeta".into(),
                    value: go_view(
                        &Ty::Struct("metav1.ListMeta".into()),
                        Some(&serde_json::json!({"resourceVersion": revision})),
                    ),
                    embedded: true,
                },
                GoField {
                    name: "Items".into(),
                    value: GoValue::Slice(
                        items
                            .iter()
                            .map(|i| go_view(&Ty::Struct(kind.type_name()), Some(i)))
                            .collect(),
                    ),
                    embedded: false,
                },
            ],
        },
    }
}

/// Canonical JSON → the Go value a template sees (Go field names, zero values for absent
/// fields, nil pointers).
pub fn go_view(ty: &Ty, v: Option<&Value>) -> gotemplate::GoValue {
    use gotemplate::{GoField, GoValue};
    let v = v.filter(|x| !x.is_null());
    match ty {
        Ty::Ptr(inner) => match v {
            None => GoValue::Nil,
            Some(_) => go_view(inner, v),
        },
        Ty::Slice(elem) => GoValue::Slice(
            v.and_then(Value::as_array)
                .map(|a| a.iter().map(|x| go_view(elem, Some(x))).collect())
                .unwrap_or_default(),
        ),
        Ty::Map(elem) => GoValue::Map(
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| (k.clone(), go_view(elem, Some(x))))
                        .collect()
                })
                .unwrap_or_default(),
            Box::new(go_view(elem, None)),
        ),
        Ty::Struct(name) => {
            let Some(def) = schema().get(name) else {
                return v.map(gotemplate::from_json_untyped).unwrap_or(GoValue::Nil);
            };
            GoValue::Struct {
                type_name: name.clone(),
                fields: def
                    .fields
                    .iter()
                    .map(|f| GoField {
                        name: f.go.clone(),
                        value: go_view(&f.ty, v.and_then(|o| o.get(&f.json))),
                        embedded: f.embed,
                    })
                    .collect(),
            }
        }
        Ty::Scalar { base, .. } => match (base, v) {
            (Builtin::String, x) => {
                GoValue::String(x.and_then(Value::as_str).unwrap_or_default().to_string())
            }
            (Builtin::Bool, x) => GoValue::Bool(x.and_then(Value::as_bool).unwrap_or(false)),
            (Builtin::Int { signed: true, .. }, x) => {
                GoValue::Int(x.and_then(Value::as_i64).unwrap_or(0))
            }
            (Builtin::Int { signed: false, .. } | Builtin::AsNumber, x) => {
                GoValue::Uint(x.and_then(Value::as_u64).unwrap_or(0))
            }
            (Builtin::Float { .. }, x) => GoValue::Float(x.and_then(Value::as_f64).unwrap_or(0.0)),
            (Builtin::Time, Some(Value::String(s))) => GoValue::String(go_time_string(s)),
            (Builtin::Time, _) => GoValue::String("0001-01-01 00:00:00 +0000 UTC".into()),
            (Builtin::Duration, x) => GoValue::Struct {
                type_name: "metav1.Duration".into(),
                fields: vec![GoField {
                    name: "Duration".into(),
                    value: GoValue::String(x.and_then(Value::as_str).unwrap_or("0s").to_string()),
                    embedded: true,
                }],
            },
            (_, Some(x)) => match x {
                Value::Number(n) if n.is_u64() => GoValue::Uint(n.as_u64().unwrap_or(0)),
                Value::Number(n) if n.is_i64() => GoValue::Int(n.as_i64().unwrap_or(0)),
                other => gotemplate::from_json_untyped(other),
            },
            (_, None) => GoValue::Nil,
        },
    }
}

/// `time.Time`'s `%v`: `2006-01-02 15:04:05 +0000 UTC`.
fn go_time_string(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}
