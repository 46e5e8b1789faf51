//! Box tables as drawn by `olekukonko/tablewriter` v0.0.5 with default
//! settings, which calicoctl (REL) uses for `ipam show` and `node status`.
//!
//! Reproduced behaviour: `+-|` borders, headers upper-cased and centred,
//! data cells that look like decimal numbers right-aligned, cells wider than
//! 30 columns re-wrapped with tablewriter's minimum-raggedness algorithm,
//! display widths per go-runewidth v0.0.9 (East-Asian wide = 2, combining =
//! 0, ANSI colour codes ignored) and its quirks for ragged rows.

use std::collections::BTreeMap;

/// tablewriter's default `MAX_ROW_WIDTH` (wrap limit).
const MAX_WIDTH: usize = 30;
/// Penalty for an over-long line in the wrapping cost.
const PENALTY: i64 = 100_000;

/// Renders a complete table: top rule, header line(s), rule, data lines,
/// bottom rule (an empty `headers` slice omits the header block, as Go does).
pub fn render_box_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: BTreeMap<usize, usize> = BTreeMap::new();
    let header_cells: Vec<Vec<String>> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| parse_dimension(h, i, &mut widths))
        .collect();
    let header_height = header_cells.iter().map(Vec::len).max().unwrap_or(0);
    let body: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, c)| parse_dimension(c, i, &mut widths))
                .collect()
        })
        .collect();
    // Go iterates `i < len(cs)` over a map keyed 0..n-1.
    let cs: Vec<usize> = (0..widths.len())
        .map(|i| widths.get(&i).copied().unwrap_or(0))
        .collect();

    let mut out = String::new();
    rule(&cs, &mut out);
    if !header_cells.is_empty() {
        for x in 0..header_height {
            out.push('|');
            for (y, &w) in cs.iter().enumerate() {
                let h = header_cells
                    .get(y)
                    .and_then(|lines| lines.get(x))
                    .map_or("", String::as_str);
                out.push(' ');
                out.push_str(&pad_center(&title(h), w));
                out.push_str(" |");
            }
            out.push('\n');
        }
        rule(&cs, &mut out);
    }
    for row in &body {
        let height = row.iter().map(Vec::len).max().unwrap_or(0);
        for x in 0..height {
            for (y, lines) in row.iter().enumerate() {
                // Shorter cells are filled with two spaces, like Go.
                let s = lines.get(x).map_or("  ", String::as_str);
                let w = cs.get(y).copied().unwrap_or(0);
                out.push_str("| ");
                if is_decimal(s.trim()) {
                    out.push_str(&pad_left(s, w));
                } else {
                    out.push_str(&pad_right(s, w));
                }
                out.push(' ');
            }
            out.push_str("|\n");
        }
    }
    rule(&cs, &mut out);
    out
}

/// A `+---+---+` rule line.
fn rule(cs: &[usize], out: &mut String) {
    out.push('+');
    for &w in cs {
        for _ in 0..w + 2 {
            out.push('-');
        }
        out.push('+');
    }
    out.push('\n');
}

/// tablewriter `parseDimension` with auto-wrap and reflow on: splits the
/// cell into display lines and widens its column as needed.
fn parse_dimension(s: &str, col: usize, widths: &mut BTreeMap<usize, usize>) -> Vec<String> {
    let raw: Vec<&str> = s.split('\n').collect();
    let mut max_width = raw.iter().map(|l| display_width(l)).max().unwrap_or(0);
    max_width = max_width.min(MAX_WIDTH);
    let lines = wrap_string(&raw.join(" "), max_width);
    let new_max = lines
        .iter()
        .map(|l| display_width(l))
        .max()
        .unwrap_or(0)
        .max(max_width);
    let w = widths.entry(col).or_insert(0);
    *w = (*w).max(new_max);
    lines
}

/// tablewriter `WrapString`: words split on single spaces; the limit grows
/// to the longest word; minimum-raggedness line breaking.
fn wrap_string(s: &str, lim: usize) -> Vec<String> {
    let words: Vec<&str> = s.split(' ').collect();
    let widths: Vec<i64> = words.iter().map(|w| string_width(w) as i64).collect();
    let lim = widths.iter().copied().fold(lim as i64, i64::max);
    wrap_words(&widths, lim)
        .into_iter()
        .map(|(a, b)| words[a..b].join(" "))
        .collect()
}

/// tablewriter `WrapWords` (spacing 1, penalty 1e5): dynamic programming
/// from the last word; returns the word ranges of each line.
fn wrap_words(widths: &[i64], lim: i64) -> Vec<(usize, usize)> {
    let n = widths.len();
    let mut prefix = vec![0i64; n + 1];
    for (i, w) in widths.iter().enumerate() {
        prefix[i + 1] = prefix[i] + w;
    }
    // Width of words i..=j joined by single spaces.
    let length = |i: usize, j: usize| prefix[j + 1] - prefix[i] + (j - i) as i64;
    let mut nbrk = vec![0usize; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= lim {
            cost[i] = 0;
            nbrk[i] = n;
            continue;
        }
        for j in i + 1..n {
            let len = length(i, j - 1);
            let d = lim - len;
            let mut c = d.saturating_mul(d).saturating_add(cost[j]);
            if len > lim {
                c = c.saturating_add(PENALTY);
            }
            if c < cost[i] {
                cost[i] = c;
                nbrk[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        // Go never sets a break when every cost overflows int32 range; it
        // then misbehaves. Keep the remaining words on one line instead.
        let next = if nbrk[i] > i { nbrk[i] } else { n };
        lines.push((i, next));
        i = next;
    }
    lines
}

/// tablewriter `Title`: `_` → space, `.` → space unless between digits or
/// spaces, trimmed, upper-cased (kept as one space if it trims to nothing).
fn title(name: &str) -> String {
    let mut rs: Vec<char> = name.chars().collect();
    let n = rs.len();
    for i in 0..n {
        match rs[i] {
            '_' => rs[i] = ' ',
            '.' => {
                let num_or_space = |c: char| c.is_ascii_digit() || c == ' ';
                if (i != 0 && !num_or_space(rs[i - 1])) || (i + 1 != n && !num_or_space(rs[i + 1]))
                {
                    rs[i] = ' ';
                }
            }
            _ => {}
        }
    }
    let joined: String = rs.into_iter().collect();
    let trimmed = joined.trim();
    if trimmed.is_empty() && !name.is_empty() {
        return " ".to_string();
    }
    trimmed.chars().map(go_to_upper).collect()
}

/// Go `unicode.ToUpper` approximation: Rust's mapping when it is a single
/// character, otherwise the character is kept (Go uses simple mappings).
fn go_to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// tablewriter's numeric test:
/// `^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$` (ASCII digits).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if frac.is_some_and(|f| !all_digits(f)) {
        return false;
    }
    if all_digits(int) {
        return true;
    }
    let mut groups = int.split(',');
    let first_ok = groups.next().is_some_and(|g| all_digits(g) && g.len() <= 3);
    first_ok && groups.all(|g| all_digits(g) && g.len() == 3)
}

/// Centres `s` in `width` columns (extra space goes right).
fn pad_center(s: &str, width: usize) -> String {
    let w = display_width(s);
    if width <= w {
        return s.to_string();
    }
    let gap = width - w;
    let left = gap / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(gap - left))
}

/// Right-aligns `s` in `width` columns.
fn pad_left(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}

/// Left-aligns `s` in `width` columns.
fn pad_right(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// tablewriter `DisplayWidth`: runewidth of the text without ANSI codes.
fn display_width(s: &str) -> usize {
    string_width(&strip_ansi(s))
}

/// Removes matches of tablewriter's
/// `\x1b\[(?:[0-9]{1,3}(?:;[0-9]{1,3})*)?[m|K]`.
fn strip_ansi(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if let Some(end) = ansi_match(b, i) {
            out.push_str(&s[copied..i]);
            i = end;
            copied = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// End of an ANSI colour sequence starting at `i`, if one does.
fn ansi_match(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&0x1b) || b.get(i + 1) != Some(&b'[') {
        return None;
    }
    let digits_at = |j: usize| {
        b[j.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut j = i + 2;
    let first = digits_at(j);
    if (1..=3).contains(&first) {
        j += first;
        while b.get(j) == Some(&b';') && (1..=3).contains(&digits_at(j + 1)) {
            j += 1 + digits_at(j + 1);
        }
    } else if first > 3 {
        return None;
    }
    matches!(b.get(j), Some(b'm' | b'|' | b'K')).then_some(j + 1)
}

/// go-runewidth v0.0.9 zero-width code points (non-printing, combining).
#[rustfmt::skip]
const ZERO_WIDTH: &[(u32, u32)] = &[
    (0x0, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x300, 0x36F),
    (0x483, 0x489), (0x70F, 0x70F), (0x7EB, 0x7F3), (0xC00, 0xC00),
    (0xC04, 0xC04), (0xD00, 0xD01), (0x135D, 0x135F), (0x180B, 0x180E),
    (0x1A7F, 0x1A7F), (0x1AB0, 0x1AC0), (0x1B6B, 0x1B73), (0x1DC0, 0x1DF9),
    (0x1DFB, 0x1DFF), (0x200B, 0x200F), (0x2028, 0x202E), (0x206A, 0x206F),
    (0x20D0, 0x20F0), (0x27E6, 0x27ED), (0x2985, 0x2986), (0x2CEF, 0x2CF1),
    (0x2DE0, 0x2DFF), (0x3099, 0x309A), (0xA66F, 0xA672), (0xA674, 0xA67D),
    (0xA69E, 0xA69F), (0xA6F0, 0xA6F1), (0xA8E0, 0xA8F1), (0xD800, 0xDFFF),
    (0xFE20, 0xFE2F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0xFFFE, 0xFFFF),
    (0x101FD, 0x101FD), (0x10376, 0x1037A), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50),
    (0x11300, 0x11301), (0x1133B, 0x1133C), (0x11366, 0x1136C), (0x11370, 0x11374),
    (0x16AF0, 0x16AF4), (0x1D165, 0x1D169), (0x1D16D, 0x1D172), (0x1D17B, 0x1D182),
    (0x1D185, 0x1D18B), (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244), (0x1E000, 0x1E006),
    (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E8D0, 0x1E8D6),
];

/// go-runewidth v0.0.9 double-width code points (East Asian Wide/Full).
#[rustfmt::skip]
const DOUBLE_WIDTH: &[(u32, u32)] = &[
    (0x1100, 0x115F), (0x231A, 0x231B), (0x2329, 0x232A), (0x23E9, 0x23EC),
    (0x23F0, 0x23F0), (0x23F3, 0x23F3), (0x25FD, 0x25FE), (0x2614, 0x2615),
    (0x2648, 0x2653), (0x267F, 0x267F), (0x2693, 0x2693), (0x26A1, 0x26A1),
    (0x26AA, 0x26AB), (0x26BD, 0x26BE), (0x26C4, 0x26C5), (0x26CE, 0x26CE),
    (0x26D4, 0x26D4), (0x26EA, 0x26EA), (0x26F2, 0x26F3), (0x26F5, 0x26F5),
    (0x26FA, 0x26FA), (0x26FD, 0x26FD), (0x2705, 0x2705), (0x270A, 0x270B),
    (0x2728, 0x2728), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2795, 0x2797), (0x27B0, 0x27B0), (0x27BF, 0x27BF),
    (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x2E80, 0x2E99),
    (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x2FF0, 0x2FFB), (0x3000, 0x303E),
    (0x3041, 0x3096), (0x309B, 0x30FF), (0x3105, 0x312F), (0x3131, 0x318E),
    (0x3190, 0x31E3), (0x31F0, 0x321E), (0x3220, 0x3247), (0x3250, 0x4DBF),
    (0x4E00, 0xA48C), (0xA490, 0xA4C6), (0xA960, 0xA97C), (0xAC00, 0xD7A3),
    (0xF900, 0xFAFF), (0xFE10, 0xFE19), (0xFE30, 0xFE52), (0xFE54, 0xFE66),
    (0xFE68, 0xFE6B), (0xFF01, 0xFF60), (0xFFE0, 0xFFE6), (0x16FE0, 0x16FE4),
    (0x16FF0, 0x16FF1), (0x17000, 0x187F7), (0x18800, 0x18CD5), (0x18D00, 0x18D08),
    (0x1B000, 0x1B11E), (0x1B150, 0x1B152), (0x1B164, 0x1B167), (0x1B170, 0x1B2FB),
    (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A),
    (0x1F200, 0x1F202), (0x1F210, 0x1F23B), (0x1F240, 0x1F248), (0x1F250, 0x1F251),
    (0x1F260, 0x1F265), (0x1F300, 0x1F320), (0x1F32D, 0x1F335), (0x1F337, 0x1F37C),
    (0x1F37E, 0x1F393), (0x1F3A0, 0x1F3CA), (0x1F3CF, 0x1F3D3), (0x1F3E0, 0x1F3F0),
    (0x1F3F4, 0x1F3F4), (0x1F3F8, 0x1F43E), (0x1F440, 0x1F440), (0x1F442, 0x1F4FC),
    (0x1F4FF, 0x1F53D), (0x1F54B, 0x1F54E), (0x1F550, 0x1F567), (0x1F57A, 0x1F57A),
    (0x1F595, 0x1F596), (0x1F5A4, 0x1F5A4), (0x1F5FB, 0x1F64F), (0x1F680, 0x1F6C5),
    (0x1F6CC, 0x1F6CC), (0x1F6D0, 0x1F6D2), (0x1F6D5, 0x1F6D7), (0x1F6EB, 0x1F6EC),
    (0x1F6F4, 0x1F6FC), (0x1F7E0, 0x1F7EB), (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945),
    (0x1F947, 0x1F978), (0x1F97A, 0x1F9CB), (0x1F9CD, 0x1F9FF), (0x1FA70, 0x1FA74),
    (0x1FA78, 0x1FA7A), (0x1FA80, 0x1FA86), (0x1FA90, 0x1FAA8), (0x1FAB0, 0x1FAB6),
    (0x1FAC0, 0x1FAC2), (0x1FAD0, 0x1FAD6), (0x20000, 0x2FFFD), (0x30000, 0x3FFFD),
];

/// True if `c` falls in one of the sorted, disjoint `ranges`.
fn in_table(c: char, ranges: &[(u32, u32)]) -> bool {
    let u = c as u32;
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < u {
                std::cmp::Ordering::Less
            } else if lo > u {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// go-runewidth `StringWidth` for a non-CJK locale.
fn string_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if in_table(c, ZERO_WIDTH) {
                0
            } else if in_table(c, DOUBLE_WIDTH) {
                2
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    const PEER_HEADERS: [&str; 5] = ["Peer address", "Peer type", "State", "Since", "Info"];

    #[test]
    fn node_status_with_wrapped_info() {
        let t = rows(&[
            &[
                "10.0.0.1",
                "node-to-node mesh",
                "start",
                "21:00:26",
                "Connect Socket: Connection refused",
            ],
            &["10.0.0.2", "global", "up", "2016-11-21", "Established"],
        ]);
        let want = "\
+--------------+-------------------+-------+------------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |   SINCE    |              INFO              |
+--------------+-------------------+-------+------------+--------------------------------+
| 10.0.0.1     | node-to-node mesh | start | 21:00:26   | Connect Socket: Connection     |
|              |                   |       |            | refused                        |
| 10.0.0.2     | global            | up    | 2016-11-21 | Established                    |
+--------------+-------------------+-------+------------+--------------------------------+
";
        assert_eq!(render_box_table(&PEER_HEADERS, &t), want);
    }

    #[test]
    fn node_status_single_peer() {
        let t = rows(&[&[
            "172.16.91.206",
            "node-to-node mesh",
            "up",
            "07:49:38",
            "Established",
        ]]);
        let want = "\
+---------------+-------------------+-------+----------+-------------+
| PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+---------------+-------------------+-------+----------+-------------+
| 172.16.91.206 | node-to-node mesh | up    | 07:49:38 | Established |
+---------------+-------------------+-------+----------+-------------+
";
        assert_eq!(render_box_table(&PEER_HEADERS, &t), want);
    }

    #[test]
    fn ipam_show_blocks() {
        let headers = ["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"];
        let t = rows(&[
            &["IP Pool", "10.65.0.0/16", "65536", "5 (0%)", "65531 (100%)"],
            &["Block", "10.65.79.0/26", "64", "5 (8%)", "59 (92%)"],
            &[
                "IP Pool",
                "10.66.0.0/16",
                "65536",
                "11 (0%)",
                "65525 (100%)",
            ],
            &["Block", "10.66.137.224/29", "8", "8 (100%)", "0 (0%)"],
            &["Block", "10.66.137.232/29", "8", "3 (38%)", "5 (62%)"],
            &[
                "IP Pool",
                "fd5f:abcd:64::/48",
                "1.2089e+24",
                "7 (0%)",
                "1.2089e+24 (100%)",
            ],
            &[
                "Block",
                "fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122",
                "64",
                "7 (11%)",
                "57 (89%)",
            ],
        ]);
        let want = "\
+----------+-------------------------------------------+------------+------------+-------------------+
| GROUPING |                   CIDR                    | IPS TOTAL  | IPS IN USE |     IPS FREE      |
+----------+-------------------------------------------+------------+------------+-------------------+
| IP Pool  | 10.65.0.0/16                              |      65536 | 5 (0%)     | 65531 (100%)      |
| Block    | 10.65.79.0/26                             |         64 | 5 (8%)     | 59 (92%)          |
| IP Pool  | 10.66.0.0/16                              |      65536 | 11 (0%)    | 65525 (100%)      |
| Block    | 10.66.137.224/29                          |          8 | 8 (100%)   | 0 (0%)            |
| Block    | 10.66.137.232/29                          |          8 | 3 (38%)    | 5 (62%)           |
| IP Pool  | fd5f:abcd:64::/48                         | 1.2089e+24 | 7 (0%)     | 1.2089e+24 (100%) |
| Block    | fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122 |         64 | 7 (11%)    | 57 (89%)          |
+----------+-------------------------------------------+------------+------------+-------------------+
";
        assert_eq!(render_box_table(&headers, &t), want);
    }

    #[test]
    fn ipam_show_configuration() {
        let t = rows(&[
            &["StrictAffinity", "false"],
            &["AutoAllocateBlocks", "true"],
            &["MaxBlocksPerHost", "0"],
            &[
                "KubeVirtVMAddressPersistence",
                "(*ipam.VMAddressPersistence)(nil)",
            ],
        ]);
        let want = "\
+------------------------------+-----------------------------------+
|           PROPERTY           |               VALUE               |
+------------------------------+-----------------------------------+
| StrictAffinity               | false                             |
| AutoAllocateBlocks           | true                              |
| MaxBlocksPerHost             |                                 0 |
| KubeVirtVMAddressPersistence | (*ipam.VMAddressPersistence)(nil) |
+------------------------------+-----------------------------------+
";
        assert_eq!(render_box_table(&["Property", "Value"], &t), want);
    }

    #[test]
    fn empty_table_keeps_all_rules() {
        let headers = [
            "IP",
            "BORROWING-NODE",
            "BLOCK",
            "BLOCK OWNER",
            "TYPE",
            "ALLOCATED-TO",
        ];
        let want = "\
+----+----------------+-------+-------------+------+--------------+
| IP | BORROWING-NODE | BLOCK | BLOCK OWNER | TYPE | ALLOCATED-TO |
+----+----------------+-------+-------------+------+--------------+
+----+----------------+-------+-------------+------+--------------+
";
        assert_eq!(render_box_table(&headers, &[]), want);
    }

    #[test]
    fn numeric_alignment_rules() {
        for s in [
            "0",
            "65536",
            "-1",
            "1,234",
            "1,234,567",
            "12.5",
            "-0.25",
            "123456",
            " 42 ",
        ] {
            assert!(is_decimal(s.trim()), "{s:?}");
        }
        for s in [
            "",
            "-",
            "1.2089e+24",
            "5 (0%)",
            "1,23",
            "1234,567",
            "1.",
            ".5",
            "1.2.3",
            "١٢",
        ] {
            assert!(!is_decimal(s.trim()), "{s:?}");
        }
    }

    #[test]
    fn header_title_formatting() {
        assert_eq!(title("Peer address"), "PEER ADDRESS");
        assert_eq!(title("ips_in_use"), "IPS IN USE");
        assert_eq!(title("v1.2"), "V1.2");
        assert_eq!(title("a.b"), "A B");
        assert_eq!(title("_"), " ");
        assert_eq!(title(""), "");
        assert_eq!(title("  x  "), "X");
        assert_eq!(title("straße"), "STRAßE");
    }

    #[test]
    fn wide_characters_and_ansi_codes() {
        let t = rows(&[&["中文", "\u{1b}[31mred\u{1b}[0m"], &["x", "é"]]);
        let want = "\
+------+-------+
| NAME | COLOR |
+------+-------+
| 中文 | \u{1b}[31mred\u{1b}[0m   |
| x    | é     |
+------+-------+
";
        assert_eq!(render_box_table(&["name", "color"], &t), want);
        assert_eq!(
            strip_ansi("a\u{1b}[1;32;40mb\u{1b}[Kc\u{1b}[1234md"),
            "abc\u{1b}[1234md"
        );
        assert_eq!(string_width("a\u{301}中😀"), 5);
    }

    #[test]
    fn long_words_and_ragged_rows() {
        // Go fills missing continuation lines with two spaces, so a
        // one-column-wide cell overflows by one; ragged rows stay ragged.
        let long = "x".repeat(35);
        let t = rows(&[&[&format!("{long} y"), "1"], &["a"], &["b", "c", "d"]]);
        let want = format!(
            "\
+-------------------------------------+---+---+
|                  H                  | N |   |
+-------------------------------------+---+---+
| {long} | 1 |
| y                                   |    |
| a                                   |
| b                                   | c | d |
+-------------------------------------+---+---+
"
        );
        assert_eq!(render_box_table(&["h", "n"], &t), want);
    }

    #[test]
    fn multi_line_cells_are_reflowed() {
        let t = rows(&[&["a\nb c", "x"]]);
        let want = "\
+-----+---+
|  H  | X |
+-----+---+
| a b | x |
| c   |    |
+-----+---+
";
        assert_eq!(render_box_table(&["h", "x"], &t), want);
    }
}
