//! Values longer than the value cap are cut, and the cut cells are listed, so one
//! huge value can neither fill the server's memory nor a model's context.
//!
//! The drivers read a row whole before Tideway sees it, so a cap applied after
//! reading comes too late for a 200 MB value. On PostgreSQL a plain query is
//! therefore wrapped, after the server has described its columns, so that the server
//! itself sends a value only when it fits and otherwise its first part:
//!
//! ```sql
//! SELECT c1, CASE WHEN octet_length(c2) <= $cap THEN c2 END,
//!            CASE WHEN octet_length(c2) > $cap THEN left(c2, $cap) END
//! FROM (<the query>) AS tideway_q(c1, c2)
//! ```
//!
//! Fixed-size types are passed through. MySQL bounds every row by its
//! `max_allowed_packet` and SQLite's connections are opened with a length limit, so
//! on those a value is cut after it is read, from a size the server already bounds.

use serde_json::Value;

use super::{
    engine::Output,
    model::{CutCell, ResultColumn},
};

/// PostgreSQL types whose values are small by construction.
const FIXED_SIZE: &[&str] = &[
    "BOOL",
    "INT2",
    "INT4",
    "INT8",
    "FLOAT4",
    "FLOAT8",
    "NUMERIC",
    "DATE",
    "TIME",
    "TIMETZ",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "INTERVAL",
    "UUID",
    "MONEY",
    "OID",
    "INET",
    "CIDR",
    "MACADDR",
    "MACADDR8",
    "CHAR",
    "VOID",
];

/// Text types whose `octet_length` the server knows without converting them.
const TEXT: &[&str] = &["TEXT", "VARCHAR", "BPCHAR", "NAME"];

/// Where one original column's value is in the wrapped query's row.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Whole(usize),
    /// The value when it fits, else NULL; and its first part when it does not.
    Capped {
        value: usize,
        prefix: usize,
    },
}

/// A PostgreSQL query wrapped so the server cuts long values.
#[derive(Debug)]
pub struct Wrapped {
    pub sql: String,
    slots: Vec<Slot>,
    columns: Vec<ResultColumn>,
}

/// Wraps `statement` (exactly one plain query, as the guard found it) whose result
/// has `columns`; `None` when every column is of a fixed-size type.
pub fn wrap_postgres(
    statement: &str,
    columns: &[ResultColumn],
    max_value_bytes: usize,
) -> Option<Wrapped> {
    if columns
        .iter()
        .all(|column| FIXED_SIZE.contains(&column.type_name.as_str()))
    {
        return None;
    }
    let cap = max_value_bytes.max(1);
    let mut select = Vec::new();
    let mut slots = Vec::new();
    for (index, column) in columns.iter().enumerate() {
        let name = format!("c{}", index + 1);
        let type_name = column.type_name.as_str();
        if FIXED_SIZE.contains(&type_name) {
            slots.push(Slot::Whole(select.len()));
            select.push(name);
            continue;
        }
        let (length, prefix) = if TEXT.contains(&type_name) {
            (
                format!("octet_length({name})"),
                format!("left({name}, {cap})"),
            )
        } else if type_name == "BYTEA" {
            (
                format!("octet_length({name})"),
                format!("substring({name} FROM 1 FOR {cap})"),
            )
        } else {
            (
                format!("octet_length({name}::text)"),
                format!("left({name}::text, {cap})"),
            )
        };
        slots.push(Slot::Capped {
            value: select.len(),
            prefix: select.len() + 1,
        });
        select.push(format!("CASE WHEN {length} <= {cap} THEN {name} END"));
        select.push(format!("CASE WHEN {length} > {cap} THEN {prefix} END"));
    }
    let aliases = (1..=columns.len())
        .map(|index| format!("c{index}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The query ends on a line of its own: a trailing `--` comment must not swallow
    // the closing parenthesis.
    let sql = format!(
        "SELECT {} FROM (\n{statement}\n) AS tideway_q({aliases})",
        select.join(", ")
    );
    Some(Wrapped {
        sql,
        slots,
        columns: columns.to_vec(),
    })
}

impl Wrapped {
    /// Turns the wrapped query's rows back into the original columns, listing the
    /// cells whose value was cut.
    pub fn unwrap(&self, output: &mut Output) {
        output.columns = self.columns.clone();
        // Cells cut while reading name columns of the wrapper; name the originals.
        let read_cuts = std::mem::take(&mut output.cut);
        for cell in read_cuts {
            let original = self.slots.iter().position(|slot| match *slot {
                Slot::Whole(index) => index == cell.column,
                Slot::Capped { value, prefix } => value == cell.column || prefix == cell.column,
            });
            if let Some(column) = original {
                output.cut.push(CutCell {
                    row: cell.row,
                    column,
                });
            }
        }
        for (row_index, row) in output.rows.iter_mut().enumerate() {
            let mut wrapped = std::mem::take(row);
            let mut original = Vec::with_capacity(self.slots.len());
            for (column, slot) in self.slots.iter().enumerate() {
                let value = match *slot {
                    Slot::Whole(index) => take(&mut wrapped, index),
                    Slot::Capped { value, prefix } => match take(&mut wrapped, prefix) {
                        Value::Null => take(&mut wrapped, value),
                        first_part => {
                            output.cut.push(CutCell {
                                row: row_index,
                                column,
                            });
                            first_part
                        }
                    },
                };
                original.push(value);
            }
            *row = original;
        }
    }
}

fn take(values: &mut [Value], index: usize) -> Value {
    values
        .get_mut(index)
        .map(Value::take)
        .unwrap_or(Value::Null)
}

/// Cuts, after reading, every value whose text is longer than `max_value_bytes`
/// (values a server-side wrapper already cut are short by now).
pub fn cut_long_values(output: &mut Output, max_value_bytes: usize) {
    for (row_index, row) in output.rows.iter_mut().enumerate() {
        cut_row(row, row_index, max_value_bytes, &mut output.cut);
    }
    output.cut.sort_by_key(|cell| (cell.row, cell.column));
}

/// Cuts the values of one row longer than `max_value_bytes`, as the row is read (so
/// a long value is not held while the rest of the result streams in), noting each.
pub fn cut_row(
    row: &mut [Value],
    row_index: usize,
    max_value_bytes: usize,
    cut: &mut Vec<CutCell>,
) {
    for (column, value) in row.iter_mut().enumerate() {
        let text = match value {
            Value::String(text) if text.len() > max_value_bytes => std::mem::take(text),
            Value::Array(_) | Value::Object(_) => {
                let text = value.to_string();
                if text.len() <= max_value_bytes {
                    continue;
                }
                text
            }
            _ => continue,
        };
        *value = Value::String(prefix(&text, max_value_bytes).to_string());
        if !cut
            .iter()
            .any(|cell| cell.row == row_index && cell.column == column)
        {
            cut.push(CutCell {
                row: row_index,
                column,
            });
        }
    }
}

/// The longest prefix of `text` of at most `bytes` bytes that ends on a character.
fn prefix(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(name: &str, type_name: &str) -> ResultColumn {
        ResultColumn {
            name: name.into(),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn only_variable_length_columns_are_wrapped() {
        let fixed = [column("id", "INT8"), column("at", "TIMESTAMPTZ")];
        assert!(wrap_postgres("SELECT 1, now()", &fixed, 100).is_none());
        let mixed = [
            column("id", "INT8"),
            column("name", "TEXT"),
            column("doc", "JSONB"),
            column("raw", "BYTEA"),
        ];
        let wrapped = wrap_postgres("SELECT * FROM t -- note", &mixed, 100).expect("wrapped");
        assert!(wrapped.sql.contains("octet_length(c2) <= 100"));
        assert!(wrapped.sql.contains("octet_length(c3::text) > 100"));
        assert!(wrapped.sql.contains("substring(c4 FROM 1 FOR 100)"));
        assert!(
            wrapped
                .sql
                .contains("-- note\n) AS tideway_q(c1, c2, c3, c4)")
        );
    }

    #[test]
    fn a_cut_cell_holds_the_first_part_and_is_listed() {
        let columns = [column("id", "INT8"), column("name", "TEXT")];
        let wrapped = wrap_postgres("SELECT id, name FROM t", &columns, 4).expect("wrapped");
        let mut output = Output {
            columns: vec![],
            rows: vec![
                vec![json!(1), json!("abc"), Value::Null],
                vec![json!(2), Value::Null, json!("abcd")],
                vec![json!(3), Value::Null, Value::Null],
            ],
            truncated: false,
            rows_affected: None,
            cut: vec![],
        };
        wrapped.unwrap(&mut output);
        assert_eq!(output.columns[1].name, "name");
        assert_eq!(
            output.rows,
            vec![
                vec![json!(1), json!("abc")],
                vec![json!(2), json!("abcd")],
                vec![json!(3), Value::Null],
            ]
        );
        assert_eq!(output.cut, vec![CutCell { row: 1, column: 1 }]);
    }

    #[test]
    fn values_read_whole_are_cut_on_a_character_boundary() {
        let mut output = Output {
            columns: vec![column("a", "TEXT"), column("b", "JSON")],
            rows: vec![vec![json!("ééééé"), json!({"k": "vvvvvvvv"})]],
            truncated: false,
            rows_affected: None,
            cut: vec![],
        };
        cut_long_values(&mut output, 5);
        assert_eq!(output.rows[0][0], json!("éé"));
        assert_eq!(output.rows[0][1], json!("{\"k\":"));
        assert_eq!(output.cut.len(), 2);
    }
}
