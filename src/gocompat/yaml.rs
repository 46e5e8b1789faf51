//! YAML output byte-identical to Go's `sigs.k8s.io/yaml.Marshal`.
//!
//! calicoctl renders `-o yaml` by encoding to JSON, decoding that JSON with
//! `gopkg.in/yaml.v2` into generic maps and re-encoding with yaml.v2's libyaml
//! port. The observable effects reproduced here are: keys sorted with
//! yaml.v2's "natural" order, JSON numbers re-typed as YAML ints/floats,
//! strings quoted whenever the YAML 1.1 resolver would read them back as
//! something else, libyaml's scalar-style analysis, block indentation rules
//! and line folding at 80 columns.
//!
//! The emitter keeps its own explicit stack (no recursion) so arbitrarily deep
//! values cannot overflow the call stack.

use serde_json::{Number, Value};

use super::gofmt::{fmt_json_float, fmt_v_float, number_text};
use super::yaml_resolve::{go_parse_int, go_parse_uint, is_base60_float, resolves_to_str};

/// libyaml's default indentation step.
const BEST_INDENT: i64 = 2;
/// libyaml's default preferred line width (yaml.v2 v2.4 keeps folding on).
const BEST_WIDTH: usize = 80;
/// yaml.v2's scanner refuses deeper flow nesting than this.
const MAX_FLOW_LEVEL: usize = 10_000;

/// Renders `v` exactly as `sigs.k8s.io/yaml.Marshal` would, always ending
/// with a newline. Inputs Go would reject (see [`try_to_yaml`]) are still
/// rendered on a best-effort basis so callers always get text.
pub fn to_yaml(v: &Value) -> String {
    Emitter::new().run(v)
}

/// Like [`to_yaml`] but returns Go's error text (e.g. `yaml: control
/// characters are not allowed`) for values whose JSON form yaml.v2 cannot
/// read back, so the caller can report the failure the way calicoctl does.
pub fn try_to_yaml(v: &Value) -> Result<String, YamlError> {
    check_go_errors(v)?;
    Ok(to_yaml(v))
}

// ---------------------------------------------------------------------------
// Errors yaml.v2 raises while re-reading Go's JSON text.
// ---------------------------------------------------------------------------

/// An error yaml.v2 raises while re-reading Go's JSON text; the texts are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("yaml: control characters are not allowed")]
    ControlCharacters,
    /// A key that stops being a simple key; `line` is 0 when no line break came before it.
    #[error("{}", unexpected_colon(*line))]
    UnexpectedColon { line: usize },
    #[error("yaml: line {line}: exceeded max depth of {}", MAX_FLOW_LEVEL)]
    TooDeep { line: usize },
    #[error("yaml: line {line}: found unexpected document indicator")]
    DocumentIndicator { line: usize },
}

fn unexpected_colon(line: usize) -> String {
    if line > 0 {
        format!("yaml: line {line}: did not find expected ',' or '}}'")
    } else {
        "yaml: did not find expected ',' or '}'".to_string()
    }
}

/// Raw characters the YAML reader rejects (Go's JSON encoder leaves them
/// unescaped, so they reach the reader verbatim).
fn is_reader_control(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

/// Number of characters `s` occupies between the quotes of Go's JSON text.
fn json_escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => 6,
            _ => 1,
        })
        .sum()
}

/// Walks the value in JSON text order and reproduces the first error the
/// yaml.v2 parser would raise on Go's JSON encoding of it.
fn check_go_errors(root: &Value) -> Result<(), YamlError> {
    // The reader validates characters ahead of the scanner, so control
    // characters anywhere win over structural errors.
    let mut stack: Vec<&Value> = vec![root];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.chars().any(is_reader_control) => {
                return Err(YamlError::ControlCharacters);
            }
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => {
                if map.keys().any(|k| k.chars().any(is_reader_control)) {
                    return Err(YamlError::ControlCharacters);
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }

    // Text-order walk: (value, depth of enclosing flow collections).
    enum Item<'a> {
        Val(&'a Value, usize),
        Key(&'a str),
    }
    let mut nels = 0usize;
    let mut work: Vec<Item> = vec![Item::Val(root, 0)];
    while let Some(item) = work.pop() {
        match item {
            Item::Key(k) => {
                scan_quoted(k, &mut nels)?;
                if k.contains('\u{85}') || json_escaped_len(k) > 1022 {
                    // The key stops being a simple key (it spans lines or
                    // exceeds 1024 characters), so the ':' is unexpected.
                    return Err(YamlError::UnexpectedColon { line: nels });
                }
            }
            Item::Val(v, depth) => match v {
                Value::String(s) => scan_quoted(s, &mut nels)?,
                Value::Array(items) => {
                    if depth + 1 > MAX_FLOW_LEVEL {
                        return Err(YamlError::TooDeep { line: nels + 1 });
                    }
                    for it in items.iter().rev() {
                        work.push(Item::Val(it, depth + 1));
                    }
                }
                Value::Object(map) => {
                    if depth + 1 > MAX_FLOW_LEVEL {
                        return Err(YamlError::TooDeep { line: nels + 1 });
                    }
                    for (k, it) in map.iter().rev() {
                        work.push(Item::Val(it, depth + 1));
                        work.push(Item::Key(k));
                    }
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// Counts raw NEL line breaks (the only raw breaks in Go's JSON) and detects
/// a document marker (`---`/`...` + blank) starting a continuation line.
fn scan_quoted(s: &str, nels: &mut usize) -> Result<(), YamlError> {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '\u{85}' {
            continue;
        }
        *nels += 1;
        let marker = |m: char| {
            chars
                .get(i + 1..i + 4)
                .is_some_and(|w| w.iter().all(|&x| x == m))
        };
        let blank_after = matches!(chars.get(i + 4), Some(' ' | '\u{85}'));
        if (marker('-') || marker('.')) && blank_after {
            return Err(YamlError::DocumentIndicator { line: *nels + 1 });
        }
    }
    Ok(())
}

/// Applies YAML double-quoted line folding to raw NEL characters, which is
/// what yaml.v2 does when reading Go's JSON text (`a\u0085b` → `a b`).
fn fold_nel(s: &str) -> String {
    if !s.contains('\u{85}') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != ' ' && chars[i] != '\u{85}' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        let mut breaks = 0usize;
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\u{85}') {
            if chars[i] == '\u{85}' {
                breaks += 1;
            }
            i += 1;
        }
        match breaks {
            0 => chars[start..i].iter().for_each(|&c| out.push(c)),
            1 => out.push(' '),
            n => (1..n).for_each(|_| out.push('\n')),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Numbers: JSON text re-resolved by yaml.v2.
// ---------------------------------------------------------------------------

/// YAML text of a JSON number: integers stay integers; a float's Go JSON
/// text is re-read as an int when it fits, otherwise printed with `%g`.
fn yaml_number(n: &Number) -> String {
    number_text(n, yaml_float)
}

fn yaml_float(f: f64) -> String {
    let text = fmt_json_float(f);
    if let Some(i) = go_parse_int(&text, 0) {
        return i.to_string();
    }
    if let Some(u) = go_parse_uint(&text, 0) {
        return u.to_string();
    }
    fmt_v_float(f)
}

// ---------------------------------------------------------------------------
// Key ordering: yaml.v2 keyList.Less for string keys.
// ---------------------------------------------------------------------------

/// Unicode decimal digits (category Nd, Unicode 15 as in Go's tables).
#[rustfmt::skip]
const ND_RANGES: &[(u32, u32)] = &[
    (0x30, 0x39), (0x660, 0x669), (0x6F0, 0x6F9), (0x7C0, 0x7C9),
    (0x966, 0x96F), (0x9E6, 0x9EF), (0xA66, 0xA6F), (0xAE6, 0xAEF),
    (0xB66, 0xB6F), (0xBE6, 0xBEF), (0xC66, 0xC6F), (0xCE6, 0xCEF),
    (0xD66, 0xD6F), (0xDE6, 0xDEF), (0xE50, 0xE59), (0xED0, 0xED9),
    (0xF20, 0xF29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9),
    (0x1810, 0x1819), (0x1946, 0x194F), (0x19D0, 0x19D9), (0x1A80, 0x1A89),
    (0x1A90, 0x1A99), (0x1B50, 0x1B59), (0x1BB0, 0x1BB9), (0x1C40, 0x1C49),
    (0x1C50, 0x1C59), (0xA620, 0xA629), (0xA8D0, 0xA8D9), (0xA900, 0xA909),
    (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9),
    (0xFF10, 0xFF19), (0x104A0, 0x104A9), (0x10D30, 0x10D39), (0x11066, 0x1106F),
    (0x110F0, 0x110F9), (0x11136, 0x1113F), (0x111D0, 0x111D9), (0x112F0, 0x112F9),
    (0x11450, 0x11459), (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9),
    (0x11730, 0x11739), (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11C50, 0x11C59),
    (0x11D50, 0x11D59), (0x11DA0, 0x11DA9), (0x11F50, 0x11F59), (0x16A60, 0x16A69),
    (0x16AC0, 0x16AC9), (0x16B50, 0x16B59), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149),
    (0x1E2F0, 0x1E2F9), (0x1E4F0, 0x1E4F9), (0x1E950, 0x1E959), (0x1FBF0, 0x1FBF9),
];

/// Go `unicode.IsDigit`.
fn go_is_digit(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return c.is_ascii_digit();
    }
    ND_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// Go `unicode.IsLetter`: exact for ASCII; Rust's Alphabetic property is a
/// close superset elsewhere (map keys are ASCII in practice).
fn go_is_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.is_alphabetic()
    }
}

/// yaml.v2 `keyList.Less` for two string keys: letters sort after
/// non-letters, digit runs compare numerically.
fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = go_is_letter(ar[i]);
        let bl = go_is_letter(br[i]);
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && go_is_digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && go_is_digit(ar[ai]) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u32) - 48);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && go_is_digit(br[bi]) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u32) - 48);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Sorts with `less`, never panicking even if `less` is not a total order.
/// Small inputs use the same insertion sort Go's `sort.Sort` uses for ≤ 12
/// elements; larger ones a stable merge sort.
fn sort_by_less<T: Copy>(v: &mut [T], less: &dyn Fn(T, T) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(v[j], v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mid = v.len() / 2;
    sort_by_less(&mut v[..mid], less);
    sort_by_less(&mut v[mid..], less);
    let mut merged = Vec::with_capacity(v.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        if less(v[j], v[i]) {
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
}

// ---------------------------------------------------------------------------
// libyaml scalar analysis and style selection.
// ---------------------------------------------------------------------------

/// libyaml `is_break`.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml `is_blankz` for a present character.
fn is_blankz(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\0') || is_break(c)
}

/// libyaml `is_printable` (non-BMP characters count as unprintable).
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// Result of libyaml `yaml_emitter_analyze_scalar` (block context only).
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// Decides which scalar styles can represent `v` faithfully.
fn analyze(v: &[char]) -> Analysis {
    if v.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    if v.len() >= 3 && (v[..3] == ['-', '-', '-'] || v[..3] == ['.', '.', '.']) {
        block_indicators = true;
    }
    let mut preceded_by_ws = true;
    let n = v.len();
    for (i, &c) in v.iter().enumerate() {
        let followed_by_ws = i + 1 >= n || matches!(v[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i + 1 == n;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + 1 == n;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_blankz(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Style yaml.v2 requests for a string before libyaml's veto.
fn requested_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if resolves_to_str(s) && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    }
}

/// libyaml `yaml_emitter_select_scalar_style` (block context, no tags).
fn select_style(requested: Style, a: &Analysis, len: usize, simple_key: bool) -> Style {
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (len == 0 && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

// ---------------------------------------------------------------------------
// The emitter.
// ---------------------------------------------------------------------------

/// Node context flags libyaml tracks while emitting.
#[derive(Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

/// An open block collection on the explicit stack.
enum Frame<'a> {
    Map {
        entries: Vec<(&'a str, &'a Value)>,
        next: usize,
    },
    Seq {
        items: &'a [Value],
        next: usize,
    },
}

/// libyaml emitter state relevant to block output.
struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i64,
    indents: Vec<i64>,
}

impl Emitter {
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
            indent: -1,
            indents: Vec::new(),
        }
    }

    /// Emits one document for `root` and returns the text.
    fn run(mut self, root: &Value) -> String {
        let mut stack: Vec<Frame> = Vec::new();
        if let Some(f) = self.node(root, Ctx::default()) {
            stack.push(f);
        }
        while let Some(top) = stack.last_mut() {
            let child = match top {
                Frame::Map { entries, next } => match entries.get(*next) {
                    None => None,
                    Some(&(k, v)) => {
                        *next += 1;
                        Some(self.map_entry(k, v))
                    }
                },
                Frame::Seq { items, next } => match items.get(*next) {
                    None => None,
                    Some(v) => {
                        *next += 1;
                        self.write_indent();
                        self.write_indicator("-", true, false, true);
                        Some(self.node(v, Ctx::default()))
                    }
                },
            };
            match child {
                None => {
                    stack.pop();
                    self.pop_indent();
                }
                Some(Some(frame)) => stack.push(frame),
                Some(None) => {}
            }
        }
        // Document end (implicit): finish the last line.
        self.write_indent();
        self.out
    }

    /// Writes a mapping key and the `:`; returns the value's frame if any.
    fn map_entry<'a>(&mut self, key: &'a str, value: &'a Value) -> Option<Frame<'a>> {
        self.write_indent();
        let chars: Vec<char> = key.chars().collect();
        let a = analyze(&chars);
        let value_ctx = Ctx {
            mapping: true,
            simple_key: false,
        };
        if !a.multiline && key.len() <= 128 {
            let ctx = Ctx {
                mapping: true,
                simple_key: true,
            };
            self.string_scalar(&chars, &a, requested_style(key), ctx);
            self.write_indicator(":", false, false, false);
        } else {
            self.write_indicator("?", true, false, true);
            self.string_scalar(&chars, &a, requested_style(key), value_ctx);
            self.write_indent();
            self.write_indicator(":", true, false, true);
        }
        self.node(value, value_ctx)
    }

    /// Starts emitting any node; returns a frame for non-empty collections.
    fn node<'a>(&mut self, v: &'a Value, ctx: Ctx) -> Option<Frame<'a>> {
        match v {
            Value::Null => self.plain_text("null", ctx),
            Value::Bool(b) => self.plain_text(if *b { "true" } else { "false" }, ctx),
            Value::Number(n) => self.plain_text(&yaml_number(n), ctx),
            Value::String(s) => {
                let folded = fold_nel(s);
                let chars: Vec<char> = folded.chars().collect();
                let a = analyze(&chars);
                self.string_scalar(&chars, &a, requested_style(&folded), ctx);
            }
            Value::Array(items) if items.is_empty() => self.empty_flow("[", "]"),
            Value::Object(map) if map.is_empty() => self.empty_flow("{", "}"),
            Value::Array(items) => {
                let indentless = ctx.mapping && !self.indention;
                self.increase_indent(false, indentless);
                return Some(Frame::Seq { items, next: 0 });
            }
            Value::Object(map) => {
                self.increase_indent(false, false);
                let mut entries: Vec<(&str, &Value)> =
                    map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                sort_by_less(&mut entries, &|a: (&str, &Value), b: (&str, &Value)| {
                    key_less(a.0, b.0)
                });
                return Some(Frame::Map { entries, next: 0 });
            }
        }
        None
    }

    /// `[]` / `{}`: libyaml switches empty collections to flow style.
    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    /// Emits a non-string scalar (null, bool, number), always plain.
    fn plain_text(&mut self, text: &str, ctx: Ctx) {
        let chars: Vec<char> = text.chars().collect();
        self.increase_indent(true, false);
        self.write_plain(&chars, !ctx.simple_key);
        self.pop_indent();
    }

    /// Emits a string scalar in the style libyaml settles on.
    fn string_scalar(&mut self, chars: &[char], a: &Analysis, requested: Style, ctx: Ctx) {
        let style = select_style(requested, a, chars.len(), ctx.simple_key);
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(chars, allow_breaks),
            Style::Single => self.write_single(chars, allow_breaks),
            Style::Double => self.write_double(chars, allow_breaks),
            Style::Literal => self.write_literal(chars),
        }
        self.pop_indent();
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// Copies a line-break character (only `\n` is normalised).
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = usize::try_from(self.indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_plain(&mut self, v: &[char], allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && v.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, v: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let n = v.len();
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < n
                    && v[i + 1] != ' '
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, v: &[char], allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        // libyaml tests for a BOM at the start of the whole value, so a
        // leading BOM forces every character to be escaped.
        let bom = v.first() == Some(&'\u{feff}');
        let n = v.len();
        let mut spaces = false;
        for (i, &c) in v.iter().enumerate() {
            if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                self.write_escape(c);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < n {
                    self.write_indent();
                    if v[i + 1] == ' ' {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The part of a double-quoted escape after the backslash.
    fn write_escape(&mut self, c: char) {
        let short = match c {
            '\0' => Some('0'),
            '\u{7}' => Some('a'),
            '\u{8}' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\u{b}' => Some('v'),
            '\u{c}' => Some('f'),
            '\r' => Some('r'),
            '\u{1b}' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        if let Some(s) = short {
            self.put(s);
            return;
        }
        let u = c as u32;
        let (letter, digits) = if u <= 0xff {
            ('x', 2)
        } else if u <= 0xffff {
            ('u', 4)
        } else {
            ('U', 8)
        };
        self.put(letter);
        for k in (0..digits).rev() {
            let d = (u >> (4 * k)) & 0xf;
            self.put(char::from_digit(d, 16).unwrap_or('0').to_ascii_uppercase());
        }
    }

    fn write_literal(&mut self, v: &[char]) {
        self.write_indicator("|", true, false, false);
        if v.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator("2", false, false, false);
        }
        let n = v.len();
        let chomp = match v.last() {
            None => Some("-"),
            Some(&last) if !is_break(last) => Some("-"),
            Some(_) if n == 1 || is_break(v[n - 2]) => Some("+"),
            Some(_) => None,
        };
        if let Some(h) = chomp {
            self.write_indicator(h, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in v {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn y(v: Value) -> String {
        to_yaml(&v)
    }

    #[test]
    fn top_level_scalars_and_empty_collections() {
        assert_eq!(y(json!(null)), "null\n");
        assert_eq!(y(json!(true)), "true\n");
        assert_eq!(y(json!(12)), "12\n");
        assert_eq!(y(json!("abc")), "abc\n");
        assert_eq!(y(json!("")), "\"\"\n");
        assert_eq!(y(json!({})), "{}\n");
        assert_eq!(y(json!([])), "[]\n");
    }

    #[test]
    fn empty_ippool_list_matches_fv_test() {
        let v = json!({"kind": "IPPoolList", "apiVersion": "projectcalico.org/v3",
            "metadata": {"resourceVersion": "12345"}, "items": []});
        assert_eq!(
            y(v),
            "apiVersion: projectcalico.org/v3\nitems: []\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"12345\"\n"
        );
    }

    #[test]
    fn realistic_ippool_list() {
        let long_sel = format!("{} == 'x'", "a".repeat(143));
        assert_eq!(long_sel.len(), 150);
        let v = json!({
            "kind": "IPPoolList",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"resourceVersion": "12345"},
            "items": [{
                "kind": "IPPool",
                "apiVersion": "projectcalico.org/v3",
                "metadata": {
                    "name": "default-ipv4-ippool",
                    "uid": "4b6a0f46-6d3c-4c5f-9d0d-1f0c2b4e0e11",
                    "resourceVersion": "987",
                    "creationTimestamp": "2025-06-01T09:59:00Z",
                    "labels": {"team": "net", "tier10": "x", "tier2": "y", "Zone": "z", "_x": "u"},
                    "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\"}\n",
                        "note": "yes"
                    }
                },
                "spec": {
                    "cidr": "192.168.0.0/16",
                    "blockSize": 26,
                    "ipipMode": "Always",
                    "vxlanMode": "Never",
                    "natOutgoing": true,
                    "disabled": false,
                    "nodeSelector": "has(x) && y == 'a'",
                    "namespaceSelector": "!has(a)",
                    "allowedUses": ["Workload", "Tunnel"],
                    "assignmentMode": "Automatic",
                    "selector": long_sel
                }
            }, {
                "kind": "GlobalNetworkPolicy",
                "apiVersion": "projectcalico.org/v3",
                "metadata": {"name": "allow-ping"},
                "spec": {
                    "order": 100.0,
                    "selector": "all()",
                    "ingress": [{
                        "action": "Allow",
                        "protocol": "ICMP",
                        "icmp": {"type": 8},
                        "source": {"nets": ["10.0.0.0/8"], "notPorts": [22, "1000:2000"]}
                    }],
                    "egress": [{"action": "Allow"}],
                    "types": ["Ingress", "Egress"]
                }
            }]
        });
        let want = format!(
            r#"apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {{"apiVersion":"projectcalico.org/v3","kind":"IPPool"}}
      note: "yes"
    creationTimestamp: "2025-06-01T09:59:00Z"
    labels:
      _x: u
      Zone: z
      team: net
      tier2: "y"
      tier10: x
    name: default-ipv4-ippool
    resourceVersion: "987"
    uid: 4b6a0f46-6d3c-4c5f-9d0d-1f0c2b4e0e11
  spec:
    allowedUses:
    - Workload
    - Tunnel
    assignmentMode: Automatic
    blockSize: 26
    cidr: 192.168.0.0/16
    disabled: false
    ipipMode: Always
    namespaceSelector: '!has(a)'
    natOutgoing: true
    nodeSelector: has(x) && y == 'a'
    selector: {}
      == 'x'
    vxlanMode: Never
- apiVersion: projectcalico.org/v3
  kind: GlobalNetworkPolicy
  metadata:
    name: allow-ping
  spec:
    egress:
    - action: Allow
    ingress:
    - action: Allow
      icmp:
        type: 8
      protocol: ICMP
      source:
        nets:
        - 10.0.0.0/8
        notPorts:
        - 22
        - 1000:2000
    order: 100
    selector: all()
    types:
    - Ingress
    - Egress
kind: IPPoolList
metadata:
  resourceVersion: "12345"
"#,
            "a".repeat(143)
        );
        assert_eq!(y(v), want);
    }

    #[test]
    fn quoting_of_ambiguous_plain_scalars() {
        let double = [
            "",
            "true",
            "True",
            "TRUE",
            "yes",
            "Yes",
            "y",
            "Y",
            "n",
            "no",
            "on",
            "On",
            "off",
            "OFF",
            "null",
            "Null",
            "~",
            "123",
            "-1",
            "+1",
            "1.5",
            "0x1F",
            "0o17",
            "017",
            "08",
            "1e3",
            "1.",
            "-.5",
            ".5",
            ".inf",
            "-.Inf",
            "+.INF",
            ".nan",
            "1_000",
            "0b101",
            "0b-101",
            "2025-06-01T09:59:00Z",
            "2001-12-14",
            "2004-02-29",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10",
            "2001-1-2T3:4:5+01:00",
            "12:30:45",
            "1:20",
            "+1:59",
            "1e-400",
            ".5e-400",
            "9223372036854775808",
            "18446744073709551616",
            "-9223372036854775808",
        ];
        for s in double {
            assert_eq!(y(json!(s)), format!("\"{s}\"\n"), "{s:?}");
        }
        let plain = [
            "abc",
            "nULL",
            "oFF",
            "yess",
            ".",
            "0b2",
            "-1:60",
            ".5e999",
            "1e400",
            "<<",
            "2001-02-29",
            "2001-13-01",
            "2001-12-14T25:00:00Z",
            "2001-12-14T21:59:43+5:00",
            "12345-01-01",
            "a:b",
            "a#b",
            "-a",
            "?a",
            "http://x/y?z=1",
            "all()",
            "has(x)",
            "x == 'a'",
            "10.0.0.0/8",
            "fd00::/64",
            "a b",
            "\u{a0}",
            "é",
        ];
        for s in plain {
            assert_eq!(y(json!(s)), format!("{s}\n"), "{s:?}");
        }
        let single = [
            " ", " a", "a ", "-", "?", ":", "? a", "a:", "a: b", "---", "...x", "- a", "#a",
            "a #b", "@x", "%x", "`x", "!has(a)", "&x", "*x", "|x", ">x", "'x", "\"x", "[a]", "{a}",
            ",a",
        ];
        for s in single {
            let quoted = s.replace('\'', "''");
            assert_eq!(y(json!(s)), format!("'{quoted}'\n"), "{s:?}");
        }
    }

    #[test]
    fn special_characters_are_escaped_in_double_quotes() {
        assert_eq!(y(json!("a\tb")), "\"a\\tb\"\n");
        assert_eq!(y(json!("a\rb")), "\"a\\rb\"\n");
        assert_eq!(y(json!("😀")), "\"\\U0001F600\"\n");
        assert_eq!(y(json!("\u{feff}ab")), "\"\\uFEFF\\x61\\x62\"\n");
        assert_eq!(y(json!("a\u{feff}b")), "\"a\\uFEFFb\"\n");
        assert_eq!(y(json!("\u{0}\u{7}\u{1b}\u{1}")), "\"\\0\\a\\e\\x01\"\n");
        assert_eq!(y(json!({"k": "a\u{2028}b"})), "k: 'a\u{2028}  b'\n");
        assert_eq!(y(json!("a \nb")), "\"a \\nb\"\n");
        assert_eq!(y(json!("a\nb ")), "\"a\\nb \"\n");
    }

    #[test]
    fn literal_block_scalars() {
        assert_eq!(y(json!({"k": "a\nb"})), "k: |-\n  a\n  b\n");
        assert_eq!(y(json!({"k": "a\n"})), "k: |\n  a\n");
        assert_eq!(y(json!({"k": "a\n\n"})), "k: |+\n  a\n\n");
        assert_eq!(y(json!({"k": "\n"})), "k: |2+\n\n");
        assert_eq!(y(json!({"k": " a\nb"})), "k: |2-\n   a\n  b\n");
        assert_eq!(y(json!({"k": "a\n b"})), "k: |-\n  a\n   b\n");
        assert_eq!(
            y(json!({"k": "a\n\nb", "l": 1})),
            "k: |-\n  a\n\n  b\nl: 1\n"
        );
        assert_eq!(y(json!({"k": ["x\ny"]})), "k:\n- |-\n  x\n  y\n");
        assert_eq!(y(json!("a\n")), "|\n  a\n");
    }

    #[test]
    fn nested_sequences_and_maps() {
        let v = json!([[["a"]], [], {}, [{}], {"a": [[1, 2], {"b": []}]}]);
        assert_eq!(
            y(v),
            "- - - a\n- []\n- {}\n- - {}\n- a:\n  - - 1\n    - 2\n  - b: []\n"
        );
    }

    #[test]
    fn numbers_are_retyped_like_yaml_v2() {
        let v = json!({"a": 1, "b": -0.0, "c": 0.5, "d": 1e21, "e": 1e-7, "f": 1e20,
            "g": 1e19, "h": 123456789.0, "i": 1234567.5, "j": u64::MAX, "k": i64::MIN});
        assert_eq!(
            y(v),
            "a: 1\nb: 0\nc: 0.5\nd: 1e+21\ne: 1e-07\nf: 1e+20\ng: 10000000000000000000\nh: 123456789\ni: 1.2345675e+06\nj: 18446744073709551615\nk: -9223372036854775808\n"
        );
    }

    #[test]
    fn long_scalars_fold_at_80_columns() {
        let v = json!({"a": "x ".repeat(60), "b": ["y ".repeat(60)],
            "c": {"d": format!("{} {}", "z".repeat(100), "w".repeat(10))}});
        let want = format!(
            "a: '{}\n  {}'\nb:\n- '{}\n  {}'\nc:\n  d: {}\n    {}\n",
            "x ".repeat(39).trim_end(),
            "x ".repeat(21),
            "y ".repeat(40).trim_end(),
            "y ".repeat(20),
            "z".repeat(100),
            "w".repeat(10)
        );
        assert_eq!(y(v), want);
        let sel = "has(projectcalico.org/namespace) && projectcalico.org/name == 'some-really-long-name-here' && !has(foo) || bar in {'a','b'}";
        assert_eq!(
            y(json!({"sel": sel})),
            "sel: has(projectcalico.org/namespace) && projectcalico.org/name == 'some-really-long-name-here'\n  && !has(foo) || bar in {'a','b'}\n"
        );
        let a78 = "a".repeat(78);
        let a79 = "a".repeat(79);
        let a77 = "a".repeat(77);
        assert_eq!(
            y(json!({"k": format!("{a78}  b {}", "c".repeat(10))})),
            format!("k: {a78}  b\n  {}\n", "c".repeat(10))
        );
        assert_eq!(
            y(json!({"k": format!("{a79} b")})),
            format!("k: {a79}\n  b\n")
        );
        assert_eq!(
            y(json!({"k": format!("{a77} b c")})),
            format!("k: {a77} b\n  c\n")
        );
    }

    #[test]
    fn double_quoted_folding_escapes_following_space() {
        let a78 = "a".repeat(78);
        assert_eq!(
            y(json!({"k": format!("{a78}  b\tc")})),
            format!("k: \"{a78}\n  \\ b\\tc\"\n")
        );
        let s = format!("{} b\tc", "a ".repeat(45));
        assert_eq!(
            y(json!({"k": s})),
            format!(
                "k: \"{}\n  {}  b\\tc\"\n",
                "a ".repeat(39).trim_end(),
                "a ".repeat(6).trim_end()
            )
        );
    }

    #[test]
    fn complex_keys() {
        let v = json!({"k\nx": "v", "m\nn": {"a": 1}, "x".repeat(129): "v",
            "y".repeat(128): ["a"], "z".repeat(130): {"b": [1]}});
        let want = format!(
            "? |-\n  k\n  x\n: v\n? |-\n  m\n  n\n: a: 1\n? {}\n: v\n{}:\n- a\n? {}\n: b:\n  - 1\n",
            "x".repeat(129),
            "y".repeat(128),
            "z".repeat(130)
        );
        assert_eq!(y(v), want);
        assert_eq!(
            y(json!({"": 1, "1": 2, "a b": 3})),
            "\"\": 1\n\"1\": 2\na b: 3\n"
        );
    }

    #[test]
    fn key_order_is_yaml_v2_natural_order() {
        let v = json!({"b": 1, "a10": 1, "a2": 1, "A": 1, "_": 1, "a01": 1, "a1": 1, "1": 1,
            "10": 1, "9": 1, "a": 1, "ab": 1, "a-b": 1, "a.b": 1, "Zeta": 1, "zeta": 1});
        let keys: Vec<String> = y(v)
            .lines()
            .map(|l| {
                l.split(':')
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string()
            })
            .collect();
        assert_eq!(
            keys,
            [
                "_", "1", "9", "10", "A", "Zeta", "a", "a-b", "a.b", "a1", "a01", "a2", "a10",
                "ab", "b", "zeta"
            ]
        );
        assert!(key_less("a1", "a01"));
        assert!(!key_less("a01", "a1"));
        assert!(key_less("x15", "x105"));
        assert!(key_less("a", "ab"));
    }

    #[test]
    fn large_maps_sort_without_panicking() {
        let mut m = serde_json::Map::new();
        for i in (0..200).rev() {
            m.insert(format!("k{i}"), json!(i));
        }
        let out = y(Value::Object(m));
        let first: Vec<&str> = out.lines().take(3).collect();
        assert_eq!(first, ["k0: 0", "k1: 1", "k2: 2"]);
        assert!(out.ends_with("k199: 199\n"));
    }

    #[test]
    fn nel_is_folded_like_yaml_v2_reads_json() {
        assert_eq!(y(json!("a\u{85}b")), "a b\n");
        assert_eq!(y(json!("a \u{85} b")), "a b\n");
        assert_eq!(y(json!("a\u{85}\u{85}b")), "|-\n  a\n  b\n");
        assert_eq!(y(json!("\u{85}")), "' '\n");
        assert_eq!(y(json!(["a\u{85}b"])), "- a b\n");
        assert_eq!(y(json!({"a": "x\u{85}..."})), "a: x ...\n");
    }

    #[test]
    fn go_error_cases() {
        let try_to_yaml = |v: &Value| try_to_yaml(v).map_err(|e| e.to_string());
        let ctl = Err("yaml: control characters are not allowed".to_string());
        assert_eq!(try_to_yaml(&json!("a\u{7f}b")), ctl);
        assert_eq!(try_to_yaml(&json!({"a\u{90}": 1})), ctl);
        assert_eq!(try_to_yaml(&json!(["\u{fffe}"])), ctl);
        assert_eq!(
            try_to_yaml(&json!("a\u{85}--- x")),
            Err("yaml: line 2: found unexpected document indicator".to_string())
        );
        assert_eq!(
            try_to_yaml(&json!({"x": "1\u{85}\u{85}2", "k\u{85}--- z": 1})),
            Err("yaml: line 4: found unexpected document indicator".to_string())
        );
        assert_eq!(
            try_to_yaml(&json!({"x": "1\u{85}2", "y": {"a\u{85}b": 1}})),
            Err("yaml: line 2: did not find expected ',' or '}'".to_string())
        );
        assert_eq!(
            try_to_yaml(&json!({"k".repeat(1023): 1})),
            Err("yaml: did not find expected ',' or '}'".to_string())
        );
        assert!(try_to_yaml(&json!({"k".repeat(1022): 1})).is_ok());
        assert!(try_to_yaml(&json!({"\n".repeat(512): 1})).is_err());
        assert!(try_to_yaml(&json!({"\n".repeat(511): 1})).is_ok());
        assert_eq!(try_to_yaml(&json!({"a": 1})), Ok("a: 1\n".to_string()));
        // Best effort output is still produced.
        assert_eq!(to_yaml(&json!("a\u{7f}b")), "\"a\\x7Fb\"\n");
    }

    #[test]
    fn deep_nesting_is_safe_and_limited_like_go() {
        let mut v = json!(1);
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        let try_to_yaml = |v: &Value| try_to_yaml(v).map_err(|e| e.to_string());
        assert!(try_to_yaml(&v).is_ok());
        let out = to_yaml(&v);
        assert!(out.starts_with("- - - "));
        v = Value::Array(vec![v]);
        assert_eq!(
            try_to_yaml(&v),
            Err("yaml: line 1: exceeded max depth of 10000".to_string())
        );
        // Drop the deep value iteratively to keep the test thread's stack small.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }
}
