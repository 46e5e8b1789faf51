//! Go `text/template` as calicoctl's `-o go-template=` uses it: actions, pipelines, variables,
//! `if`/`range`/`with`, the builtin functions, and calicoctl's `join`, `joinAndTruncate` and
//! `config`. Templates see Go values ([`GoValue`]) with Go field names and `%v` printing.

use serde_json::Value;

use super::gofmt::{fmt_map, fmt_slice, fmt_struct, fmt_v_float};

/// A template parse or execution error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// calicoctl names its template "get".
const NAME: &str = "get";

fn e(m: impl Into<String>) -> TemplateError {
    TemplateError(format!("template: {NAME}: {}", m.into()))
}

/// A parse error as text/template reports it: the line it was found on.
fn parse_error(line: usize, m: impl Into<String>) -> TemplateError {
    TemplateError(format!("template: {NAME}:{line}: {}", m.into()))
}

/// A failure of a step that does not know where in the source it is (an action's pipeline
/// being parsed, a field chain being followed); the caller places it with [`parse_error`] or
/// [`exec_error`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unplaced(String);

fn unplaced(m: impl Into<String>) -> Unplaced {
    Unplaced(m.into())
}

/// The 1-based line of byte `at` of `src`.
fn line_at(src: &str, at: usize) -> usize {
    1 + src[..at.min(src.len())].matches('\n').count()
}

/// Functions a template may call: text/template's builtins and calicoctl's additions. Any
/// other name fails the parse, as Go's parser checks names against its function map.
const FUNCS: &[&str] = &[
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    "join",
    "joinAndTruncate",
    "config",
];

/// An execution error as text/template reports it: the failing node's line and byte column
/// (0-based, as `ErrorContext` counts) and its text.
fn exec_error(src: &str, pos: usize, context: &str, m: &Unplaced) -> TemplateError {
    let before = &src[..pos.min(src.len())];
    let line = line_at(src, pos);
    let col = match before.rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    TemplateError(format!(
        "template: {NAME}:{line}:{col}: executing \"{NAME}\" at <{context}>: {m}"
    ))
}

/// A Go value as a template sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// nil pointer / interface: prints `<nil>`.
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    Slice(Vec<GoValue>),
    /// A `map[string]T` and the zero value of `T` (what `index` gives for a missing key);
    /// printed and ranged in key order.
    Map(Vec<(String, GoValue)>, Box<GoValue>),
    /// Go's invalid `reflect.Value`: a missing map key reached by a field chain. Prints
    /// `<no value>`; fields of it are missing too.
    NoValue,
    /// A value held in a `runtime.Object` interface: what calicoctl hands the template is a
    /// `[]runtime.Object`, and an error names that static type, not the value's.
    Object(Box<GoValue>),
    Struct {
        type_name: String,
        fields: Vec<GoField>,
    },
}

/// One struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct GoField {
    pub name: String,
    pub value: GoValue,
    /// Embedded struct: its fields are promoted for lookup.
    pub embedded: bool,
}

/// A failure of an extra template function; the template error reports its text.
pub type FuncError = Box<dyn std::error::Error + Send + Sync>;

/// Extra template functions (calicoctl's `config`): `None` means "not defined".
pub type Funcs<'a> = &'a dyn Fn(&str, &[GoValue]) -> Option<Result<GoValue, FuncError>>;

const MAX_OUTPUT: usize = 256 << 20;
const MAX_DEPTH: usize = 100;

/// JSON (as decoded into `interface{}`) → template value.
pub fn from_json_untyped(v: &Value) -> GoValue {
    match v {
        Value::Null => GoValue::Nil,
        Value::Bool(b) => GoValue::Bool(*b),
        Value::Number(n) => GoValue::Float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => GoValue::String(s.clone()),
        Value::Array(a) => GoValue::Slice(a.iter().map(from_json_untyped).collect()),
        Value::Object(m) => GoValue::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), from_json_untyped(v)))
                .collect(),
            Box::new(GoValue::Nil),
        ),
    }
}

impl GoValue {
    /// Go's `%v`.
    pub fn print(&self) -> String {
        match self {
            GoValue::Nil => "<nil>".into(),
            GoValue::Bool(b) => b.to_string(),
            GoValue::Int(i) => i.to_string(),
            GoValue::Uint(u) => u.to_string(),
            GoValue::Float(f) => fmt_v_float(*f),
            GoValue::String(s) => s.clone(),
            GoValue::Slice(v) => fmt_slice(v.iter().map(GoValue::print)),
            GoValue::Map(m, _) => fmt_map(m.iter().map(|(k, v)| (k.as_str(), v.print()))),
            GoValue::NoValue => "<no value>".into(),
            GoValue::Object(v) => v.print(),
            GoValue::Struct { fields, .. } => fmt_struct(fields.iter().map(|f| f.value.print())),
        }
    }

    fn truth(&self) -> bool {
        match self {
            GoValue::Nil => false,
            GoValue::Bool(b) => *b,
            GoValue::Int(i) => *i != 0,
            GoValue::Uint(u) => *u != 0,
            GoValue::Float(f) => *f != 0.0,
            GoValue::String(s) => !s.is_empty(),
            GoValue::Slice(v) => !v.is_empty(),
            GoValue::Map(m, _) => !m.is_empty(),
            GoValue::NoValue => false,
            GoValue::Object(v) => v.truth(),
            GoValue::Struct { .. } => true,
        }
    }

    fn type_name(&self) -> String {
        match self {
            GoValue::Nil => "<nil>".into(),
            GoValue::Bool(_) => "bool".into(),
            GoValue::Int(_) => "int".into(),
            GoValue::Uint(_) => "uint".into(),
            GoValue::Float(_) => "float64".into(),
            GoValue::String(_) => "string".into(),
            GoValue::Slice(v) if matches!(v.first(), Some(GoValue::Object(_))) => {
                "[]runtime.Object".into()
            }
            GoValue::Slice(_) => "[]interface {}".into(),
            GoValue::Map(..) => "map[string]interface {}".into(),
            GoValue::NoValue => "<nil>".into(),
            GoValue::Object(_) => "runtime.Object".into(),
            GoValue::Struct { type_name, .. } => type_name.clone(),
        }
    }

    /// The value itself, out of a `runtime.Object` interface.
    fn unwrap_object(self) -> GoValue {
        match self {
            GoValue::Object(v) => *v,
            other => other,
        }
    }

    fn field(&self, name: &str) -> Option<GoValue> {
        match self {
            GoValue::Struct { fields, .. } => {
                if let Some(f) = fields.iter().find(|f| f.name == name) {
                    return Some(f.value.clone());
                }
                fields
                    .iter()
                    .filter(|f| f.embedded)
                    .find_map(|f| f.value.field(name))
            }
            GoValue::Map(m, _) => Some(
                m.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(GoValue::NoValue),
            ),
            GoValue::NoValue => Some(GoValue::NoValue),
            GoValue::Object(v) => v.field(name),
            _ => None,
        }
    }
}

// ---- parsing ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty = dot) and its position in the source (Go's: that of the chain's
    /// second field when there is one).
    Field(Vec<String>, usize),
    /// `$x.A`, positioned likewise.
    Var(String, Vec<String>, usize),
    Lit(GoValue),
    Func(String),
    /// `(pipeline)` optionally followed by a field chain.
    Pipe(Box<Pipeline>, Vec<String>, usize),
}

#[derive(Debug, Clone)]
struct Command {
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
struct Pipeline {
    decl: Vec<String>,
    cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// The source, for error positions.
    src: String,
}

enum Item {
    Text(String),
    /// An action's text and the source offset of its first byte.
    Action(String, usize),
}

fn lex(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(i) = rest.find("{{") else {
            let t = if trim_next { rest.trim_start() } else { rest };
            items.push(Item::Text(t.to_string()));
            break;
        };
        let mut text = &rest[..i];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[i + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let body_start = if trim_left { 1 } else { 0 };
        let close = find_close(after)
            .ok_or_else(|| parse_error(line_at(src, src.len() - after.len()), "unclosed action"))?;
        let mut body = &after[body_start..close];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let offset =
            (src.len() - after.len()) + body_start + (body.len() - body.trim_start().len());
        items.push(Item::Action(body.trim().to_string(), offset));
        rest = &after[close + 2..];
    }
    Ok(items)
}

fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses a template.
pub fn parse(src: &str) -> Result<Template, TemplateError> {
    let items = lex(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(src, &items, &mut pos, 0)?;
    if let Some((end, at)) = end {
        return Err(parse_error(
            line_at(src, at),
            format!("unexpected {{{{{end}}}}}"),
        ));
    }
    Ok(Template {
        nodes,
        src: src.to_string(),
    })
}

/// An `end`/`else…` action that closed a list, and its source offset.
type Terminator = Option<(String, usize)>;

/// Parses nodes until `end`/`else`; returns the terminator seen and its offset.
fn parse_list(
    src: &str,
    items: &[Item],
    pos: &mut usize,
    depth: usize,
) -> Result<(Vec<Node>, Terminator), TemplateError> {
    if depth > MAX_DEPTH {
        return Err(e("template nested too deeply"));
    }
    let mut out = Vec::new();
    while *pos < items.len() {
        let it = &items[*pos];
        *pos += 1;
        match it {
            Item::Text(t) => out.push(Node::Text(t.clone())),
            Item::Action(a, at) => {
                let at = *at;
                if a.starts_with("/*") {
                    continue;
                }
                if a == "end" || a == "else" || a.starts_with("else ") {
                    return Ok((out, Some((a.clone(), at))));
                }
                let control = ["if", "range", "with"]
                    .into_iter()
                    .find(|kw| a == kw || a.starts_with(&format!("{kw} ")));
                if let Some(kw) = control {
                    let pipe = parse_pipeline(src, &a[kw.len()..], at + kw.len())?;
                    out.push(parse_control(src, kw, pipe, items, pos, depth)?);
                    continue;
                }
                out.push(Node::Action(parse_pipeline(src, a, at)?));
            }
        }
    }
    Ok((out, None))
}

fn parse_control(
    src: &str,
    kw: &str,
    pipe: Pipeline,
    items: &[Item],
    pos: &mut usize,
    depth: usize,
) -> Result<Node, TemplateError> {
    let eof = || parse_error(line_at(src, src.len()), "unexpected EOF");
    let (body, term) = parse_list(src, items, pos, depth + 1)?;
    let (els, _) = match term.as_ref().map(|(t, _)| t.as_str()) {
        Some("end") => (Vec::new(), ()),
        Some("else") => {
            let (els, t2) = parse_list(src, items, pos, depth + 1)?;
            if t2.as_ref().map(|(t, _)| t.as_str()) != Some("end") {
                return Err(eof());
            }
            (els, ())
        }
        Some(t) if t.starts_with("else if ") && kw == "if" => {
            let at = term.as_ref().map_or(0, |(_, at)| *at) + "else if ".len();
            let inner = parse_pipeline(src, &t["else if ".len()..], at)?;
            (
                vec![parse_control(src, "if", inner, items, pos, depth + 1)?],
                (),
            )
        }
        _ => return Err(eof()),
    };
    Ok(match kw {
        "if" => Node::If(pipe, body, els),
        "range" => Node::Range(pipe, body, els),
        _ => Node::With(pipe, body, els),
    })
}

/// The tokens of an action, each with its offset in the action's text.
fn tokenize(s: &str) -> Result<Vec<(String, usize)>, Unplaced> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b')' if b.get(i + 1) == Some(&b'.') => {
                // `(pipeline).Field`: the chain applies to the parenthesised result.
                out.push((")".into(), i));
                i += 1;
                let st = i;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b'|' | b'(' | b')' | b','
                    )
                {
                    i += 1;
                }
                out.push((format!("@{}", &s[st..i]), st));
            }
            b'|' | b'(' | b')' | b',' => {
                out.push(((b[i] as char).to_string(), i));
                i += 1;
            }
            b'"' => {
                let st = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(unplaced("unterminated quoted string"));
                }
                i += 1;
                out.push((s[st..i].to_string(), st));
            }
            b'`' => {
                let st = i;
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(unplaced("unterminated raw quoted string"));
                }
                i += 1;
                out.push((s[st..i].to_string(), st));
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                out.push((":=".into(), i));
                i += 2;
            }
            _ => {
                let st = i;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b'|' | b'(' | b')' | b','
                    )
                {
                    if b[i] == b':' && b.get(i + 1) == Some(&b'=') {
                        break;
                    }
                    i += 1;
                }
                out.push((s[st..i].to_string(), st));
            }
        }
    }
    Ok(out)
}

/// Parses the pipeline `s`, which starts at byte `at` of the template `src`; a failure is a
/// parse error on that line.
fn parse_pipeline(src: &str, s: &str, at: usize) -> Result<Pipeline, TemplateError> {
    pipeline_at(s, at).map_err(|m| parse_error(line_at(src, at), m.0))
}

fn pipeline_at(s: &str, at: usize) -> Result<Pipeline, Unplaced> {
    let (toks, offs): (Vec<String>, Vec<usize>) =
        tokenize(s)?.into_iter().map(|(t, o)| (t, o + at)).unzip();
    let mut pos = 0;
    let p = pipeline_from(&toks, &offs, &mut pos, 0)?;
    if pos < toks.len() {
        return Err(unplaced(format!("unexpected {:?} in operand", toks[pos])));
    }
    Ok(p)
}

fn pipeline_from(
    toks: &[String],
    offs: &[usize],
    pos: &mut usize,
    depth: usize,
) -> Result<Pipeline, Unplaced> {
    if depth > MAX_DEPTH {
        return Err(unplaced("pipeline nested too deeply"));
    }
    let mut decl = Vec::new();
    // `$x := …` or `$i, $e := …`
    let mut look = *pos;
    let mut vars = Vec::new();
    while look < toks.len() && toks[look].starts_with('$') {
        vars.push(toks[look].clone());
        look += 1;
        if look < toks.len() && toks[look] == "," {
            look += 1;
            continue;
        }
        break;
    }
    if !vars.is_empty() && look < toks.len() && (toks[look] == ":=" || toks[look] == "=") {
        decl = vars;
        *pos = look + 1;
    }
    let mut cmds = vec![Command { args: Vec::new() }];
    while *pos < toks.len() {
        let t = toks[*pos].clone();
        match t.as_str() {
            ")" => break,
            "|" => {
                *pos += 1;
                cmds.push(Command { args: Vec::new() });
            }
            "(" => {
                *pos += 1;
                let inner = pipeline_from(toks, offs, pos, depth + 1)?;
                if toks.get(*pos).map(String::as_str) != Some(")") {
                    return Err(unplaced("unclosed left paren"));
                }
                *pos += 1;
                // `(pipeline).A.B`: the chain and its position.
                let (chain, at) = match toks.get(*pos).and_then(|t| t.strip_prefix("@.")) {
                    Some(chain) => {
                        let at = offs[*pos];
                        *pos += 1;
                        (chain.split('.').map(str::to_string).collect(), at)
                    }
                    None => (Vec::new(), 0),
                };
                if let Some(c) = cmds.last_mut() {
                    c.args.push(Arg::Pipe(Box::new(inner), chain, at));
                }
            }
            _ => {
                let a = parse_arg(&t, offs[*pos])?;
                *pos += 1;
                if let Some(c) = cmds.last_mut() {
                    c.args.push(a);
                }
            }
        }
    }
    if cmds.iter().any(|c| c.args.is_empty()) {
        return Err(unplaced("missing value for command"));
    }
    Ok(Pipeline { decl, cmds })
}

/// Go's position of the operand `t` (`.A.B`, `$x.A`) found at `at`: that of the field after
/// its first element, if there is one.
fn chain_pos(t: &str, at: usize) -> usize {
    let first = usize::from(t.starts_with('.'));
    t[first..].find('.').map_or(at, |i| at + first + i)
}

fn parse_arg(t: &str, at: usize) -> Result<Arg, Unplaced> {
    if t == "." {
        return Ok(Arg::Field(Vec::new(), at));
    }
    if let Some(rest) = t.strip_prefix('.') {
        return Ok(Arg::Field(
            rest.split('.').map(str::to_string).collect(),
            chain_pos(t, at),
        ));
    }
    if t.starts_with('$') {
        let mut parts = t.split('.');
        let v = parts.next().unwrap_or("$").to_string();
        return Ok(Arg::Var(
            v,
            parts.map(str::to_string).collect(),
            chain_pos(t, at),
        ));
    }
    if t.starts_with('"') {
        return serde_json::from_str::<String>(t)
            .map(|s| Arg::Lit(GoValue::String(s)))
            .map_err(|_| unplaced(format!("bad string literal {t}")));
    }
    if t.starts_with('`') {
        return Ok(Arg::Lit(GoValue::String(t[1..t.len() - 1].to_string())));
    }
    match t {
        "true" => return Ok(Arg::Lit(GoValue::Bool(true))),
        "false" => return Ok(Arg::Lit(GoValue::Bool(false))),
        "nil" => return Ok(Arg::Lit(GoValue::Nil)),
        _ => {}
    }
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Arg::Lit(GoValue::Int(i)));
    }
    if let Ok(f) = t.parse::<f64>() {
        return Ok(Arg::Lit(GoValue::Float(f)));
    }
    if t.chars().all(|c| c.is_alphanumeric() || c == '_') {
        if !FUNCS.contains(&t) {
            return Err(unplaced(format!("function {t:?} not defined")));
        }
        return Ok(Arg::Func(t.to_string()));
    }
    Err(unplaced(format!("unexpected {t:?} in operand")))
}

// ---- execution --------------------------------------------------------------------------

struct Exec<'a> {
    vars: Vec<(String, GoValue)>,
    funcs: Funcs<'a>,
    out: String,
    src: &'a str,
}

impl Template {
    /// Runs the template with `data` as `.` and `$`.
    pub fn execute(&self, data: &GoValue, funcs: Funcs<'_>) -> Result<String, TemplateError> {
        let mut x = Exec {
            vars: vec![("$".into(), data.clone())],
            funcs,
            out: String::new(),
            src: &self.src,
        };
        x.nodes(&self.nodes, data, 0)?;
        Ok(x.out)
    }
}

/// Follows a field chain; a failure is text/template's message, placed by the caller.
fn walk_fields(mut v: GoValue, path: &[String]) -> Result<GoValue, Unplaced> {
    for p in path {
        if p.is_empty() {
            continue;
        }
        v = match v.field(p) {
            Some(x) => x,
            None => {
                if matches!(v, GoValue::Nil) {
                    return Err(unplaced(format!("nil pointer evaluating <nil>.{p}")));
                }
                return Err(unplaced(format!(
                    "can't evaluate field {p} in type {}",
                    v.type_name()
                )));
            }
        };
    }
    Ok(v)
}

impl Exec<'_> {
    fn nodes(&mut self, nodes: &[Node], dot: &GoValue, depth: usize) -> Result<(), TemplateError> {
        if depth > MAX_DEPTH {
            return Err(e("exceeded maximum template depth"));
        }
        for n in nodes {
            if self.out.len() > MAX_OUTPUT {
                return Err(e("template output too large"));
            }
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&v.print());
                    }
                }
                Node::If(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot)?;
                    let r = if v.truth() {
                        self.nodes(body, dot, depth + 1)
                    } else {
                        self.nodes(els, dot, depth + 1)
                    };
                    self.vars.truncate(mark);
                    r?;
                }
                Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot)?;
                    let r = if v.truth() {
                        self.nodes(body, &v, depth + 1)
                    } else {
                        self.nodes(els, dot, depth + 1)
                    };
                    self.vars.truncate(mark);
                    r?;
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let decl = p.decl.clone();
                    let plain = Pipeline {
                        decl: Vec::new(),
                        cmds: p.cmds.clone(),
                    };
                    let v = self.pipeline(&plain, dot)?;
                    let items: Vec<(GoValue, GoValue)> = match v {
                        GoValue::Slice(s) => s
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (GoValue::Int(i as i64), x))
                            .collect(),
                        GoValue::Map(mut m, _) => {
                            m.sort_by(|a, b| a.0.cmp(&b.0));
                            m.into_iter()
                                .map(|(k, x)| (GoValue::String(k), x))
                                .collect()
                        }
                        GoValue::Nil => Vec::new(),
                        GoValue::Int(n) => (0..n.max(0))
                            .map(|i| (GoValue::Int(i), GoValue::Int(i)))
                            .collect(),
                        other => {
                            return Err(e(format!("range can't iterate over {}", other.print())));
                        }
                    };
                    if items.is_empty() {
                        self.nodes(els, dot, depth + 1)?;
                    }
                    for (k, item) in items {
                        match decl.as_slice() {
                            [one] => self.vars.push((one.clone(), item.clone())),
                            [a, b] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), item.clone()));
                            }
                            _ => {}
                        }
                        self.nodes(body, &item, depth + 1)?;
                        self.vars.truncate(mark);
                    }
                }
            }
        }
        Ok(())
    }

    fn var(&self, name: &str) -> Result<GoValue, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| e(format!("undefined variable: {name}")))
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &GoValue) -> Result<GoValue, TemplateError> {
        let mut last: Option<GoValue> = None;
        for c in &p.cmds {
            last = Some(self.command(c, dot, last)?);
        }
        let v = last.unwrap_or(GoValue::Nil).unwrap_object();
        for d in &p.decl {
            self.vars.push((d.clone(), v.clone()));
        }
        Ok(v)
    }

    fn eval_arg(&mut self, a: &Arg, dot: &GoValue) -> Result<GoValue, TemplateError> {
        let src = self.src;
        let placed =
            |at: usize, context: String| move |m: Unplaced| exec_error(src, at, &context, &m);
        match a {
            Arg::Field(path, at) => {
                walk_fields(dot.clone(), path).map_err(placed(*at, format!(".{}", path.join("."))))
            }
            Arg::Var(v, path, at) => {
                let context = std::iter::once(v.as_str())
                    .chain(path.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(".");
                walk_fields(self.var(v)?, path).map_err(placed(*at, context))
            }
            Arg::Lit(l) => Ok(l.clone()),
            Arg::Pipe(p, chain, at) => {
                let v = self.pipeline(p, dot)?;
                walk_fields(v, chain).map_err(placed(*at, format!(".{}", chain.join("."))))
            }
            Arg::Func(f) => self.call(f, Vec::new()),
        }
    }

    fn command(
        &mut self,
        c: &Command,
        dot: &GoValue,
        piped: Option<GoValue>,
    ) -> Result<GoValue, TemplateError> {
        match &c.args[0] {
            Arg::Func(f) => {
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.eval_arg(a, dot)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(f, args)
            }
            first => {
                if c.args.len() > 1 || piped.is_some() {
                    return Err(e("can't give argument to non-function"));
                }
                self.eval_arg(first, dot)
            }
        }
    }

    fn call(&mut self, f: &str, args: Vec<GoValue>) -> Result<GoValue, TemplateError> {
        let args: Vec<GoValue> = args.into_iter().map(GoValue::unwrap_object).collect();
        let want = |n: usize| -> Result<(), TemplateError> {
            if args.len() != n {
                Err(e(format!(
                    "wrong number of args for {f}: want {n} got {}",
                    args.len()
                )))
            } else {
                Ok(())
            }
        };
        Ok(match f {
            "not" => {
                want(1)?;
                GoValue::Bool(!args[0].truth())
            }
            "and" => args
                .iter()
                .find(|a| !a.truth())
                .cloned()
                .or_else(|| args.last().cloned())
                .unwrap_or(GoValue::Nil),
            "or" => args
                .iter()
                .find(|a| a.truth())
                .cloned()
                .or_else(|| args.last().cloned())
                .unwrap_or(GoValue::Nil),
            "len" => {
                want(1)?;
                GoValue::Int(match &args[0] {
                    GoValue::String(s) => s.len() as i64,
                    GoValue::Slice(v) => v.len() as i64,
                    GoValue::Map(m, _) => m.len() as i64,
                    other => return Err(e(format!("len of type {}", other.type_name()))),
                })
            }
            "index" => {
                let mut v = args.first().cloned().unwrap_or(GoValue::Nil);
                for k in &args[1.min(args.len())..] {
                    v = match (&v, k) {
                        (GoValue::Slice(s), GoValue::Int(i)) => s
                            .get(*i as usize)
                            .cloned()
                            .ok_or_else(|| e(format!("index out of range: {i}")))?,
                        (GoValue::Map(m, zero), GoValue::String(key)) => m
                            .iter()
                            .find(|(mk, _)| mk == key)
                            .map_or_else(|| (**zero).clone(), |(_, x)| x.clone()),
                        _ => return Err(e("can't index item")),
                    };
                }
                v
            }
            "print" => GoValue::String(go_print_args(&args)),
            "println" => GoValue::String(
                args.iter()
                    .map(GoValue::print)
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "\n",
            ),
            "printf" => {
                let Some(GoValue::String(fmt)) = args.first() else {
                    return Err(e("printf needs a format string"));
                };
                GoValue::String(sprintf(fmt, &args[1..]))
            }
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                if args.len() < 2 {
                    return Err(e(format!("missing argument for comparison {f}")));
                }
                let ord = compare(&args[0], &args[1]);
                let r = match f {
                    "eq" => args[1..]
                        .iter()
                        .any(|b| compare(&args[0], b) == Some(std::cmp::Ordering::Equal)),
                    "ne" => ord != Some(std::cmp::Ordering::Equal),
                    "lt" => ord == Some(std::cmp::Ordering::Less),
                    "le" => matches!(
                        ord,
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    ),
                    "gt" => ord == Some(std::cmp::Ordering::Greater),
                    _ => matches!(
                        ord,
                        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                    ),
                };
                GoValue::Bool(r)
            }
            "join" => {
                want(2)?;
                GoValue::String(join(&args[0], &args[1].print(), 0))
            }
            "joinAndTruncate" => {
                want(3)?;
                let max = match &args[2] {
                    GoValue::Int(i) => *i as usize,
                    GoValue::Uint(u) => *u as usize,
                    GoValue::Float(f) => *f as usize,
                    _ => 0,
                };
                GoValue::String(join(&args[0], &args[1].print(), max))
            }
            other => match (self.funcs)(other, &args) {
                Some(r) => r.map_err(|err| e(err.to_string()))?,
                None => return Err(e(format!("function {other:?} not defined"))),
            },
        })
    }
}

fn go_print_args(args: &[GoValue]) -> String {
    // fmt.Sprint adds spaces between operands when neither is a string.
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, GoValue::String(_)) && !matches!(args[i - 1], GoValue::String(_)) {
            s.push(' ');
        }
        s.push_str(&a.print());
    }
    s
}

fn compare(a: &GoValue, b: &GoValue) -> Option<std::cmp::Ordering> {
    let num = |v: &GoValue| match v {
        GoValue::Int(i) => Some(*i as f64),
        GoValue::Uint(u) => Some(*u as f64),
        GoValue::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (GoValue::String(x), GoValue::String(y)) => Some(x.cmp(y)),
        (GoValue::Bool(x), GoValue::Bool(y)) => Some(x.cmp(y)),
        (GoValue::Nil, GoValue::Nil) => Some(std::cmp::Ordering::Equal),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
}

/// calicoctl's `join`/`joinAndTruncate`: maps become sorted `k=v`; scalars a one-item list;
/// with `max > 0` the result is cut to `max-3` bytes plus `...` once it exceeds `max`.
pub fn join(v: &GoValue, sep: &str, max: usize) -> String {
    let items: Vec<String> = match v {
        GoValue::Nil => return String::new(),
        GoValue::Slice(s) => s.iter().map(GoValue::print).collect(),
        GoValue::Map(m, _) => {
            let mut v: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{k}={}", x.print()))
                .collect();
            v.sort();
            v
        }
        other => vec![other.print()],
    };
    truncate_joined(items.join(sep), max)
}

/// calicoctl's `joinAndTruncate` cut: with `max > 0`, a text longer than `max` bytes keeps its
/// first `max-3` bytes (backed off to a character boundary) plus `...`.
pub fn truncate_joined(mut s: String, max: usize) -> String {
    if max > 0 && s.len() > max {
        let mut cut = max.saturating_sub(3);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// A subset of Go's fmt.Sprintf: %v %s %d %t %q %f %g %x %% with widths.
fn sprintf(fmt: &str, args: &[GoValue]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = it.peek() {
            if n.is_ascii_digit() || n == '-' || n == '.' || n == '+' {
                spec.push(n);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let body = match verb {
            'q' => serde_json::to_string(&arg.print()).unwrap_or_default(),
            'x' => match arg {
                GoValue::Int(i) => format!("{i:x}"),
                GoValue::Uint(u) => format!("{u:x}"),
                other => other.print().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            'f' => {
                let prec = spec
                    .split('.')
                    .nth(1)
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(6);
                let f = match arg {
                    GoValue::Int(i) => *i as f64,
                    GoValue::Uint(u) => *u as f64,
                    GoValue::Float(f) => *f,
                    _ => 0.0,
                };
                format!("{f:.prec$}")
            }
            _ => arg.print(),
        };
        let width: usize = spec
            .trim_start_matches('-')
            .split('.')
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        if spec.starts_with('-') {
            out.push_str(&format!("{body:<width$}"));
        } else {
            out.push_str(&format!("{body:>width$}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str) -> GoValue {
        GoValue::Struct {
            type_name: "v3.IPPool".into(),
            fields: vec![
                GoField {
                    name: "Kind".into(),
                    value: GoValue::String("IPPool".into()),
                    embedded: false,
                },
                GoField {
                    name: "ObjectMeta".into(),
                    value: GoValue::Struct {
                        type_name: "metav1.ObjectMeta".into(),
                        fields: vec![GoField {
                            name: "Name".into(),
                            value: GoValue::String(name.into()),
                            embedded: false,
                        }],
                    },
                    embedded: true,
                },
                GoField {
                    name: "Spec".into(),
                    value: GoValue::Struct {
                        type_name: "v3.IPPoolSpec".into(),
                        fields: vec![GoField {
                            name: "Order".into(),
                            value: GoValue::Nil,
                            embedded: false,
                        }],
                    },
                    embedded: false,
                },
            ],
        }
    }

    fn data() -> GoValue {
        GoValue::Slice(vec![GoValue::Struct {
            type_name: "v3.IPPoolList".into(),
            fields: vec![GoField {
                name: "Items".into(),
                value: GoValue::Slice(vec![pool("a"), pool("b")]),
                embedded: false,
            }],
        }])
    }

    fn run(t: &str) -> Result<String, TemplateError> {
        let none = |_: &str, _: &[GoValue]| -> Option<Result<GoValue, FuncError>> { None };
        parse(t)?.execute(&data(), &none)
    }

    #[test]
    fn calicoctl_examples() {
        assert_eq!(
            run("{{range .}}{{range .Items}}{{.ObjectMeta.Name}}{{\"\\n\"}}{{end}}{{end}}")
                .unwrap(),
            "a\nb\n"
        );
        assert_eq!(
            run("{{range .}}{{range .Items}}{{.Name}},{{end}}{{end}}").unwrap(),
            "a,b,"
        );
        assert_eq!(
            run("{{range $i, $p := (index . 0).Items}}{{$i}}={{$p.Name}} {{end}}").unwrap(),
            "0=a 1=b "
        );
        assert_eq!(run("{{(index . 0).Items | len}}").unwrap(), "2");
        assert_eq!(
            run("{{range .}}{{range .Items}}{{.Spec.Order}}{{end}}{{end}}").unwrap(),
            "<nil><nil>"
        );
        assert_eq!(run("{{if eq 1 1}}y{{else}}n{{end}}").unwrap(), "y");
        assert_eq!(
            run("{{if eq \"a\" \"b\"}}y{{else if true}}z{{end}}").unwrap(),
            "z"
        );
        assert_eq!(run("{{printf \"%-4s|%3d\" \"ab\" 7}}").unwrap(), "ab  |  7");
        assert_eq!(run("{{- /* c */ -}}  x  {{- \"y\" }}").unwrap(), "xy");
        assert!(
            run("{{range .}}{{.Bogus}}{{end}}")
                .unwrap_err()
                .0
                .contains("can't evaluate field Bogus")
        );
        assert!(run("{{nope 1}}").unwrap_err().0.contains("not defined"));
        assert!(run("{{if true}}").is_err());
    }

    /// text/template's missing keys: a field chain through a map gives the invalid value
    /// (`<no value>`, and so do fields of it); `index` gives the element type's zero value.
    #[test]
    fn missing_map_keys() {
        let labels = GoValue::Map(
            vec![("a".into(), GoValue::String("b".into()))],
            Box::new(GoValue::String(String::new())),
        );
        let untyped = from_json_untyped(&serde_json::json!({"k": 1}));
        let none = |_: &str, _: &[GoValue]| -> Option<Result<GoValue, FuncError>> { None };
        let t = "{{.a}}|{{.zz}}|{{.zz.deeper}}|{{index . \"zz\"}}|{{if .zz}}y{{else}}n{{end}}";
        assert_eq!(
            parse(t).unwrap().execute(&labels, &none).unwrap(),
            "b|<no value>|<no value>||n"
        );
        assert_eq!(
            parse("{{index . \"zz\"}}|{{.zz}}")
                .unwrap()
                .execute(&untyped, &none)
                .unwrap(),
            "<nil>|<no value>"
        );
    }

    /// Error texts as calicoctl v3.32.1 prints them (each checked against it): execution
    /// errors name the node's line, byte column and text, and the static type — the
    /// `[]runtime.Object` calicoctl hands over and its `runtime.Object` items; parse errors
    /// name the line.
    #[test]
    fn error_positions_and_static_types() {
        let none = |_: &str, _: &[GoValue]| -> Option<Result<GoValue, FuncError>> { None };
        let objects = GoValue::Slice(vec![GoValue::Object(Box::new(pool("a")))]);
        let run = |t: &str| match parse(t) {
            Ok(tpl) => tpl.execute(&objects, &none).unwrap_err().0,
            Err(err) => err.0,
        };
        assert_eq!(
            run("{{range .}}{{.Missing}}{{end}}"),
            "template: get:1:13: executing \"get\" at <.Missing>: can't evaluate field Missing in type runtime.Object"
        );
        assert_eq!(
            run("{{.Spec.CIDR}}"),
            "template: get:1:7: executing \"get\" at <.Spec.CIDR>: can't evaluate field Spec in type []runtime.Object"
        );
        assert_eq!(
            run("line1\n  {{range $k, $v := .}} {{$v.Spec.Zip}}{{end}}"),
            "template: get:2:28: executing \"get\" at <$v.Spec.Zip>: can't evaluate field Zip in type v3.IPPoolSpec"
        );
        assert_eq!(
            run("{{range .}}{{.Name}}"),
            "template: get:1: unexpected EOF"
        );
        assert_eq!(
            run("a\n{{if true}}{{nope}}{{end}}"),
            "template: get:2: function \"nope\" not defined"
        );
        assert_eq!(
            run("{{range .}}{{if false}}x{{else if .Spec.Nope}}y{{end}}{{end}}"),
            "template: get:1:39: executing \"get\" at <.Spec.Nope>: can't evaluate field Nope in type v3.IPPoolSpec"
        );
        assert_eq!(run("{{end}}"), "template: get:1: unexpected {{end}}");
        assert_eq!(run("\n{{.Name"), "template: get:2: unclosed action");
    }

    #[test]
    fn join_vectors() {
        let m = GoValue::Map(
            vec![
                ("giraffe".into(), GoValue::String("praying mantis".into())),
                ("bird".into(), GoValue::String("felix".into())),
                ("go".into(), GoValue::String("gopher".into())),
                ("elephant".into(), GoValue::String("hippo".into())),
            ],
            Box::new(GoValue::String(String::new())),
        );
        assert_eq!(join(&m, ",", 15), "bird=felix,e...");
        assert_eq!(
            join(
                &GoValue::Slice(vec![GoValue::Int(12345), GoValue::Int(67890)]),
                ",",
                6
            ),
            "123..."
        );
        assert_eq!(
            join(&GoValue::Slice(vec![GoValue::Int(123456)]), ",", 6),
            "123456"
        );
        assert_eq!(
            join(
                &GoValue::Map(
                    vec![("123".into(), GoValue::Int(4567))],
                    Box::new(GoValue::Int(0))
                ),
                ",",
                3
            ),
            "..."
        );
        assert_eq!(join(&GoValue::Nil, ",", 0), "");
    }
}
