//! Go `encoding/json` compatible text for `serde_json::Value`.
//!
//! `get -o json` output must match Go's `json.MarshalIndent(v, "", "  ")`
//! byte for byte (HTML-safe escaping, Go float spelling, `{}`/`[]` for empty
//! containers). Object keys are written in the `Value`'s own order: the
//! caller arranges them in Go struct-field order.

use serde_json::Value;

use super::gofmt::fmt_json_float;

/// Compact encoding, like Go's `json.Marshal`.
pub fn to_go_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, None, 0);
    out
}

/// Compact encoding of an unstructured value, like Go's `json.Marshal` of a
/// `map[string]interface{}`: object keys sorted bytewise at every level (kubectl's jsonpath
/// prints maps and lists this way).
pub fn to_go_json_sorted(v: &Value) -> String {
    let mut out = String::new();
    write_value_keys(&mut out, v, None, 0, true);
    out
}

/// Indented encoding, like Go's `json.MarshalIndent(v, "", "  ")`; no
/// trailing newline (calicoctl prints none).
pub fn to_go_json_indent(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, Some("  "), 0);
    out
}

/// Indented encoding of a value nested `depth` levels deep (its first line unindented), as
/// it appears inside an enclosing `MarshalIndent` — for printing list items one at a time.
pub fn to_go_json_indent_at(v: &Value, depth: usize) -> String {
    let mut out = String::new();
    write_value(&mut out, v, Some("  "), depth);
    out
}

/// Starts a new line at `depth` levels of indentation (indented mode only).
fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

/// An open container on the explicit stack (no recursion, so arbitrarily
/// deep values cannot overflow the call stack).
enum Frame<'a> {
    Array(std::slice::Iter<'a, Value>),
    Object(serde_json::map::Iter<'a>),
    Sorted(std::vec::IntoIter<(&'a String, &'a Value)>),
}

/// Writes one value; `indent` is `None` for compact output.
fn write_value(out: &mut String, root: &Value, indent: Option<&str>, base: usize) {
    write_value_keys(out, root, indent, base, false);
}

/// [`write_value`], with object keys in the value's order or, with `sort_keys`, sorted.
fn write_value_keys(
    out: &mut String,
    root: &Value,
    indent: Option<&str>,
    base: usize,
    sort_keys: bool,
) {
    let mut stack: Vec<(Frame, bool)> = Vec::new();
    let mut next: Option<&Value> = Some(root);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => out.push_str(&number_text(n)),
                Value::String(s) => write_string(out, s),
                Value::Array(items) if items.is_empty() => out.push_str("[]"),
                Value::Object(map) if map.is_empty() => out.push_str("{}"),
                Value::Array(items) => {
                    out.push('[');
                    stack.push((Frame::Array(items.iter()), true));
                }
                Value::Object(map) if sort_keys => {
                    out.push('{');
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    stack.push((Frame::Sorted(entries.into_iter()), true));
                }
                Value::Object(map) => {
                    out.push('{');
                    stack.push((Frame::Object(map.iter()), true));
                }
            }
        }
        let depth = base + stack.len();
        let Some((frame, first)) = stack.last_mut() else {
            return;
        };
        let item = match frame {
            Frame::Array(it) => it.next().map(|v| (None, v)),
            Frame::Object(it) => it.next().map(|(k, v)| (Some(k), v)),
            Frame::Sorted(it) => it.next().map(|(k, v)| (Some(k), v)),
        };
        match item {
            Some((key, v)) => {
                if !*first {
                    out.push(',');
                }
                *first = false;
                newline(out, indent, depth);
                if let Some(k) = key {
                    write_string(out, k);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                }
                next = Some(v);
            }
            None => {
                let close = if matches!(frame, Frame::Array(_)) {
                    ']'
                } else {
                    '}'
                };
                stack.pop();
                newline(out, indent, depth - 1);
                out.push(close);
            }
        }
    }
}

/// Integers print as-is; floats use Go's float64 JSON spelling.
fn number_text(n: &serde_json::Number) -> String {
    super::gofmt::number_text(n, fmt_json_float)
}

/// Quotes a string with Go's escaping rules (HTML-safe, `\b`/`\f` short
/// forms as in Go ≥ 1.22, U+2028/U+2029 escaped for JavaScript safety).
fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of characters that need no escaping are copied as one slice.
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => Some(""),
            _ => None,
        };
        let Some(esc) = esc else { continue };
        out.push_str(&s[run..i]);
        run = i + c.len_utf8();
        if esc.is_empty() {
            let b = c as u32;
            out.push_str("\\u00");
            out.push(char::from(HEX[((b >> 4) & 0xf) as usize]));
            out.push(char::from(HEX[(b & 0xf) as usize]));
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_scalars() {
        assert_eq!(to_go_json(&json!(null)), "null");
        assert_eq!(to_go_json(&json!(true)), "true");
        assert_eq!(to_go_json(&json!(false)), "false");
        assert_eq!(to_go_json(&json!(12345)), "12345");
        assert_eq!(to_go_json(&json!(-7)), "-7");
        assert_eq!(to_go_json(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(to_go_json(&json!(1000000.0)), "1000000");
        assert_eq!(to_go_json(&json!(0.5)), "0.5");
        assert_eq!(to_go_json(&json!(1e21)), "1e+21");
        assert_eq!(to_go_json(&json!(1e-7)), "1e-7");
        assert_eq!(to_go_json(&json!("")), "\"\"");
    }

    #[test]
    fn compact_containers_keep_value_order() {
        let v = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "a": [1, 2, {}], "b": {}, "c": []});
        assert_eq!(
            to_go_json(&v),
            r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","a":[1,2,{}],"b":{},"c":[]}"#
        );
    }

    #[test]
    fn string_escaping_matches_go() {
        let s = "q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}e\u{1b}u\u{1f}<>&\u{2028}\u{2029}\u{7f}é😀";
        assert_eq!(
            to_go_json(&json!(s)),
            "\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\fz\\u0000e\\u001bu\\u001f\\u003c\\u003e\\u0026\\u2028\\u2029\u{7f}é😀\""
        );
        assert_eq!(
            to_go_json(&json!({"sel": "has(x) && y == 'a'"})),
            r#"{"sel":"has(x) \u0026\u0026 y == 'a'"}"#
        );
        // Other characters whose UTF-8 starts with 0xE2 (as U+2028/U+2029 do) pass unchanged,
        // also at the very end of the string.
        assert_eq!(
            to_go_json(&json!("€\u{2027}\u{202a}←\u{2028}€")),
            "\"€\u{2027}\u{202a}←\\u2028€\""
        );
    }

    #[test]
    fn sorted_keys_at_every_level() {
        let v = json!({"z": 1, "a": [{"y": true, "b": null}], "m": {"k2": "<", "k1": {}}});
        assert_eq!(
            to_go_json_sorted(&v),
            r#"{"a":[{"b":null,"y":true}],"m":{"k1":{},"k2":"\u003c"},"z":1}"#
        );
        assert_eq!(
            to_go_json(&v),
            r#"{"z":1,"a":[{"y":true,"b":null}],"m":{"k2":"\u003c","k1":{}}}"#
        );
    }

    #[test]
    fn indent_layout_matches_marshal_indent() {
        let v = json!({
            "kind": "IPPoolList",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"resourceVersion": "12345"},
            "items": [
                {"kind": "IPPool", "spec": {"cidr": "10.0.0.0/16", "natOutgoing": true, "blockSize": 26, "x": [], "y": {}}},
                "s",
                [1, [2]]
            ]
        });
        let want = r#"{
  "kind": "IPPoolList",
  "apiVersion": "projectcalico.org/v3",
  "metadata": {
    "resourceVersion": "12345"
  },
  "items": [
    {
      "kind": "IPPool",
      "spec": {
        "cidr": "10.0.0.0/16",
        "natOutgoing": true,
        "blockSize": 26,
        "x": [],
        "y": {}
      }
    },
    "s",
    [
      1,
      [
        2
      ]
    ]
  ]
}"#;
        assert_eq!(to_go_json_indent(&v), want);
    }

    #[test]
    fn indent_of_empty_and_scalar_roots() {
        assert_eq!(to_go_json_indent(&json!({})), "{}");
        assert_eq!(to_go_json_indent(&json!([])), "[]");
        assert_eq!(to_go_json_indent(&json!(null)), "null");
        assert_eq!(to_go_json_indent(&json!("a<b")), "\"a\\u003cb\"");
        assert_eq!(to_go_json_indent(&json!([{}])), "[\n  {}\n]");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut v = json!(1);
        for _ in 0..20_000 {
            v = Value::Array(vec![v]);
        }
        let s = to_go_json(&v);
        assert_eq!(s.len(), 40_001);
        let ok = s == format!("{}1{}", "[".repeat(20_000), "]".repeat(20_000));
        // Drop iteratively (before asserting) to keep the test stack small.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
        assert!(ok);
        let mut v = json!({});
        for _ in 0..1000 {
            v = Value::Array(vec![v]);
        }
        let ind = to_go_json_indent(&v);
        let inner = format!("\n{}{{}}\n{}]", "  ".repeat(1000), "  ".repeat(999));
        assert!(ind.contains(&inner) && ind.ends_with("\n  ]\n]"));
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn floats_inside_documents() {
        let v =
            json!({"order": 100.0, "small": 0.000001, "tiny": 1.5e-9, "big": 1e21, "neg": -0.0});
        assert_eq!(
            to_go_json(&v),
            r#"{"order":100,"small":0.000001,"tiny":1.5e-9,"big":1e+21,"neg":-0}"#
        );
    }
}
