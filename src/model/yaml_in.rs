//! Reading YAML manifests the way calicoctl does: split the stream on `---` lines, then turn
//! each document into JSON with gopkg.in/yaml.v2's YAML 1.1 resolution (as sigs.k8s.io/yaml
//! does), so `natOutgoing: yes` is `true`, `0700` is 448, timestamps stay strings, and
//! duplicate keys are errors (calicoctl decodes strictly).

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

use crate::gocompat::gofmt::{fmt_g_shortest32, fmt_v_float};
use crate::gocompat::yaml_resolve::{Resolved, resolve};

/// calicoctl's maximum document size.
pub const MAX_DOCUMENT: usize = 10 * 1024 * 1024;
/// Nesting deeper than this is refused (no stack overflows on hostile input).
const MAX_DEPTH: usize = 512;
/// Nodes that alias expansion may produce (billion-laughs guard).
const MAX_EXPANDED_NODES: usize = 1_000_000;

/// A YAML problem with its position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The Go package whose error this is: `yaml`, or `json` for what the JSON step refuses.
    pub source: &'static str,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}: line {l}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for YamlError {}

fn err(message: impl Into<String>, line: Option<usize>) -> YamlError {
    YamlError {
        message: message.into(),
        line,
        column: None,
        source: "yaml",
    }
}

/// Splits a stream into documents like calicoctl: a line starting with `---` separates
/// documents (the rest of that line is dropped); a `---` on the very first line is left to the
/// YAML parser. Returns each document and its 1-based first line.
pub fn split_documents(input: &str) -> Result<Vec<(String, usize)>, YamlError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in input.split_inclusive('\n').enumerate() {
        if i > 0 && line.starts_with("---") {
            docs.push((std::mem::take(&mut cur), start));
            start = i + 2;
            continue;
        }
        cur.push_str(line);
    }
    docs.push((cur, start));
    for (d, l) in &docs {
        if d.len() > MAX_DOCUMENT {
            return Err(err(
                format!("document starting at line {l} is larger than 10 MiB"),
                Some(*l),
            ));
        }
    }
    Ok(docs)
}

/// A parsed node; anchored nodes are shared, not copied.
#[derive(Debug)]
enum Node {
    Scalar {
        value: String,
        style: ScalarStyle,
        tag: Option<Tag>,
        line: usize,
    },
    Seq(Vec<Rc<Node>>),
    Map(Vec<(Rc<Node>, Rc<Node>)>, usize),
}

enum Frame {
    Seq(Vec<Rc<Node>>, usize),
    Map(Vec<(Rc<Node>, Rc<Node>)>, Option<Rc<Node>>, usize, usize),
}

/// Parses one document into a JSON value (`None` for an empty document).
pub fn yaml_to_json(doc: &str) -> Result<Option<Value>, YamlError> {
    yaml_to_json_at(doc, 1)
}

/// Like [`yaml_to_json`], with error lines relative to a stream where `doc` starts at
/// `first_line`; a key set twice in one mapping is an error.
pub fn yaml_to_json_at(doc: &str, first_line: usize) -> Result<Option<Value>, YamlError> {
    let (v, dups) = yaml_to_json_lenient(doc, first_line)?;
    match dups.into_iter().next() {
        Some(d) => Err(err(
            format!("key {} already set in map", d.key),
            Some(d.line),
        )),
        None => Ok(v),
    }
}

/// A key set again in a mapping that already has it (yaml.v2 keeps the last value, and its
/// strict mode reports each one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub line: usize,
    /// The key as Go's `%#v` prints it (`"name"`, `5`, `true`).
    pub key: String,
}

/// yaml.v2's strict-mode report of duplicate keys: `yaml: unmarshal errors:` and a line each.
pub fn duplicate_keys_error(dups: &[DuplicateKey]) -> String {
    let mut s = "yaml: unmarshal errors:".to_string();
    for d in dups {
        s.push_str(&format!(
            "\n  line {}: key {} already set in map",
            d.line, d.key
        ));
    }
    s
}

/// Parses one document as yaml.v2 does without its strict mode: a repeated key keeps the last
/// value; every repetition is returned (for the strict decode that follows).
pub fn yaml_to_json_lenient(
    doc: &str,
    first_line: usize,
) -> Result<(Option<Value>, Vec<DuplicateKey>), YamlError> {
    let off = first_line.saturating_sub(1);
    let text = doc.strip_prefix('\u{feff}').unwrap_or(doc);
    // Tabs are legal separators inside JSON-style flow collections; the scanner only accepts
    // them there, so turn leading tabs of flow (JSON) documents into spaces.
    let owned;
    let text = if text.trim_start().starts_with(['{', '[']) && text.contains('\t') {
        owned = text
            .lines()
            .map(|l| {
                let n = l.len() - l.trim_start_matches('\t').len();
                format!("{}{}", " ".repeat(n), &l[n..])
            })
            .collect::<Vec<_>>()
            .join("\n");
        owned.as_str()
    } else {
        text
    };
    let root = parse_tree(text, off)?;
    let mut dups = Vec::new();
    match root {
        None => Ok((None, dups)),
        Some(n) => {
            let mut budget = MAX_EXPANDED_NODES;
            let v = to_json(&n, 0, &mut budget, &mut dups)?;
            Ok((Some(v), dups))
        }
    }
}

fn parse_tree(text: &str, off: usize) -> Result<Option<Rc<Node>>, YamlError> {
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Rc<Node>> = None;
    let mut docs = 0;
    for item in Parser::new_from_str(text) {
        let (ev, span) = item.map_err(|e| libyaml_error(&e, text, off))?;
        let line = span.start.line() + off;
        let (node, anchor): (Rc<Node>, usize) = match ev {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(err("expected a single document", Some(line)));
                }
                continue;
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => (n.clone(), 0),
                None => return Err(err("unknown anchor referenced", Some(line))),
            },
            Event::Scalar(v, style, anchor, tag) => (
                Rc::new(Node::Scalar {
                    value: v.into_owned(),
                    style,
                    tag: tag.map(Cow::into_owned),
                    line,
                }),
                anchor,
            ),
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err("exceeded max depth of 512", Some(line)));
                }
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err("exceeded max depth of 512", Some(line)));
                }
                stack.push(Frame::Map(Vec::new(), None, anchor, line));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Rc::new(Node::Seq(items)), anchor),
                _ => return Err(err("unbalanced sequence", Some(line))),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(items, None, anchor, l)) => (Rc::new(Node::Map(items, l)), anchor),
                _ => return Err(err("unbalanced mapping", Some(line))),
            },
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                // yaml.v2 reads the first document only and looks no further.
                root = Some(node);
                break;
            }
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(items, pending, _, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(k) => items.push((k, node)),
            },
        }
    }
    Ok(root)
}

/// A parser error in gopkg.in/yaml.v2's words: libyaml's problem text without its context,
/// and its line rule (a parser error names the 0-based line of the problem, a scanner error
/// the 1-based one; an error on the first line names none).
fn libyaml_error(e: &saphyr_parser::ScanError, text: &str, off: usize) -> YamlError {
    let info = e.info();
    let problem = match info.strip_prefix("while ") {
        Some(rest) => rest.split_once(", ").map_or(info, |(_, p)| p),
        None => info,
    };
    let mark_line0 = e.marker().line().saturating_sub(1);
    // (message, is a parser error, 0-based problem line)
    let (message, parser, line0) = match problem {
        "found unknown anchor" => {
            let name = alias_at(text, e.marker().line(), e.marker().col());
            return err(format!("unknown anchor '{name}' referenced"), None);
        }
        "found unexpected end of stream" => {
            // libyaml marks the end of the input, not the start of the scalar.
            let eof_line0 = text.matches('\n').count();
            (problem.to_string(), false, eof_line0)
        }
        p if p.starts_with("tabs disallowed") || p.starts_with("unexpected character") => (
            "found character that cannot start any token".to_string(),
            false,
            mark_line0,
        ),
        "expected ',' or ']'" => (
            "did not find expected ',' or ']'".to_string(),
            true,
            mark_line0,
        ),
        "illegal placement of ':' indicator" => {
            let close = match innermost_open_bracket(text, mark_line0) {
                Some('{') => "did not find expected ',' or '}'",
                _ => "did not find expected ',' or ']'",
            };
            (close.to_string(), true, mark_line0)
        }
        p if p.starts_with("did not find expected") => (p.to_string(), true, mark_line0),
        p => (p.to_string(), false, mark_line0),
    };
    let line = match (line0, parser) {
        (0, _) => None,
        (l, true) => Some(l + off),
        (l, false) => Some(l + 1 + off),
    };
    err(message, line)
}

/// The alias name starting at a 1-based line and 0-based column (`*name`).
fn alias_at(text: &str, line: usize, col: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
    let rest: String = l.chars().skip(col).collect();
    rest.trim_start_matches('*')
        .chars()
        .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
        .collect()
}

/// The innermost flow bracket still open before the start of a 0-based line.
fn innermost_open_bracket(text: &str, line0: usize) -> Option<char> {
    let mut stack = Vec::new();
    for l in text.lines().take(line0) {
        for c in l.chars() {
            match c {
                '[' | '{' => stack.push(c),
                ']' | '}' => {
                    stack.pop();
                }
                _ => {}
            }
        }
    }
    stack.pop()
}

fn tag_suffix(tag: &Option<Tag>) -> Option<&str> {
    tag.as_ref().and_then(|t| {
        if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" {
            Some(t.suffix.as_str())
        } else {
            None
        }
    })
}

/// A plain scalar's JSON value, by yaml.v2's resolution (the rules the YAML writer also
/// follows). A timestamp stays its text; `.inf`/`.nan` fail as Go's json.Marshal fails.
fn plain_value(s: &str) -> Result<Value, YamlError> {
    resolved_value(s, resolve(s))
}

fn resolved_value(s: &str, r: Resolved) -> Result<Value, YamlError> {
    Ok(match r {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Number(Number::from(i)),
        Resolved::Uint(u) => Value::Number(Number::from(u)),
        Resolved::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => return Err(json_unsupported(f)),
        },
        Resolved::Timestamp | Resolved::Str => Value::String(s.to_string()),
    })
}

/// sigs.k8s.io/yaml marshals the decoded document to JSON, which refuses non-finite floats.
fn json_unsupported(f: f64) -> YamlError {
    YamlError {
        message: format!("unsupported value: {}", fmt_v_float(f)),
        line: None,
        column: None,
        source: "json",
    }
}

fn scalar_value(
    value: &str,
    style: ScalarStyle,
    tag: &Option<Tag>,
    line: usize,
) -> Result<Value, YamlError> {
    // yaml.v2 resolves an explicitly tagged scalar as a plain one and fails unless the result
    // has that tag (an integer may stand for a float).
    let tagged = |want: &str, ok: fn(Resolved) -> bool| {
        // Only an untagged (or `!!timestamp`) scalar is tried as a timestamp.
        let r = match resolve(value) {
            Resolved::Timestamp => Resolved::Str,
            r => r,
        };
        if ok(r) {
            resolved_value(value, r)
        } else {
            Err(err(
                format!("cannot decode {} `{value}` as a !!{want}", r.short_tag()),
                None,
            ))
        }
    };
    match tag_suffix(tag) {
        Some("str") => Ok(Value::String(value.to_string())),
        Some("null") => tagged("null", |r| r == Resolved::Null),
        Some("bool") => tagged("bool", |r| matches!(r, Resolved::Bool(_))),
        Some("int") => tagged("int", |r| matches!(r, Resolved::Int(_) | Resolved::Uint(_))),
        Some("float") => tagged("float", |r| {
            matches!(r, Resolved::Float(_) | Resolved::Int(_) | Resolved::Uint(_))
        }),
        Some("binary") => {
            use base64::Engine;
            let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(clean.as_bytes())
                .map_err(|e| {
                    err(
                        format!("!!binary value contains invalid base64 data: {e}"),
                        Some(line),
                    )
                })?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).to_string()))
        }
        _ if style == ScalarStyle::Plain => plain_value(value),
        _ => Ok(Value::String(value.to_string())),
    }
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON object key.
fn key_string(n: &Node) -> Result<(String, bool), YamlError> {
    match n {
        Node::Scalar {
            value,
            style,
            tag,
            line,
        } => {
            // A non-finite float key is a string key to JSON (`+Inf`), not an error.
            let v = match scalar_value(value, *style, tag, *line) {
                Err(e) if e.source == "json" => match resolve(value) {
                    Resolved::Float(f) => Value::String(fmt_g_shortest32(f)),
                    _ => return Err(e),
                },
                other => other?,
            };
            let merge = *style == ScalarStyle::Plain && value == "<<" && tag.is_none();
            Ok((
                match v {
                    Value::String(s) => s,
                    Value::Null => "null".to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => crate::model::schema::yaml_number_string(&n),
                    _ => String::new(),
                },
                merge,
            ))
        }
        Node::Seq(_) | Node::Map(..) => Err(err(
            "a mapping key must be a scalar to convert to JSON",
            line_of(n),
        )),
    }
}

/// A scalar key as Go's `%#v` prints the value yaml.v2 resolved it to.
fn go_sharp_v_key(n: &Node) -> String {
    let Node::Scalar {
        value,
        style,
        tag,
        line,
    } = n
    else {
        return String::new();
    };
    match scalar_value(value, *style, tag, *line) {
        Ok(Value::String(s)) => format!("{s:?}"),
        Ok(Value::Null) => "<nil>".to_string(),
        Ok(Value::Bool(b)) => b.to_string(),
        Ok(Value::Number(num)) => match num.as_f64() {
            Some(f) if num.is_f64() => fmt_v_float(f),
            _ => num.to_string(),
        },
        _ => String::new(),
    }
}

fn line_of(n: &Node) -> Option<usize> {
    match n {
        Node::Scalar { line, .. } => Some(*line),
        Node::Map(_, l) => Some(*l),
        Node::Seq(items) => items.first().and_then(|i| line_of(i)),
    }
}

fn to_json(
    n: &Node,
    depth: usize,
    budget: &mut usize,
    dups: &mut Vec<DuplicateKey>,
) -> Result<Value, YamlError> {
    if depth > MAX_DEPTH {
        return Err(err("exceeded max depth of 512", line_of(n)));
    }
    if *budget == 0 {
        return Err(err("document contains excessive aliasing", line_of(n)));
    }
    *budget -= 1;
    match n {
        Node::Scalar {
            value,
            style,
            tag,
            line,
        } => scalar_value(value, *style, tag, *line),
        Node::Seq(items) => items
            .iter()
            .map(|i| to_json(i, depth + 1, budget, dups))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Map(items, _) => {
            let mut out = Map::new();
            let mut merged: Vec<(String, Value)> = Vec::new();
            for (k, v) in items {
                let (key, is_merge) = key_string(k)?;
                if is_merge {
                    // `<<: *anchor` or `<<: [*a, *b]`: keys not set explicitly are merged in.
                    let sources: Vec<Value> = match to_json(v, depth + 1, budget, dups)? {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for s in sources {
                        match s {
                            Value::Object(m) => merged.extend(m),
                            _ => {
                                return Err(err(
                                    "map merge requires map or sequence of maps as the value",
                                    line_of(k),
                                ));
                            }
                        }
                    }
                    continue;
                }
                let value = to_json(v, depth + 1, budget, dups)?;
                if out.contains_key(&key) {
                    dups.push(DuplicateKey {
                        line: line_of(k).unwrap_or(0),
                        key: go_sharp_v_key(k),
                    });
                }
                out.insert(key, value);
            }
            for (k, v) in merged {
                out.entry(k).or_insert(v);
            }
            Ok(Value::Object(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scalar(s: &str) -> Value {
        yaml_to_json(&format!("v: {s}\n")).unwrap().unwrap()["v"].clone()
    }

    #[test]
    fn yaml11_resolution() {
        for (input, want) in [
            ("yes", json!(true)),
            ("No", json!(false)),
            ("on", json!(true)),
            ("OFF", json!(false)),
            ("y", json!(true)),
            ("true", json!(true)),
            ("~", json!(null)),
            ("null", json!(null)),
            ("", json!(null)),
            ("0x1F", json!(31)),
            ("0700", json!(448)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("-42", json!(-42)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("2001-12-14", json!("2001-12-14")),
            ("2025-06-01T09:59:00Z", json!("2025-06-01T09:59:00Z")),
            ("'yes'", json!("yes")),
            ("\"0700\"", json!("0700")),
            ("!!str 123", json!("123")),
            ("!!int \"42\"", json!(42)),
            ("10.0.0.0/16", json!("10.0.0.0/16")),
            ("1:20", json!("1:20")),
            ("all()", json!("all()")),
            ("_1", json!("_1")),
            // yaml.v2 drops every `_` before reading a number (the oracle stores 10).
            ("1__0", json!(10)),
            ("1e400", json!("1e400")),
            ("0x", json!("0x")),
        ] {
            assert_eq!(scalar(input), want, "{input}");
        }
        assert!(yaml_to_json("v: .inf\n").is_err());
        assert_eq!(
            yaml_to_json("v: .nan\n").unwrap_err().to_string(),
            "json: unsupported value: NaN"
        );
    }

    #[test]
    fn keys_become_strings() {
        let v = yaml_to_json("1: a\ntrue: b\nnull: c\n1.5: d\n")
            .unwrap()
            .unwrap();
        assert_eq!(v, json!({"1": "a", "true": "b", "null": "c", "1.5": "d"}));
    }

    #[test]
    fn duplicates_are_errors() {
        let e = yaml_to_json("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(e.to_string(), "yaml: line 4: key \"c\" already set in map");
        assert!(yaml_to_json("{a: 1, a: 2}").is_err());
        let e = yaml_to_json_at("x: 1\nx: 2\n", 10).unwrap_err();
        assert_eq!(e.line, Some(11));
    }

    #[test]
    fn anchors_and_merge() {
        let v = yaml_to_json("base: &b {p: 1, q: 2}\nd:\n  <<: *b\n  q: 3\nl: [*b]\n")
            .unwrap()
            .unwrap();
        assert_eq!(v["d"], json!({"q": 3, "p": 1}));
        assert_eq!(v["l"], json!([{"p": 1, "q": 2}]));
        // YAML 1.1: the key `y` is the boolean true (a real go-yaml v2 gotcha).
        assert_eq!(yaml_to_json("y: 1\n").unwrap().unwrap(), json!({"true": 1}));
    }

    #[test]
    fn billion_laughs_and_depth_are_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            s.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert!(yaml_to_json(&s).unwrap_err().message.contains("aliasing"));
        let deep = "[".repeat(100_000);
        assert!(yaml_to_json(&deep).is_err());
        let deep_map = (0..2000)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect::<String>();
        assert!(yaml_to_json(&deep_map).is_err());
    }

    #[test]
    fn splitting() {
        let d = split_documents("---\na: 1\n--- # c\nb: 2\n---foo\n---\n").unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d[0], ("---\na: 1\n".to_string(), 1));
        assert_eq!(d[1], ("b: 2\n".to_string(), 4));
        assert_eq!(d[2].0, "");
        assert_eq!(yaml_to_json(&d[0].0).unwrap(), Some(json!({"a": 1})));
        assert_eq!(yaml_to_json(&d[2].0).unwrap(), None);
        assert_eq!(yaml_to_json("# only a comment\n").unwrap(), None);
        // A `---` inside a literal block at column 0 still splits, like calicoctl.
        assert_eq!(split_documents("a: |\n  x\n---\nb: 1\n").unwrap().len(), 2);
    }

    #[test]
    fn json_tabs_crlf_bom() {
        let v = yaml_to_json("{\n\t\"a\": [\n\t\t1,\n\t\t2\n\t]\n}\n")
            .unwrap()
            .unwrap();
        assert_eq!(v, json!({"a": [1, 2]}));
        let v = yaml_to_json("a: 1\r\nb: yes\r\n").unwrap().unwrap();
        assert_eq!(v, json!({"a": 1, "b": true}));
        let v = yaml_to_json("\u{feff}a: 1\n").unwrap().unwrap();
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = yaml_to_json("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        assert!(e.to_string().starts_with("yaml: line "), "{e}");
    }
}
