//! kubectl's `-o jsonpath=TEMPLATE` (k8s.io/client-go/util/jsonpath): literal text with `{…}`
//! actions, `range`/`end`, quoted literals; results print as client-go's `PrintResults` prints
//! them (maps and lists as JSON, scalars with Go's `%v`). Missing keys print
//! nothing, as with kubectl's `--allow-missing-template-keys` default.

use serde_json::Value;

use super::gofmt::go_v;
use super::json::to_go_json_sorted;

/// A template or evaluation error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Why a bracket step or a filter does not parse; reported inside an `invalid jsonpath` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum StepError {
    #[error("bad slice")]
    Slice,
    #[error("bad slice number {0}")]
    SliceNumber(String),
    #[error("bad index {0}")]
    Index(String),
    #[error("unrecognized filter operand {0}")]
    FilterOperand(String),
    #[error("filter must start with @: {0}")]
    FilterStart(String),
    #[error("{}", .0.0)]
    Path(TemplateError),
}

const MAX_NODES: usize = 1000;
const MAX_OUTPUT: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive(Option<String>),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<UnionItem>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
enum UnionItem {
    Name(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Step>,
    op: Option<String>,
    right: Option<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<Step>),
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

fn e(m: impl Into<String>) -> TemplateError {
    TemplateError(m.into())
}

/// Parses a template.
pub fn parse(template: &str) -> Result<JsonPath, TemplateError> {
    let mut tokens: Vec<Tok> = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            None => {
                tokens.push(Tok::Text(rest.to_string()));
                break;
            }
            Some(i) => {
                if i > 0 {
                    tokens.push(Tok::Text(rest[..i].to_string()));
                }
                let after = &rest[i + 1..];
                let end = find_close(after)
                    .ok_or_else(|| e(format!("unclosed action in {template:?}")))?;
                tokens.push(Tok::Action(after[..end].trim().to_string()));
                rest = &after[end + 1..];
            }
        }
    }
    let mut pos = 0;
    let nodes = build(&tokens, &mut pos, 0)?;
    if pos < tokens.len() {
        return Err(e("unexpected {end}"));
    }
    Ok(JsonPath { nodes })
}

enum Tok {
    Text(String),
    Action(String),
}

/// The `}` closing an action, skipping quoted strings and nested brackets.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut depth = 0i32;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth -= 1,
            b'}' if depth <= 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn build(tokens: &[Tok], pos: &mut usize, depth: usize) -> Result<Vec<Node>, TemplateError> {
    if depth > 50 {
        return Err(e("ranges nested too deeply"));
    }
    let mut out = Vec::new();
    while *pos < tokens.len() {
        match &tokens[*pos] {
            Tok::Text(t) => {
                out.push(Node::Text(t.clone()));
                *pos += 1;
            }
            Tok::Action(a) => {
                *pos += 1;
                if a == "end" {
                    if depth == 0 {
                        return Err(e("not in range, nothing to end"));
                    }
                    return Ok(out);
                }
                if let Some(p) = a.strip_prefix("range") {
                    let path = parse_path(p.trim())?;
                    let body = build(tokens, pos, depth + 1)?;
                    out.push(Node::Range(path, body));
                    continue;
                }
                if a.starts_with('"') || a.starts_with('\'') {
                    out.push(Node::Text(unquote(a)?));
                    continue;
                }
                out.push(Node::Path(parse_path(a)?));
            }
        }
    }
    if depth > 0 {
        return Err(e("unclosed range"));
    }
    Ok(out)
}

fn unquote(s: &str) -> Result<String, TemplateError> {
    let q = s.chars().next().unwrap_or('"');
    let inner = s
        .strip_prefix(q)
        .and_then(|x| x.strip_suffix(q))
        .ok_or_else(|| e(format!("unterminated string {s}")))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_path(s: &str) -> Result<Vec<Step>, TemplateError> {
    let bad = |why: &str| e(format!("invalid jsonpath {s:?}: {why}"));
    let s = s.trim();
    let s = s.strip_prefix('$').unwrap_or(s);
    let b = s.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    let ident = |i: &mut usize| -> String {
        let st = *i;
        while *i < b.len() && !matches!(b[*i], b'.' | b'[' | b' ' | b')') {
            *i += 1;
        }
        s[st..*i].to_string()
    };
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'.') => {
                i += 2;
                let name = ident(&mut i);
                steps.push(Step::Recursive(if name.is_empty() || name == "*" {
                    None
                } else {
                    Some(name)
                }));
            }
            b'.' => {
                i += 1;
                if b.get(i) == Some(&b'*') {
                    i += 1;
                    steps.push(Step::Wildcard);
                } else {
                    let name = ident(&mut i);
                    if !name.is_empty() {
                        steps.push(Step::Field(name));
                    }
                }
            }
            b'[' => {
                let end = find_bracket(&s[i..]).ok_or_else(|| bad("unclosed ["))? + i;
                let inner = s[i + 1..end].trim();
                steps.push(parse_bracket(inner).map_err(|m| bad(&m.to_string()))?);
                i = end + 1;
            }
            b' ' => i += 1,
            _ => {
                let name = ident(&mut i);
                if name.is_empty() {
                    return Err(bad("unexpected character"));
                }
                steps.push(Step::Field(name));
            }
        }
    }
    Ok(steps)
}

fn find_bracket(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, StepError> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
        return parse_filter(f.trim()).map(Step::Filter);
    }
    if inner.contains(':') && !inner.starts_with('\'') && !inner.starts_with('"') {
        let parts: Vec<&str> = inner.split(':').collect();
        if parts.len() > 3 {
            return Err(StepError::Slice);
        }
        let num = |p: &str| -> Result<Option<i64>, StepError> {
            let p = p.trim();
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse()
                    .map(Some)
                    .map_err(|_| StepError::SliceNumber(p.to_string()))
            }
        };
        return Ok(Step::Slice(
            num(parts[0])?,
            num(parts.get(1).copied().unwrap_or(""))?,
            num(parts.get(2).copied().unwrap_or(""))?,
        ));
    }
    let items: Vec<UnionItem> = inner
        .split(',')
        .map(|p| {
            let p = p.trim();
            if (p.starts_with('\'') && p.ends_with('\''))
                || (p.starts_with('"') && p.ends_with('"'))
            {
                Ok(UnionItem::Name(p[1..p.len().max(2) - 1].to_string()))
            } else {
                p.parse::<i64>()
                    .map(UnionItem::Index)
                    .map_err(|_| StepError::Index(p.to_string()))
            }
        })
        .collect::<Result<_, _>>()?;
    match items.as_slice() {
        [UnionItem::Name(n)] => Ok(Step::Field(n.clone())),
        [UnionItem::Index(i)] => Ok(Step::Index(*i)),
        _ => Ok(Step::Union(items)),
    }
}

fn parse_filter(f: &str) -> Result<Filter, StepError> {
    for op in ["==", "!=", "<=", ">=", "<", ">", "=~"] {
        if let Some((l, r)) = split_outside_quotes(f, op) {
            let left = parse_at_path(l.trim())?;
            let r = r.trim();
            let right = if r.starts_with('@') {
                Operand::Path(parse_at_path(r)?)
            } else if (r.starts_with('"') && r.ends_with('"'))
                || (r.starts_with('\'') && r.ends_with('\''))
            {
                Operand::Literal(Value::String(r[1..r.len() - 1].to_string()))
            } else if let Ok(n) = r.parse::<f64>() {
                Operand::Literal(
                    serde_json::Number::from_f64(n)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                )
            } else if r == "true" || r == "false" {
                Operand::Literal(Value::Bool(r == "true"))
            } else {
                return Err(StepError::FilterOperand(r.to_string()));
            };
            return Ok(Filter {
                left,
                op: Some(op.to_string()),
                right: Some(right),
            });
        }
    }
    Ok(Filter {
        left: parse_at_path(f)?,
        op: None,
        right: None,
    })
}

fn split_outside_quotes<'a>(s: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let mut q: Option<char> = None;
    for (i, c) in s.char_indices() {
        match q {
            Some(x) if c == x => q = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => q = Some(c),
            None if s[i..].starts_with(op) => return Some((&s[..i], &s[i + op.len()..])),
            None => {}
        }
    }
    None
}

fn parse_at_path(s: &str) -> Result<Vec<Step>, StepError> {
    let p = s
        .strip_prefix('@')
        .ok_or_else(|| StepError::FilterStart(s.to_string()))?;
    parse_path(p).map_err(StepError::Path)
}

fn apply(steps: &[Step], roots: Vec<&Value>) -> Result<Vec<Value>, TemplateError> {
    let mut cur: Vec<Value> = roots.into_iter().cloned().collect();
    for st in steps {
        let mut next = Vec::new();
        for v in &cur {
            match st {
                Step::Field(n) => {
                    if let Some(x) = v.get(n) {
                        next.push(x.clone());
                    }
                }
                Step::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Step::Recursive(name) => collect_recursive(v, name.as_deref(), &mut next, 0),
                Step::Index(i) => {
                    if let Value::Array(a) = v {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if idx >= 0 && (idx as usize) < a.len() {
                            next.push(a[idx as usize].clone());
                        } else {
                            return Err(e(format!(
                                "array index out of bounds: index {i}, length {}",
                                a.len()
                            )));
                        }
                    }
                }
                Step::Slice(a, b, c) => {
                    if let Value::Array(arr) = v {
                        let len = arr.len() as i64;
                        let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                        let start = a.map(norm).unwrap_or(0);
                        let end = b.map(norm).unwrap_or(len);
                        let step = c.unwrap_or(1).max(1);
                        let mut k = start;
                        while k < end {
                            next.push(arr[k as usize].clone());
                            k += step;
                        }
                    }
                }
                Step::Union(items) => {
                    for it in items {
                        match it {
                            UnionItem::Name(n) => {
                                if let Some(x) = v.get(n) {
                                    next.push(x.clone());
                                }
                            }
                            UnionItem::Index(i) => {
                                if let Value::Array(a) = v {
                                    let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                                    if idx >= 0 && (idx as usize) < a.len() {
                                        next.push(a[idx as usize].clone());
                                    }
                                }
                            }
                        }
                    }
                }
                Step::Filter(f) => {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for it in items {
                        if filter_matches(f, it)? {
                            next.push(it.clone());
                        }
                    }
                }
            }
        }
        cur = next;
    }
    Ok(cur)
}

fn collect_recursive(v: &Value, name: Option<&str>, out: &mut Vec<Value>, depth: usize) {
    if depth > MAX_NODES {
        return;
    }
    match name {
        None => out.push(v.clone()),
        Some(n) => {
            if let Some(x) = v.get(n) {
                out.push(x.clone());
            }
        }
    }
    match v {
        Value::Array(a) => a
            .iter()
            .for_each(|x| collect_recursive(x, name, out, depth + 1)),
        Value::Object(m) => m
            .values()
            .for_each(|x| collect_recursive(x, name, out, depth + 1)),
        _ => {}
    }
}

fn filter_matches(f: &Filter, item: &Value) -> Result<bool, TemplateError> {
    let left = apply(&f.left, vec![item])?;
    let (Some(op), Some(right)) = (&f.op, &f.right) else {
        return Ok(!left.is_empty());
    };
    let rights: Vec<Value> = match right {
        Operand::Literal(v) => vec![v.clone()],
        Operand::Path(p) => apply(p, vec![item])?,
    };
    for l in &left {
        for r in &rights {
            let ok = match (l, r) {
                (Value::Number(a), Value::Number(b)) => {
                    let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                    match op.as_str() {
                        "==" => a == b,
                        "!=" => a != b,
                        "<" => a < b,
                        ">" => a > b,
                        "<=" => a <= b,
                        ">=" => a >= b,
                        _ => false,
                    }
                }
                (Value::String(a), Value::String(b)) => match op.as_str() {
                    "==" => a == b,
                    "!=" => a != b,
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    ">=" => a >= b,
                    "=~" => regex::Regex::new(b)
                        .map(|re| re.is_match(a))
                        .unwrap_or(false),
                    _ => false,
                },
                (a, b) => match op.as_str() {
                    "==" => a == b,
                    "!=" => a != b,
                    _ => false,
                },
            };
            if ok {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

impl JsonPath {
    /// Runs the template against `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        run(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// One result as client-go's jsonpath prints it (`PrintResults`): maps and lists as
/// `json.Marshal` writes an unstructured object (keys sorted), null as `null`, anything else
/// as `%v`.
fn result_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Array(_) | Value::Object(_) => to_go_json_sorted(v),
        _ => go_v(v),
    }
}

/// Inside a range, paths refer to the current item.
fn run(nodes: &[Node], cur: &Value, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        if out.len() > MAX_OUTPUT {
            return Err(e("template output too large"));
        }
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let vals = apply(p, vec![cur])?;
                out.push_str(&vals.iter().map(result_text).collect::<Vec<_>>().join(" "));
            }
            Node::Range(p, body) => {
                let vals = apply(p, vec![cur])?;
                let items: Vec<Value> = match vals.as_slice() {
                    [Value::Array(a)] => a.clone(),
                    _ => vals,
                };
                for it in &items {
                    run(body, it, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "IPPoolList", "items": [
            {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"cidr": "10.0.0.0/16", "blockSize": 26, "disabled": true}},
            {"metadata": {"name": "b"}, "spec": {"cidr": "10.1.0.0/16", "blockSize": 24}}
        ]})
    }

    fn run(t: &str) -> String {
        parse(t).unwrap().execute(&list()).unwrap()
    }

    #[test]
    fn kubectl_forms() {
        assert_eq!(run("{.items[*].metadata.name}"), "a b");
        assert_eq!(
            run("{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.cidr}{\"\\n\"}{end}"),
            "a\t10.0.0.0/16\nb\t10.1.0.0/16\n"
        );
        assert_eq!(run("{.items[0].spec.blockSize}"), "26");
        assert_eq!(run("{.items[-1].metadata.name}"), "b");
        assert_eq!(run("{.items[?(@.spec.blockSize==24)].metadata.name}"), "b");
        assert_eq!(run("{.items[?(@.spec.disabled)].metadata.name}"), "a");
        assert_eq!(
            run("{.items[?(@.metadata.name==\"a\")].spec.cidr}"),
            "10.0.0.0/16"
        );
        assert_eq!(run("{..cidr}"), "10.0.0.0/16 10.1.0.0/16");
        assert_eq!(run("{.items[0:1].metadata.name}"), "a");
        // Maps and lists print as JSON with sorted keys (client-go v0.37 `PrintResults`).
        assert_eq!(run("{.items[0].metadata.labels}"), r#"{"x":"1"}"#);
        assert_eq!(
            run("{.items[0].spec}"),
            r#"{"blockSize":26,"cidr":"10.0.0.0/16","disabled":true}"#
        );
        // b has no labels: a missing key prints nothing.
        assert_eq!(run("{.items[*].metadata.labels}"), r#"{"x":"1"}"#);
        assert_eq!(run("{$.kind}"), "IPPoolList");
        assert_eq!(run("pools: {.items[*]['metadata']['name']}"), "pools: a b");
        assert_eq!(run("{.missing}"), "");
        assert_eq!(
            run("{.items[0].metadata['name','labels']}"),
            r#"a {"x":"1"}"#
        );
    }

    #[test]
    fn errors() {
        assert!(parse("{.items[").is_err());
        assert!(parse("{range .items[*]}").is_err());
        assert!(parse("{end}").is_err());
        assert!(parse("{.a").is_err());
    }
}
