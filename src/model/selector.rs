//! Calico's label-selector language (libcalico-go/lib/selector): parsing with positions in
//! errors, evaluation against labels, and libcalico-go's normalised string form.

use std::collections::BTreeMap;

/// Bound on nesting so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;
const MAX_LABEL: usize = 512;

/// A parse failure: what and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
    pub position: usize,
}

impl std::fmt::Display for SelectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for SelectorError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    All,
    Global,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Label(String),
    Str(String),
    All,
    Global,
    Has(String),
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Not,
    And,
    Or,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, SelectorError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let fail = |m: &str, p: usize| SelectorError {
        message: m.to_string(),
        position: p,
    };
    // Keyword at i followed by a non-label character?
    let word_at = |i: usize, w: &str| -> bool {
        s[i..].starts_with(w) && b.get(i + w.len()).is_none_or(|c| !is_label_char(*c))
    };
    let skip_ws = |mut j: usize| {
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        j
    };
    // `()` with optional blanks inside, starting at j; returns the index after `)`.
    let empty_parens = |j: usize| -> Option<usize> {
        let j = skip_ws(j);
        if b.get(j) != Some(&b'(') {
            return None;
        }
        let k = skip_ws(j + 1);
        (b.get(k) == Some(&b')')).then_some(k + 1)
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b'{' => {
                out.push((Tok::LBrace, i));
                i += 1;
            }
            b'}' => {
                out.push((Tok::RBrace, i));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1;
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push((Tok::And, i));
                i += 2;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push((Tok::Or, i));
                i += 2;
            }
            b'=' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Eq, i));
                i += 2;
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Ne, i));
                i += 2;
            }
            b'!' => {
                out.push((Tok::Not, i));
                i += 1;
            }
            b'"' | b'\'' => {
                let end = s[i + 1..]
                    .find(c as char)
                    .ok_or_else(|| fail("unterminated string", start))?;
                let v = &s[i + 1..i + 1 + end];
                if v.contains('\n') {
                    return Err(fail("newline in string", start));
                }
                out.push((Tok::Str(v.to_string()), i));
                i += end + 2;
            }
            _ if is_label_char(c) => {
                if word_at(i, "all")
                    && let Some(j) = empty_parens(i + 3)
                {
                    out.push((Tok::All, i));
                    i = j;
                    continue;
                }
                if word_at(i, "global")
                    && let Some(j) = empty_parens(i + 6)
                {
                    out.push((Tok::Global, i));
                    i = j;
                    continue;
                }
                if word_at(i, "has") && s[skip_ws(i + 3)..].starts_with('(') {
                    let mut j = skip_ws(skip_ws(i + 3) + 1);
                    let ls = j;
                    while j < b.len() && is_label_char(b[j]) {
                        j += 1;
                    }
                    if j == ls {
                        return Err(fail("expected a label in has()", j));
                    }
                    if j - ls > MAX_LABEL {
                        return Err(fail("label too long", ls));
                    }
                    let label = s[ls..j].to_string();
                    j = skip_ws(j);
                    if b.get(j) != Some(&b')') {
                        return Err(fail("expected ')' after has(label", j));
                    }
                    out.push((Tok::Has(label), i));
                    i = j + 1;
                    continue;
                }
                if word_at(i, "in") {
                    out.push((Tok::In, i));
                    i += 2;
                    continue;
                }
                if word_at(i, "notin") {
                    out.push((Tok::NotIn, i));
                    i += 5;
                    continue;
                }
                if word_at(i, "not") {
                    let j = skip_ws(i + 3);
                    if j > i + 3 && word_at(j, "in") {
                        out.push((Tok::NotIn, i));
                        i = j + 2;
                        continue;
                    }
                }
                if word_at(i, "contains") {
                    out.push((Tok::Contains, i));
                    i += 8;
                    continue;
                }
                for (w, t) in [("starts", Tok::StartsWith), ("ends", Tok::EndsWith)] {
                    if word_at(i, w) {
                        let j = skip_ws(i + w.len());
                        if j > i + w.len() && word_at(j, "with") {
                            out.push((t.clone(), i));
                            i = j + 4;
                            break;
                        }
                    }
                }
                if i != start {
                    continue;
                }
                let mut j = i;
                while j < b.len() && is_label_char(b[j]) {
                    j += 1;
                }
                if j - i > MAX_LABEL {
                    return Err(fail("label too long", i));
                }
                out.push((Tok::Label(s[i..j].to_string()), i));
                i = j;
            }
            _ => return Err(fail(&format!("unexpected character {:?}", c as char), i)),
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.end)
    }
    fn fail<T>(&self, m: &str) -> Result<T, SelectorError> {
        let message = match self.toks.get(self.pos) {
            None => format!("{m}: unexpected end of selector"),
            Some((t, _)) => format!("{m}: unexpected {}", describe(t)),
        };
        Err(SelectorError {
            message,
            position: self.at(),
        })
    }

    fn or(&mut self) -> Result<Expr, SelectorError> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, SelectorError> {
        let mut v = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn unary(&mut self) -> Result<Expr, SelectorError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("selector nested too deeply");
        }
        let r = match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                self.unary().map(|e| Expr::Not(Box::new(e)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.fail("expected ')'");
                }
                self.pos += 1;
                Ok(e)
            }
            _ => self.term(),
        };
        self.depth -= 1;
        r
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.fail("expected a quoted string"),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        if self.peek() != Some(&Tok::LBrace) {
            return self.fail("expected '{'");
        }
        self.pos += 1;
        let mut v = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::RBrace) => {
                    self.pos += 1;
                    return Ok(v);
                }
                Some(Tok::Str(_)) => {
                    v.push(self.string()?);
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RBrace) => {}
                        _ => return self.fail("expected ',' or '}'"),
                    }
                }
                _ => return self.fail("expected a quoted string or '}'"),
            }
        }
    }

    fn term(&mut self) -> Result<Expr, SelectorError> {
        match self.peek().cloned() {
            Some(Tok::All) => {
                self.pos += 1;
                Ok(Expr::All)
            }
            Some(Tok::Global) => {
                self.pos += 1;
                Ok(Expr::Global)
            }
            Some(Tok::Has(l)) => {
                self.pos += 1;
                Ok(Expr::Has(l))
            }
            Some(Tok::Label(l)) => {
                self.pos += 1;
                let op = self.peek().cloned();
                match op {
                    Some(Tok::Eq) => {
                        self.pos += 1;
                        Ok(Expr::Eq(l, self.string()?))
                    }
                    Some(Tok::Ne) => {
                        self.pos += 1;
                        Ok(Expr::Ne(l, self.string()?))
                    }
                    Some(Tok::In) => {
                        self.pos += 1;
                        Ok(Expr::In(l, self.set()?))
                    }
                    Some(Tok::NotIn) => {
                        self.pos += 1;
                        Ok(Expr::NotIn(l, self.set()?))
                    }
                    Some(Tok::Contains) => {
                        self.pos += 1;
                        Ok(Expr::Contains(l, self.string()?))
                    }
                    Some(Tok::StartsWith) => {
                        self.pos += 1;
                        Ok(Expr::StartsWith(l, self.string()?))
                    }
                    Some(Tok::EndsWith) => {
                        self.pos += 1;
                        Ok(Expr::EndsWith(l, self.string()?))
                    }
                    _ => self.fail("expected an operator after a label"),
                }
            }
            _ => self.fail("expected a selector term"),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Label(l) => format!("label {l:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::And => "'&&'".into(),
        Tok::Or => "'||'".into(),
        Tok::RParen => "')'".into(),
        Tok::LParen => "'('".into(),
        Tok::RBrace => "'}'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::Comma => "','".into(),
        Tok::Eq => "'=='".into(),
        Tok::Ne => "'!='".into(),
        Tok::Not => "'!'".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Parses a selector; empty or blank means all().
pub fn parse(s: &str) -> Result<Selector, SelectorError> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Ok(Selector { expr: Expr::All });
    }
    let mut p = P {
        toks,
        pos: 0,
        end: s.len(),
        depth: 0,
    };
    let expr = p.or()?;
    if p.pos < p.toks.len() {
        return p.fail("expected '&&', '||' or the end of the selector");
    }
    Ok(Selector { expr })
}

fn eval<'a>(e: &Expr, get: &dyn Fn(&str) -> Option<&'a str>) -> bool {
    match e {
        Expr::All => true,
        // global() selects non-namespaced endpoints; it never matches ordinary labels.
        Expr::Global => false,
        Expr::Has(l) => get(l).is_some(),
        Expr::Eq(l, v) => get(l) == Some(v.as_str()),
        Expr::Ne(l, v) => get(l) != Some(v.as_str()),
        Expr::In(l, vs) => get(l).is_some_and(|x| vs.iter().any(|v| v == x)),
        Expr::NotIn(l, vs) => get(l).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Expr::Contains(l, v) => get(l).is_some_and(|x| x.contains(v.as_str())),
        Expr::StartsWith(l, v) => get(l).is_some_and(|x| x.starts_with(v.as_str())),
        Expr::EndsWith(l, v) => get(l).is_some_and(|x| x.ends_with(v.as_str())),
        Expr::Not(x) => !eval(x, get),
        Expr::And(v) => v.iter().all(|x| eval(x, get)),
        Expr::Or(v) => v.iter().any(|x| eval(x, get)),
    }
}

/// A string literal as libcalico prints it: double quotes unless the value holds one (a
/// literal cannot hold both kinds, so this always parses back).
fn lit(v: &str) -> String {
    if v.contains('"') {
        format!("'{v}'")
    } else {
        format!("\"{v}\"")
    }
}

fn quote_set(vs: &[String]) -> String {
    vs.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ")
}

fn canon(e: &Expr, out: &mut String) {
    match e {
        Expr::All => out.push_str("all()"),
        Expr::Global => out.push_str("global()"),
        Expr::Has(l) => out.push_str(&format!("has({l})")),
        Expr::Eq(l, v) => out.push_str(&format!("{l} == {}", lit(v))),
        Expr::Ne(l, v) => out.push_str(&format!("{l} != {}", lit(v))),
        Expr::In(l, vs) => out.push_str(&format!("{l} in {{{}}}", quote_set(vs))),
        Expr::NotIn(l, vs) => out.push_str(&format!("{l} not in {{{}}}", quote_set(vs))),
        Expr::Contains(l, v) => out.push_str(&format!("{l} contains {}", lit(v))),
        Expr::StartsWith(l, v) => out.push_str(&format!("{l} starts with {}", lit(v))),
        Expr::EndsWith(l, v) => out.push_str(&format!("{l} ends with {}", lit(v))),
        Expr::Not(x) => {
            out.push('!');
            let paren = matches!(**x, Expr::And(_) | Expr::Or(_));
            if paren {
                out.push('(');
            }
            canon(x, out);
            if paren {
                out.push(')');
            }
        }
        Expr::And(v) => {
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(" && ");
                }
                let paren = matches!(x, Expr::Or(_));
                if paren {
                    out.push('(');
                }
                canon(x, out);
                if paren {
                    out.push(')');
                }
            }
        }
        Expr::Or(v) => {
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(" || ");
                }
                canon(x, out);
            }
        }
    }
}

fn prefix_expr(e: &Expr, p: &str) -> Expr {
    let l = |x: &String| format!("{p}{x}");
    match e {
        Expr::All => Expr::All,
        Expr::Global => Expr::Global,
        Expr::Has(x) => Expr::Has(l(x)),
        Expr::Eq(x, v) => Expr::Eq(l(x), v.clone()),
        Expr::Ne(x, v) => Expr::Ne(l(x), v.clone()),
        Expr::In(x, v) => Expr::In(l(x), v.clone()),
        Expr::NotIn(x, v) => Expr::NotIn(l(x), v.clone()),
        Expr::Contains(x, v) => Expr::Contains(l(x), v.clone()),
        Expr::StartsWith(x, v) => Expr::StartsWith(l(x), v.clone()),
        Expr::EndsWith(x, v) => Expr::EndsWith(l(x), v.clone()),
        Expr::Not(x) => Expr::Not(Box::new(prefix_expr(x, p))),
        Expr::And(v) => Expr::And(v.iter().map(|x| prefix_expr(x, p)).collect()),
        Expr::Or(v) => Expr::Or(v.iter().map(|x| prefix_expr(x, p)).collect()),
    }
}

fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Not(x) => walk(x, f),
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

impl Selector {
    /// Evaluates against a label lookup.
    pub fn evaluate<'a>(&self, get: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        eval(&self.expr, get)
    }

    pub fn evaluate_map(&self, labels: &BTreeMap<String, String>) -> bool {
        eval(&self.expr, &|k| labels.get(k).map(String::as_str))
    }

    /// The normalised form (double quotes, single spaces).
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        canon(&self.expr, &mut s);
        s
    }

    /// The selector with every label name prefixed (libcalico's `PrefixVisitor`: how
    /// namespace and service-account selectors become `pcns.` / `pcsa.` terms).
    pub fn prefixed(&self, prefix: &str) -> Selector {
        Selector {
            expr: prefix_expr(&self.expr, prefix),
        }
    }

    pub fn uses_global(&self) -> bool {
        let mut found = false;
        walk(&self.expr, &mut |e| found |= *e == Expr::Global);
        found
    }

    pub fn is_global_only(&self) -> bool {
        self.expr == Expr::Global
    }

    pub fn label_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        walk(&self.expr, &mut |e| match e {
            Expr::Has(l)
            | Expr::Eq(l, _)
            | Expr::Ne(l, _)
            | Expr::In(l, _)
            | Expr::NotIn(l, _)
            | Expr::Contains(l, _)
            | Expr::StartsWith(l, _)
            | Expr::EndsWith(l, _)
                if !v.contains(l) =>
            {
                v.push(l.clone())
            }
            _ => {}
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_selectors() {
        for s in [
            "",
            "  ",
            "all()",
            "all ( )",
            "global()",
            "has(a)",
            "has( a/b.c-d_e )",
            "a == \"b\"",
            "a==\"b\"",
            "a == 'b'",
            "a != 'b'",
            "!!has(a)",
            "a in {}",
            "a in {\"x\",}",
            "a in {'x', \"y\"}",
            "a not in{\"x\"}",
            "a notin {\"x\"}",
            "a contains 'x'",
            "a starts with 'x'",
            "a ends with 'x'",
            "(a == 'b' || c == 'd') && !has(e)",
            "projectcalico.org/orchestrator == 'k8s'",
            "has(exposed) && env != 'dev'",
        ] {
            let sel = parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            let again = parse(&sel.canonical()).unwrap();
            assert_eq!(again, sel, "{s:?} -> {}", sel.canonical());
        }
        let long = "a".repeat(512);
        assert!(parse(&format!("has({long})")).is_ok());
        assert!(parse(&format!("has({long}a)")).is_err());
    }

    #[test]
    fn invalid_selectors() {
        for s in [
            "a ==",
            "&& a",
            "a && || b",
            "(a == 'b'",
            "a == 'b')",
            "a == 'b",
            "a == \"b\nc\"",
            "a = 'b'",
            "a == b",
            "has()",
            "has(a",
            "a in {x}",
            "a in {'x' 'y'}",
            "a b",
            "a\n== 'b'",
            "a == 'b' c == 'd'",
        ] {
            assert!(parse(s).is_err(), "{s:?} parsed");
        }
        let deep = "(".repeat(10_000) + "all()" + &")".repeat(10_000);
        assert!(parse(&deep).is_err());
        let e = parse("app ==").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a quoted string: unexpected end of selector at position 6"
        );
    }

    #[test]
    fn evaluation() {
        let l = labels(&[("app", "web"), ("env", "prod")]);
        let t = |s: &str| parse(s).unwrap().evaluate_map(&l);
        assert!(t("all()"));
        assert!(t(""));
        assert!(!t("global()"));
        assert!(t("has(app)"));
        assert!(!t("has(x)"));
        assert!(t("app == 'web'"));
        assert!(t("x != 'web'"));
        assert!(!t("x == 'web'"));
        assert!(t("app in {'a', 'web'}"));
        assert!(t("x not in {'a'}"));
        assert!(!t("x in {'a'}"));
        assert!(t("app contains 'e'"));
        assert!(t("app starts with 'w'"));
        assert!(t("app ends with 'b'"));
        assert!(!t("x contains ''"));
        assert!(t("app == 'x' || env == 'prod'"));
        assert!(!t("app == 'web' && !(env == 'prod')"));
        assert!(t("!!has(app)"));
    }

    #[test]
    fn helpers() {
        let s = parse("global()").unwrap();
        assert!(s.is_global_only() && s.uses_global());
        let s = parse("has(a) && global()").unwrap();
        assert!(!s.is_global_only() && s.uses_global());
        assert_eq!(
            parse("a == 'x' && has(b) || a in {}")
                .unwrap()
                .label_names(),
            ["a", "b"]
        );
        assert_eq!(
            parse("a=='x'&&(b!='y'||!has(c))").unwrap().canonical(),
            "a == \"x\" && (b != \"y\" || !has(c))"
        );
    }
}
