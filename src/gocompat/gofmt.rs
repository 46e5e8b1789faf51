//! Go `fmt` / `strconv` formatting: numbers and the `%v` verb.
//!
//! calicoctl prints numbers through Go's formatting verbs (`%v`, `%.5g`,
//! `%.f`) and `encoding/json`; users and scripts see those exact texts, so
//! they are reproduced here digit for digit. `%v` of composite values has one set of
//! rules here ([`fmt_map`], [`fmt_slice`], [`fmt_struct`]) used by every printer: Go's `fmt`
//! always prints map keys sorted (table columns, validation errors, go-template and jsonpath
//! alike), so no caller gets to choose an order.

use serde_json::Value;

/// Decimal digits of a float: `digits` has no leading zeros (empty for zero)
/// and the value is `0.digits × 10^dp`, mirroring strconv's `decimalSlice`.
struct Digits {
    digits: Vec<u8>,
    dp: i32,
}

/// Splits Rust's `{:e}` rendering ("d.ddde±x") into digits and point position.
fn parse_exp_form(s: &str) -> Digits {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return Digits { digits, dp: 0 };
    }
    Digits {
        digits,
        dp: exp + 1,
    }
}

/// Shortest digits that round-trip (what Go uses for precision -1).
fn shortest(abs: f64) -> Digits {
    if abs == 0.0 {
        return Digits {
            digits: Vec::new(),
            dp: 0,
        };
    }
    let rust = format!("{abs:e}");
    // Rust and Go agree on the number of shortest digits but break exact ties
    // differently (Go picks the even neighbour); the correctly rounded
    // candidate of that length is Go's choice whenever it round-trips.
    let n = parse_exp_form(&rust).digits.len().max(1);
    let prec = n - 1;
    let exact = format!("{abs:.prec$e}");
    if exact.parse::<f64>().ok() == Some(abs) {
        return parse_exp_form(&exact);
    }
    parse_exp_form(&rust)
}

/// `n` significant digits, correctly rounded half-to-even on the exact binary
/// value, trailing zeros trimmed (as strconv's fixed-precision path does).
fn fixed(abs: f64, n: usize) -> Digits {
    if abs == 0.0 {
        return Digits {
            digits: Vec::new(),
            dp: 0,
        };
    }
    let prec = n.max(1) - 1;
    parse_exp_form(&format!("{abs:.prec$e}"))
}

/// Digit at position `i` of the digit string, `0` beyond its end.
fn digit_at(d: &Digits, i: i64) -> u8 {
    if i >= 0 && (i as usize) < d.digits.len() {
        d.digits[i as usize]
    } else {
        b'0'
    }
}

/// strconv `fmtE`: `d.ddd` with `prec` decimals then `e±XX` (≥ 2 digits).
fn fmt_e(neg: bool, d: &Digits, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push(char::from(digit_at(d, 0)));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digit_at(d, i as i64)));
        }
    }
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

/// strconv `fmtF`: integer part then `prec` decimals.
fn fmt_f(neg: bool, d: &Digits, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if d.dp > 0 {
        for i in 0..d.dp {
            out.push(char::from(digit_at(d, i64::from(i))));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digit_at(d, i64::from(d.dp) + i as i64 - 1)));
        }
    }
    out
}

/// strconv's `%g` decision between `%e` and `%f` for given digits.
fn fmt_g_digits(neg: bool, d: &Digits, prec: i64, is_shortest: bool) -> String {
    let nd = d.digits.len() as i64;
    let dp = i64::from(d.dp);
    let mut prec = if is_shortest { nd } else { prec };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if is_shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        return fmt_e(neg, d, (prec - 1).max(0) as usize);
    }
    if prec > dp {
        prec = nd;
    }
    fmt_f(neg, d, (prec - dp).max(0) as usize)
}

/// Go's spelling of non-finite values (`+Inf`, `-Inf`, `NaN`).
fn non_finite(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

/// Go `%v` of a float64 (= `strconv.FormatFloat(f, 'g', -1, 64)`), used for
/// table columns such as ORDER: `1e+06`, `123456`, `1e-05`.
pub fn fmt_v_float(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    fmt_g_digits(neg, &shortest(f.abs()), -1, true)
}

/// A JSON number as Go prints the value it decodes to: integers (int64, else uint64) in
/// decimal, anything else as a float64 spelled by `float` (`%v`, JSON, `%g` for float32…).
pub fn number_text(n: &serde_json::Number, float: fn(f64) -> String) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float(n.as_f64().unwrap_or(0.0))
    }
}

/// `%v` of a map: `map[k1:v1 k2:v2]`, keys sorted bytewise as Go's `fmt` sorts string keys.
pub fn fmt_map<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut entries: Vec<(&str, String)> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", body.join(" "))
}

/// `%v` of a slice: `[a b c]`.
pub fn fmt_slice(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(" "))
}

/// `%v` of a struct: its field values in declaration order, `{a b c}`.
pub fn fmt_struct(fields: impl IntoIterator<Item = String>) -> String {
    format!("{{{}}}", fields.into_iter().collect::<Vec<_>>().join(" "))
}

/// Go `%v` of a value decoded from JSON into `interface{}`-like Go values (integers as
/// int64/uint64, other numbers as float64, objects as maps): `<nil>`, `true`, `42`, `1e+06`,
/// `[a b]`, `map[a:1 b:2]`.
pub fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n, fmt_v_float),
        Value::String(s) => s.clone(),
        Value::Array(a) => fmt_slice(a.iter().map(go_v)),
        Value::Object(m) => fmt_map(m.iter().map(|(k, v)| (k.as_str(), go_v(v)))),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that round-trip the value as
/// a float32 (how sigs.k8s.io/yaml turns a YAML float into a string: `1.10` → `1.1`,
/// `1e6` → `1e+06`).
pub fn fmt_g_shortest32(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let x = f as f32;
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = x.is_sign_negative();
    let abs = x.abs();
    let d = if abs == 0.0 {
        Digits {
            digits: Vec::new(),
            dp: 0,
        }
    } else {
        let rust = format!("{abs:e}");
        let n = parse_exp_form(&rust).digits.len().max(1);
        let prec = n - 1;
        let exact = format!("{abs:.prec$e}");
        if exact.parse::<f32>().ok() == Some(abs) {
            parse_exp_form(&exact)
        } else {
            parse_exp_form(&rust)
        }
    };
    fmt_g_digits(neg, &d, -1, true)
}

/// Go `%.5g` (ipam show totals): 5 significant digits, trailing zeros
/// dropped, exponent form from 1e+05 upwards.
pub fn fmt_g5(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    fmt_g_digits(neg, &fixed(f.abs(), 5), 5, false)
}

/// Go `%.f` (ipam show percentages): no decimals, round half to even on the
/// exact binary value (12.5 → `12`, 37.5 → `38`).
pub fn fmt_pct0(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    // Rust's exact formatting also rounds ties to even; only the sign of a
    // negative value rounding to zero needs Go's spelling (`-0`), which Rust
    // already produces.
    format!("{f:.0}")
}

/// Go `encoding/json` float64 text: plain decimal for 1e-6 ≤ |f| < 1e21,
/// otherwise exponent form with Go's `e-07` → `e-7` clean-up.
///
/// Non-finite values cannot be encoded by Go (it returns an error); their
/// strconv spelling is returned so callers never panic.
pub fn fmt_json_float(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    let abs = f.abs();
    let d = shortest(abs);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let nd = d.digits.len();
        let mut s = fmt_e(neg, &d, nd.saturating_sub(1));
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        return s;
    }
    let nd = d.digits.len() as i64;
    fmt_f(neg, &d, (nd - i64::from(d.dp)).max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_v_of_json_values() {
        let v = serde_json::json!({"z": [1, 2.5, null], "a": {"y": true, "b": "s"}, "m": 1e6});
        assert_eq!(go_v(&v), "map[a:map[b:s y:true] m:1e+06 z:[1 2.5 <nil>]]");
        assert_eq!(go_v(&serde_json::json!(u64::MAX)), "18446744073709551615");
        assert_eq!(fmt_struct(["a".to_string(), String::new()]), "{a }");
    }

    #[test]
    fn v_float_reference_examples() {
        let cases: &[(f64, &str)] = &[
            (100.0, "100"),
            (1000.0, "1000"),
            (123456.0, "123456"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e7, "1e+07"),
            (0.5, "0.5"),
            (0.00001, "1e-05"),
            (0.0001, "0.0001"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (999999.0, "999999"),
            (1.0, "1"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (-1e-7, "-1e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(fmt_v_float(*f), *want, "%v of {f:e}");
        }
    }

    #[test]
    fn g5_reference_examples() {
        let cases: &[(f64, &str)] = &[
            (64.0, "64"),
            (8.0, "8"),
            (65536.0, "65536"),
            (99999.0, "99999"),
            (100000.0, "1e+05"),
            (131072.0, "1.3107e+05"),
            (1048576.0, "1.0486e+06"),
            (2f64.powi(80), "1.2089e+24"),
            (2f64.powi(64), "1.8447e+19"),
            (2f64.powi(128), "3.4028e+38"),
            (65531.0, "65531"),
            (65525.0, "65525"),
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (0.00001, "1e-05"),
            (0.000123456, "0.00012346"),
            (99999.5, "1e+05"),
            (12345.5, "12346"),
            (12344.5, "12344"),
            (1200.0, "1200"),
            (-131072.0, "-1.3107e+05"),
            (f64::INFINITY, "+Inf"),
        ];
        for (f, want) in cases {
            assert_eq!(fmt_g5(*f), *want, "%.5g of {f:e}");
        }
    }

    #[test]
    fn pct0_rounds_half_to_even() {
        let cases: &[(f64, &str)] = &[
            (12.5, "12"),
            (37.5, "38"),
            (62.5, "62"),
            (0.3, "0"),
            (0.5, "0"),
            (1.5, "2"),
            (2.5, "2"),
            (99.99, "100"),
            (100.0, "100"),
            (100.0 * 5.0 / 65536.0, "0"),
            (100.0 * 7.0 / 64.0, "11"),
            (100.0 * 57.0 / 64.0, "89"),
            (-0.3, "-0"),
            (0.0, "0"),
        ];
        for (f, want) in cases {
            assert_eq!(fmt_pct0(*f), *want, "%.f of {f:e}");
        }
    }

    #[test]
    fn json_float_formats() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (1000000.0, "1000000"),
            (0.5, "0.5"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-10, "1e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (123456789.125, "123456789.125"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(fmt_json_float(*f), *want, "json of {f:e}");
        }
    }
}
