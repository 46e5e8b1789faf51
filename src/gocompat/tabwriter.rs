//! Go `text/tabwriter` as configured by calicoctl's `ps`/`wide`/
//! `custom-columns` tables: `tabwriter.NewWriter(out, 5, 0, 3, ' ', 0)`.
//!
//! calicoctl terminates every cell (including the last one of a line) with a
//! tab, so every cell is padded and lines carry trailing spaces. Column
//! widths are computed per *column block* (a run of consecutive lines that
//! all have that column), exactly like Go, so ragged rows and cell text that
//! itself contains tabs or newlines lay out identically.

/// Minimum column width (`minwidth`).
const MIN_WIDTH: usize = 5;
/// Padding added to the widest cell of a column (`padding`).
const PADDING: usize = 3;

/// Lays out `rows` the way calicoctl's tabwriter does: each cell is written
/// followed by a tab and each row by a newline, then the text is aligned.
pub fn tabwriter(rows: &[Vec<String>]) -> String {
    let mut text = String::new();
    for row in rows {
        for cell in row {
            text.push_str(cell);
            text.push('\t');
        }
        text.push('\n');
    }
    tabwrite_text(&text)
}

/// One cell: its text and its width in Unicode code points.
struct Cell<'a> {
    text: &'a str,
    width: usize,
}

/// Aligns raw tabwriter input (`\t`/`\v` end cells, `\n`/`\f` end lines, a
/// `\f` also ends the current alignment section) and flushes it.
fn tabwrite_text(text: &str) -> String {
    let mut out = String::new();
    let mut section: Vec<Vec<Cell>> = Vec::new();
    let mut line: Vec<Cell> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if !matches!(c, '\t' | '\u{b}' | '\n' | '\u{c}') {
            continue;
        }
        let cell = &text[start..i];
        line.push(Cell {
            text: cell,
            width: cell.chars().count(),
        });
        start = i + c.len_utf8();
        if c == '\n' || c == '\u{c}' {
            section.push(std::mem::take(&mut line));
            if c == '\u{c}' {
                format_section(&section, false, &mut out);
                section.clear();
            }
        }
    }
    // Whatever follows the last newline is a final line written without a
    // newline of its own (empty for calicoctl's input).
    let rest = &text[start..];
    line.push(Cell {
        text: rest,
        width: rest.chars().count(),
    });
    section.push(line);
    format_section(&section, true, &mut out);
    out
}

/// Number of tab-terminated (column) cells of a line; the last cell of every
/// line is the text after its final tab and belongs to no column.
fn columns(line: &[Cell]) -> usize {
    line.len().saturating_sub(1)
}

/// Per-line column widths: each column block (maximal run of consecutive
/// lines having that column) shares `max(minwidth, widest + padding)`.
fn column_widths(lines: &[Vec<Cell>]) -> Vec<Vec<usize>> {
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; columns(l)]).collect();
    let max_cols = lines.iter().map(|l| columns(l)).max().unwrap_or(0);
    for col in 0..max_cols {
        let mut i = 0;
        while i < lines.len() {
            if columns(&lines[i]) <= col {
                i += 1;
                continue;
            }
            let block_start = i;
            let mut width = MIN_WIDTH;
            while i < lines.len() && columns(&lines[i]) > col {
                width = width.max(lines[i][col].width + PADDING);
                i += 1;
            }
            for w in &mut widths[block_start..i] {
                w[col] = width;
            }
        }
    }
    widths
}

/// Writes the lines of a section; each but the final pending line of the
/// whole input (which has no newline yet) is followed by a newline.
fn format_section(lines: &[Vec<Cell>], pending_last: bool, out: &mut String) {
    let widths = column_widths(lines);
    let n = lines.len();
    for (i, (line, w)) in lines.iter().zip(&widths).enumerate() {
        write_line(line, w, out);
        if !(pending_last && i + 1 == n) {
            out.push('\n');
        }
    }
}

/// Writes one line: column cells left-aligned and space-padded, the final
/// cell verbatim.
fn write_line(line: &[Cell], widths: &[usize], out: &mut String) {
    for (j, cell) in line.iter().enumerate() {
        out.push_str(cell.text);
        if let Some(&w) = widths.get(j) {
            for _ in cell.width..w {
                out.push(' ');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn ippool_ps_table() {
        let t = rows(&[
            &["NAME", "CIDR", "SELECTOR"],
            &["default-ipv4-ippool", "192.168.0.0/16", "all()"],
        ]);
        assert_eq!(
            tabwriter(&t),
            "NAME                  CIDR             SELECTOR   \n\
             default-ipv4-ippool   192.168.0.0/16   all()      \n"
        );
    }

    #[test]
    fn ippool_wide_table() {
        let t = rows(&[
            &[
                "NAME",
                "CIDR",
                "NAT",
                "IPIPMODE",
                "VXLANMODE",
                "DISABLED",
                "DISABLEBGPEXPORT",
                "SELECTOR",
                "ASSIGNMENTMODE",
            ],
            &[
                "default-ipv4-ippool",
                "192.168.0.0/16",
                "true",
                "Always",
                "Never",
                "false",
                "false",
                "all()",
                "Automatic",
            ],
        ]);
        assert_eq!(
            tabwriter(&t),
            "NAME                  CIDR             NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   ASSIGNMENTMODE   \n\
             default-ipv4-ippool   192.168.0.0/16   true   Always     Never       false      false              all()      Automatic        \n"
        );
    }

    #[test]
    fn nodes_wide_with_empty_cells() {
        let t = rows(&[
            &["NAME", "ASN", "IPV4", "IPV6"],
            &["node1", "(64512)", "10.0.0.1/24", ""],
            &["node2", "65001", "10.0.0.2/24", "fd00::2/64"],
        ]);
        assert_eq!(
            tabwriter(&t),
            "NAME    ASN       IPV4          IPV6         \n\
             node1   (64512)   10.0.0.1/24                \n\
             node2   65001     10.0.0.2/24   fd00::2/64   \n"
        );
    }

    #[test]
    fn header_only_table_uses_min_width() {
        let t = rows(&[&["NAME", "CIDR", "SELECTOR"]]);
        assert_eq!(tabwriter(&t), "NAME   CIDR   SELECTOR   \n");
        assert_eq!(tabwriter(&rows(&[&["A", ""]])), "A         \n");
    }

    #[test]
    fn widths_count_code_points() {
        let t = rows(&[&["NAME", "X"], &["näme-ü", "中文"]]);
        assert_eq!(tabwriter(&t), "NAME     X    \nnäme-ü   中文   \n");
    }

    #[test]
    fn empty_input_and_empty_rows() {
        assert_eq!(tabwriter(&[]), "");
        assert_eq!(tabwriter(&rows(&[&[]])), "\n");
        let t = rows(&[&["aaaaaaaa", "b"], &[], &["c", "d"]]);
        assert_eq!(tabwriter(&t), "aaaaaaaa   b    \n\nc    d    \n");
    }

    #[test]
    fn ragged_rows_use_column_blocks() {
        let t = rows(&[
            &["a", "bbbbbbbbbb", "c"],
            &["dddddddd", "e"],
            &["f"],
            &["g", "h", "iiiiiiiiiiii"],
        ]);
        assert_eq!(
            tabwriter(&t),
            "a          bbbbbbbbbb   c    \n\
             dddddddd   e            \n\
             f          \n\
             g          h    iiiiiiiiiiii   \n"
        );
    }

    #[test]
    fn embedded_tabs_and_newlines_behave_like_go() {
        let t = rows(&[&["a\tb", "c"], &["dd\nee", "f"]]);
        assert_eq!(
            tabwriter(&t),
            "a    b    c    \n\
             dd\n\
             ee   f    \n"
        );
        let t = rows(&[&["x\u{c}yyyyyyy", "z"], &["w", "v"]]);
        assert_eq!(tabwriter(&t), "x\nyyyyyyy   z    \nw         v    \n");
        let t = rows(&[&["a\u{b}b", "c"], &["a\rb", "c"]]);
        assert_eq!(tabwriter(&t), "a     b    c    \na\rb   c    \n");
    }
}
