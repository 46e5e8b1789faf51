//! The subset of CEL that the projectcalico.org/v3 CRD validation rules use: `self` and
//! `oldSelf`, field selection, `has()`, `size()`, `==`/`!=`/`<`/`<=`/`>`/`>=`, `!`, `&&`, `||`,
//! `?:`, string/int/bool literals, and the `contains`, `startsWith` and `exists` methods.
//! Values are canonical JSON values, where an absent field is what `has()` sees as unset.

use serde_json::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Ident(String),
    Lit(Value),
    Select(Box<Expr>, String),
    Has(Box<Expr>),
    Size(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Method(Box<Expr>, String, Vec<Expr>),
    /// `target.exists(var, predicate)`.
    Exists(Box<Expr>, String, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Op(&'static str),
}

/// Why a rule could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CelError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, CelError> {
    Err(CelError(s.into()))
}

const OPS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "?", ":", "(", ")", ".", ",",
];

fn lex(src: &str) -> Result<Vec<Tok>, CelError> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    'outer: while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let end = src[i + 1..]
                .find(c)
                .ok_or_else(|| CelError(format!("unterminated string in {src}")))?;
            out.push(Tok::Str(src[i + 1..i + 1 + end].to_string()));
            i += end + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let len = src[i..].bytes().take_while(u8::is_ascii_digit).count();
            let n = src[i..i + len]
                .parse()
                .map_err(|_| CelError(format!("bad number in {src}")))?;
            out.push(Tok::Int(n));
            i += len;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let len = src[i..]
                .bytes()
                .take_while(|x| x.is_ascii_alphanumeric() || *x == b'_')
                .count();
            out.push(Tok::Ident(src[i..i + len].to_string()));
            i += len;
            continue;
        }
        for op in OPS {
            if src[i..].starts_with(op) {
                out.push(Tok::Op(op));
                i += op.len();
                continue 'outer;
            }
        }
        return err(format!("unexpected {c:?} in {src}"));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let hit = self.peek_op(op);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_op(&mut self, op: &str) -> Result<(), CelError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            err(format!("expected {op} at token {}", self.pos))
        }
    }

    fn ident(&mut self) -> Result<String, CelError> {
        match self.toks.get(self.pos) {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s.clone())
            }
            _ => err(format!("expected a name at token {}", self.pos)),
        }
    }

    fn expr(&mut self) -> Result<Expr, CelError> {
        let c = self.or()?;
        if self.eat_op("?") {
            let a = self.expr()?;
            self.expect_op(":")?;
            let b = self.expr()?;
            return Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    fn or(&mut self) -> Result<Expr, CelError> {
        let mut l = self.and()?;
        while self.eat_op("||") {
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, CelError> {
        let mut l = self.cmp()?;
        while self.eat_op("&&") {
            l = Expr::And(Box::new(l), Box::new(self.cmp()?));
        }
        Ok(l)
    }

    fn cmp(&mut self) -> Result<Expr, CelError> {
        let l = self.unary()?;
        for (op, c) in [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ] {
            if self.eat_op(op) {
                return Ok(Expr::Cmp(Box::new(l), c, Box::new(self.unary()?)));
            }
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, CelError> {
        if self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        let mut e = self.primary()?;
        while self.eat_op(".") {
            let name = self.ident()?;
            if self.eat_op("(") {
                if name == "exists" {
                    let var = self.ident()?;
                    self.expect_op(",")?;
                    let pred = self.expr()?;
                    self.expect_op(")")?;
                    e = Expr::Exists(Box::new(e), var, Box::new(pred));
                } else {
                    let args = self.args()?;
                    e = Expr::Method(Box::new(e), name, args);
                }
            } else {
                e = Expr::Select(Box::new(e), name);
            }
        }
        Ok(e)
    }

    /// Arguments after `(`, through the closing `)`.
    fn args(&mut self) -> Result<Vec<Expr>, CelError> {
        let mut args = Vec::new();
        if self.eat_op(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat_op(")") {
                return Ok(args);
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, CelError> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Op("(")) => {
                let e = self.expr()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Some(Tok::Str(s)) => Ok(Expr::Lit(Value::String(s))),
            Some(Tok::Int(n)) => Ok(Expr::Lit(Value::from(n))),
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "has" | "size" if self.eat_op("(") => {
                    let mut args = self.args()?;
                    if args.len() != 1 {
                        return err(format!("{id} takes one argument"));
                    }
                    let a = Box::new(args.remove(0));
                    Ok(if id == "has" {
                        Expr::Has(a)
                    } else {
                        Expr::Size(a)
                    })
                }
                _ => Ok(Expr::Ident(id)),
            },
            other => err(format!("unexpected {other:?}")),
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Program(Expr);

/// Parses a rule.
pub fn compile(src: &str) -> Result<Program, CelError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return err(format!("trailing input in {src}"));
    }
    Ok(Program(e))
}

/// Variables of one evaluation (innermost last).
struct Env {
    vars: Vec<(String, Option<Value>)>,
}

impl Program {
    /// Evaluates to a boolean with `self` (and `oldSelf` on updates) bound.
    pub fn eval(&self, this: &Value, old: Option<&Value>) -> Result<bool, CelError> {
        let mut env = Env {
            vars: vec![
                ("self".to_string(), Some(this.clone())),
                ("oldSelf".to_string(), old.cloned()),
            ],
        };
        match eval(&self.0, &mut env)? {
            Some(Value::Bool(b)) => Ok(b),
            v => err(format!("rule gave {v:?}, not a bool")),
        }
    }
}

/// Evaluates `e`; `None` is an absent field (only `has()` may look at one).
fn eval(e: &Expr, env: &mut Env) -> Result<Option<Value>, CelError> {
    let b = |v: bool| Ok(Some(Value::Bool(v)));
    match e {
        Expr::Lit(v) => Ok(Some(v.clone())),
        Expr::Ident(id) => match env.vars.iter().rev().find(|(n, _)| n == id) {
            Some((_, v)) => Ok(v.clone()),
            None => err(format!("undeclared reference to {id}")),
        },
        Expr::Select(t, f) => match eval(t, env)? {
            Some(Value::Object(m)) => match m.get(f) {
                Some(v) if !v.is_null() => Ok(Some(v.clone())),
                _ => err(format!("no such key: {f}")),
            },
            _ => err(format!("no such key: {f}")),
        },
        Expr::Has(t) => match t.as_ref() {
            Expr::Select(obj, f) => match eval(obj, env)? {
                Some(Value::Object(m)) => b(m.get(f).is_some_and(|v| !v.is_null())),
                _ => b(false),
            },
            _ => err("has() needs a field selection"),
        },
        Expr::Size(t) => match eval(t, env)? {
            Some(Value::String(s)) => Ok(Some(Value::from(s.chars().count()))),
            Some(Value::Array(a)) => Ok(Some(Value::from(a.len()))),
            Some(Value::Object(m)) => Ok(Some(Value::from(m.len()))),
            v => err(format!("size() of {v:?}")),
        },
        Expr::Not(t) => b(!truth(eval(t, env)?)?),
        Expr::And(l, r) => {
            if !truth(eval(l, env)?)? {
                return b(false);
            }
            b(truth(eval(r, env)?)?)
        }
        Expr::Or(l, r) => {
            if truth(eval(l, env)?)? {
                return b(true);
            }
            b(truth(eval(r, env)?)?)
        }
        Expr::Cond(c, x, y) => {
            if truth(eval(c, env)?)? {
                eval(x, env)
            } else {
                eval(y, env)
            }
        }
        Expr::Cmp(l, op, r) => {
            let (l, r) = (eval(l, env)?, eval(r, env)?);
            let (Some(l), Some(r)) = (l, r) else {
                return err("comparison of an absent value");
            };
            let ord = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            b(match op {
                CmpOp::Eq => l == r || ord == Some(std::cmp::Ordering::Equal),
                CmpOp::Ne => !(l == r || ord == Some(std::cmp::Ordering::Equal)),
                CmpOp::Lt => ord == Some(std::cmp::Ordering::Less),
                CmpOp::Le => ord.is_some_and(|o| o != std::cmp::Ordering::Greater),
                CmpOp::Gt => ord == Some(std::cmp::Ordering::Greater),
                CmpOp::Ge => ord.is_some_and(|o| o != std::cmp::Ordering::Less),
            })
        }
        Expr::Method(t, name, args) => {
            let Some(Value::String(s)) = eval(t, env)? else {
                return err(format!("{name}() on a non-string"));
            };
            let arg = match args.as_slice() {
                [a] => match eval(a, env)? {
                    Some(Value::String(x)) => x,
                    _ => return err(format!("{name}() needs a string")),
                },
                _ => return err(format!("{name}() takes one argument")),
            };
            match name.as_str() {
                "contains" => b(s.contains(&arg)),
                "startsWith" => b(s.starts_with(&arg)),
                "endsWith" => b(s.ends_with(&arg)),
                _ => err(format!("unknown method {name}")),
            }
        }
        Expr::Exists(t, var, pred) => {
            let items: Vec<Value> = match eval(t, env)? {
                Some(Value::Array(a)) => a,
                Some(Value::Object(m)) => m.keys().map(|k| Value::String(k.clone())).collect(),
                v => return err(format!("exists() on {v:?}")),
            };
            for item in items {
                env.vars.push((var.clone(), Some(item)));
                let hit = eval(pred, env);
                env.vars.pop();
                if truth(hit?)? {
                    return b(true);
                }
            }
            b(false)
        }
    }
}

fn truth(v: Option<Value>) -> Result<bool, CelError> {
    match v {
        Some(Value::Bool(b)) => Ok(b),
        other => err(format!("expected a bool, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: &str, v: Value) -> bool {
        compile(rule).unwrap().eval(&v, None).unwrap()
    }

    #[test]
    fn rules_of_the_crds() {
        let tier = "self.metadata.name == 'default' ? (has(self.spec.defaultAction) && self.spec.defaultAction == 'Deny') : true";
        assert!(run(tier, json!({"metadata": {"name": "x"}, "spec": {}})));
        assert!(!run(
            tier,
            json!({"metadata": {"name": "default"}, "spec": {}})
        ));
        assert!(run(
            tier,
            json!({"metadata": {"name": "default"}, "spec": {"defaultAction": "Deny"}})
        ));
        let lb = "!has(self.allowedUses) || !self.allowedUses.exists(u, u == 'LoadBalancer') || !self.allowedUses.exists(u, u == 'Workload' || u == 'Tunnel')";
        assert!(run(lb, json!({"allowedUses": ["LoadBalancer"]})));
        assert!(!run(lb, json!({"allowedUses": ["LoadBalancer", "Tunnel"]})));
        let v6 = "!self.cidr.contains(':') || !has(self.ipipMode) || self.ipipMode == 'Never' || size(self.ipipMode) == 0";
        assert!(!run(v6, json!({"cidr": "fd00::/64", "ipipMode": "Always"})));
        let asn = "(!has(self.peerSelector) || size(self.peerSelector) == 0) || !has(self.asNumber) || self.asNumber == 0";
        assert!(!run(
            asn,
            json!({"peerSelector": "all()", "asNumber": 64512})
        ));
        let felix = "self.metadata.name == 'default' || self.metadata.name.startsWith('node.') ? !has(self.spec.nodeSelector) : true";
        assert!(!run(
            felix,
            json!({"metadata": {"name": "node.a"}, "spec": {"nodeSelector": "x"}})
        ));
        assert!(run(
            felix,
            json!({"metadata": {"name": "other"}, "spec": {"nodeSelector": "x"}})
        ));
    }

    #[test]
    fn transition_rule() {
        let p = compile("self == oldSelf").unwrap();
        assert!(p.eval(&json!(26), Some(&json!(26))).unwrap());
        assert!(!p.eval(&json!(26), Some(&json!(24))).unwrap());
    }

    #[test]
    fn bad_rules_are_errors() {
        assert!(compile("self.x ==").is_err());
        assert!(compile("'open").is_err());
    }
}
