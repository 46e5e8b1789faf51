//! yaml.v2's resolution of plain scalars (`resolve` in gopkg.in/yaml.v2): the one set of
//! YAML 1.1 rules that both the manifest reader (what `natOutgoing: yes` or `0700` means) and
//! the YAML writer (whether a string must be quoted to read back as a string) follow.

/// What yaml.v2 resolves a plain (untagged) scalar to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`.
    Uint(u64),
    /// Also `.inf`/`.nan`, which JSON cannot hold.
    Float(f64),
    /// A date or date-time: decoded into `interface{}` it stays the original string.
    Timestamp,
    /// Everything else, `<<` included (a merge key is recognised by its text, not resolved).
    Str,
}

impl Resolved {
    /// yaml.v2's short tag name, as its decode errors print it (`!!int`).
    pub fn short_tag(self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) | Resolved::Uint(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Timestamp => "!!timestamp",
            Resolved::Str => "!!str",
        }
    }
}

/// yaml.v2 `resolve("", s)`: the type a plain scalar `s` reads as. Numbers drop every `_`
/// first (`1__0` is 10), integers follow Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint`,
/// floats need yaml.v2's float syntax and a finite `ParseFloat` (`1e400` stays a string).
pub fn resolve(s: &str) -> Resolved {
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => return Resolved::Str,
    };
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => go_parse_float(s).map_or(Resolved::Str, Resolved::Float),
        b'D' | b'S' => {
            if is_yaml_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain, 0) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain, 0) {
                return Resolved::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Resolved::Float(f);
            }
            // yaml.v2's own binary fallbacks (they accept a sign after `0b`).
            let binary = if let Some(rest) = plain.strip_prefix("0b") {
                go_parse_int(rest, 2)
                    .map(Resolved::Int)
                    .or_else(|| go_parse_uint(rest, 2).map(Resolved::Uint))
            } else if let Some(rest) = plain.strip_prefix("-0b") {
                go_parse_int(&format!("-{rest}"), 2).map(Resolved::Int)
            } else {
                None
            };
            binary.unwrap_or(Resolved::Str)
        }
        _ => Resolved::Str,
    }
}

/// Whether `s` written plain reads back as the same string (otherwise the writer quotes it).
pub fn resolves_to_str(s: &str) -> bool {
    resolve(s) == Resolved::Str
}

/// Go `strconv.ParseUint(s, base, 64)` (base 0 = prefix-detected), without
/// underscore support (callers strip underscores first, as yaml.v2 does).
pub fn go_parse_uint(s: &str, base: u32) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (radix, digits) = if base == 0 {
        if b[0] == b'0' {
            let prefix = b.get(1).map(u8::to_ascii_lowercase);
            match prefix {
                Some(b'b') if b.len() >= 3 => (2, &s[2..]),
                Some(b'o') if b.len() >= 3 => (8, &s[2..]),
                Some(b'x') if b.len() >= 3 => (16, &s[2..]),
                _ => (8, &s[1..]),
            }
        } else {
            (10, s)
        }
    } else {
        (base, s)
    };
    if digits.is_empty() && !(base == 0 && s == "0") {
        return None;
    }
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(36)?;
        if d >= radix {
            return None;
        }
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go `strconv.ParseInt(s, base, 64)`: optional sign, then ParseUint.
pub fn go_parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest, base)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Skips ASCII digits starting at `*i`; returns how many there were.
fn eat_digits(b: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    *i - start
}

/// yaml.v2's `yamlStyleFloat`:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if eat_digits(b, &mut i) == 0 {
            return false;
        }
    } else {
        if eat_digits(b, &mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            eat_digits(b, &mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if eat_digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go `underscoreOK` for a number without base prefix: every `_` must sit
/// between two digits.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// Go `strconv.ParseFloat(s, 64)` of decimal text: optional sign,
/// digits with at most one dot (underscores between digits allowed),
/// optional exponent; overflow to ±Inf is an error, underflow is not.
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let (mut digits, mut dot) = (false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => digits = true,
            b'_' => {}
            b'.' if !dot => dot = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    if i != b.len() || (s.contains('_') && !underscores_ok(s)) {
        return None;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    plain.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(b: &[u8], i: &mut usize, fixed: bool) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    match b.get(*i + 1).filter(|c| c.is_ascii_digit()) {
        Some(&d1) => {
            *i += 2;
            Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
        }
        None if fixed => None,
        None => {
            *i += 1;
            Some(u32::from(d0 - b'0'))
        }
    }
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// yaml.v2 `parseTimestamp`: Go `time.Parse` with the layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (also lower-case `t`),
/// `2006-1-2 15:4:5.999999999` and `2006-1-2`.
fn is_yaml_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if lead != 4 || b.get(4) != Some(&b'-') {
        return false;
    }
    (0..4).any(|layout| parse_timestamp_layout(b, layout))
}

/// One `time.Parse` attempt; `layout` 0/1 = `T`/`t` + zone, 2 = space, 3 = date.
fn parse_timestamp_layout(b: &[u8], layout: u8) -> bool {
    let year: u32 = b[..4].iter().fold(0, |a, &c| a * 10 + u32::from(c - b'0'));
    let mut i = 5;
    let Some(month) = getnum(b, &mut i, false) else {
        return false;
    };
    if !(1..=12).contains(&month) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = getnum(b, &mut i, false) else {
        return false;
    };
    if layout < 3 {
        match layout {
            0 | 1 => {
                let sep = if layout == 0 { b'T' } else { b't' };
                if b.get(i) != Some(&sep) {
                    return false;
                }
                i += 1;
            }
            _ => {
                // A layout space matches one or more spaces.
                if b.get(i) != Some(&b' ') {
                    return false;
                }
                while b.get(i) == Some(&b' ') {
                    i += 1;
                }
            }
        }
        let ok_hms = getnum(b, &mut i, false).is_some_and(|h| h < 24)
            && b.get(i) == Some(&b':')
            && {
                i += 1;
                getnum(b, &mut i, false).is_some_and(|m| m < 60)
            }
            && b.get(i) == Some(&b':')
            && {
                i += 1;
                getnum(b, &mut i, false).is_some_and(|s| s < 60)
            };
        if !ok_hms {
            return false;
        }
        // Optional fraction: `.` or `,` followed by any number of digits.
        if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            eat_digits(b, &mut i);
        }
        if layout < 2 {
            if b.get(i) == Some(&b'Z') {
                i += 1;
            } else {
                if b.len() < i + 6 || b[i + 3] != b':' || !matches!(b[i], b'+' | b'-') {
                    return false;
                }
                let mut j = i + 1;
                let hh = getnum(&b[..i + 3], &mut j, true);
                let mut k = i + 4;
                let mm = getnum(&b[..i + 6], &mut k, true);
                match (hh, mm) {
                    (Some(h), Some(m)) if h <= 24 && m <= 60 => {}
                    _ => return false,
                }
                i += 6;
            }
        }
    }
    i == b.len() && day >= 1 && day <= days_in(month, year)
}

/// yaml.v2 `isBase60Float`:
/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let two = b.get(i).is_some_and(|c| (b'0'..=b'5').contains(c))
            && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if two {
            i += 2;
        } else if b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        } else {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_yaml_v2() {
        use Resolved::*;
        for (s, want) in [
            ("", Null),
            ("~", Null),
            ("yes", Bool(true)),
            ("Off", Bool(false)),
            ("1__0", Int(10)),
            ("0b1_0", Int(2)),
            ("0b-1", Int(-1)),
            ("017", Int(15)),
            ("9223372036854775808", Uint(1 << 63)),
            ("1_000.5", Float(1000.5)),
            (".5_0", Float(0.5)),
            ("1e400", Str),
            ("1_", Int(1)),
            ("_1", Str),
            ("2001-12-14", Timestamp),
            ("1:20", Str),
            ("<<", Str),
            ("0x", Str),
        ] {
            assert_eq!(resolve(s), want, "{s}");
        }
        assert_eq!(resolve("-.inf"), Float(f64::NEG_INFINITY));
        assert!(matches!(resolve(".NaN"), Float(f) if f.is_nan()));
        assert!(resolves_to_str("1:20") && !resolves_to_str("1__0"));
        assert_eq!(Uint(1).short_tag(), "!!int");
    }
}
