//! Column alignment shared by the tree and the tables. Widths are measured on the plain text,
//! never on the coloured text, so columns line up the same with and without colour (the bug
//! Argo works around by colouring every cell). A width is the text's display width, so wide
//! glyphs (CJK, emoji) count two columns and still line up, where Go's tabwriter (and so
//! Argo) counts characters; columns are separated by two spaces.

const GAP: usize = 2;

/// One table cell: what it says, and how it is printed (possibly with colour codes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    plain: String,
    styled: String,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            styled: text.clone(),
            plain: text,
        }
    }

    /// A cell printed as `styled` but measured as `plain`.
    pub fn styled(plain: impl Into<String>, styled: impl Into<String>) -> Cell {
        Cell {
            plain: plain.into(),
            styled: styled.into(),
        }
    }

    pub fn width(&self) -> usize {
        unicode_width::UnicodeWidthStr::width(self.plain.as_str())
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::plain(text)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::plain(text)
    }
}

/// Per-column widths: the widest cell, but at least `minimums[i]`.
pub fn widths(rows: &[Vec<Cell>], minimums: &[usize]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|i| {
            let widest = rows
                .iter()
                .filter_map(|row| row.get(i))
                .map(Cell::width)
                .max()
                .unwrap_or(0);
            widest.max(minimums.get(i).copied().unwrap_or(0))
        })
        .collect()
}

/// One line, padded to `widths`; trailing blank cells and padding are left out.
pub fn line(row: &[Cell], widths: &[usize]) -> String {
    let last = row.iter().rposition(|c| !c.plain.is_empty()).unwrap_or(0);
    let mut out = String::new();
    for (i, cell) in row.iter().enumerate().take(last + 1) {
        out.push_str(&cell.styled);
        if i < last {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.width()) + GAP;
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    out
}

/// All rows aligned, one line each, each ending with a newline.
pub fn render(rows: &[Vec<Cell>], minimums: &[usize]) -> String {
    let widths = widths(rows, minimums);
    rows.iter().map(|row| line(row, &widths) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_by_plain_width_and_trims_the_end() {
        let rows = vec![
            vec![Cell::plain("NAME"), Cell::plain("KIND"), Cell::plain("")],
            vec![
                Cell::styled("⧉ web", "\u{1b}[32m⧉ web\u{1b}[0m"),
                Cell::plain("ReplicaSet"),
                Cell::plain(""),
            ],
        ];
        let text = render(&rows, &[0, 11]);
        assert_eq!(text, "NAME   KIND\n\u{1b}[32m⧉ web\u{1b}[0m  ReplicaSet\n");
    }

    #[test]
    fn wide_glyphs_take_two_columns() {
        let rows = vec![
            vec![Cell::plain("NAME"), Cell::plain("STATUS")],
            vec![Cell::plain("ウェブ"), Cell::plain("✔ Healthy")],
            vec![Cell::plain("🚀 api"), Cell::plain("◌ Progressing")],
            vec![Cell::plain("web"), Cell::plain("⚠ Degraded")],
        ];
        let text = render(&rows, &[0, 0]);
        let column = |line: &str| {
            let status = line.find(['S', '✔', '◌', '⚠']).unwrap();
            unicode_width::UnicodeWidthStr::width(&line[..status])
        };
        let columns: Vec<usize> = text.lines().map(column).collect();
        assert_eq!(columns, [8, 8, 8, 8], "{text}");
    }
}
