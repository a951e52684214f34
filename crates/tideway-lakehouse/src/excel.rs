//! Reading an Excel workbook (.xlsx) sheet into Arrow: the first row names the
//! columns, each column's type is what all its cells agree on (whole numbers, numbers,
//! booleans, date-times, else text), and empty cells are nulls. A sheet with merged
//! cells is refused, naming them: a merged block has one value for many rows, and
//! guessing which rows it means would make up data. So is a cell holding an error
//! (`#DIV/0!`), with its address.

use std::{io::Cursor, sync::Arc};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use deltalake::arrow::{
    array::{
        ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
        TimestampMicrosecondBuilder,
    },
    datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit},
    record_batch::RecordBatch,
};

use crate::error::LakeError;

fn invalid(message: impl Into<String>) -> LakeError {
    LakeError::invalid("file_content", message)
}

/// `A1`-style address of a zero-based cell.
fn address(row: u32, column: u32) -> String {
    let mut letters = String::new();
    let mut n = column + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.insert(0, (b'A' + rem) as char);
        n = (n - 1) / 26;
    }
    format!("{letters}{}", row + 1)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    DateTime,
    Text,
}

fn kind_of(cell: &Data) -> Option<Kind> {
    match cell {
        Data::Empty => None,
        Data::Int(_) => Some(Kind::Int),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Kind::Int),
        Data::Float(_) => Some(Kind::Float),
        Data::Bool(_) => Some(Kind::Bool),
        Data::DateTime(_) => Some(Kind::DateTime),
        _ => Some(Kind::Text),
    }
}

fn merge(a: Option<Kind>, b: Kind) -> Kind {
    match (a, b) {
        (None, b) => b,
        (Some(a), b) if a == b => a,
        (Some(Kind::Int), Kind::Float) | (Some(Kind::Float), Kind::Int) => Kind::Float,
        _ => Kind::Text,
    }
}

fn text(cell: &Data) -> Option<String> {
    match cell {
        Data::Empty => None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(format!("{}", *f as i64)),
        Data::Float(f) => Some(f.to_string()),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => d
            .as_datetime()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Data::Error(e) => Some(e.to_string()),
    }
}

/// The sheet named `sheet` (the first when `None`) as batches with their schema.
pub fn read_xlsx(
    bytes: &[u8],
    sheet: Option<&str>,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|error| invalid(format!("is not a readable .xlsx workbook: {error}")))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                LakeError::invalid(
                    "sheet",
                    format!("no sheet '{wanted}'; the workbook has {}", names.join(", ")),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| invalid("has no sheets"))?,
    };
    let merged = workbook
        .merge_cells_by_sheet_name(&name)
        .map_err(|error| invalid(format!("sheet '{name}' cannot be read: {error}")))?;
    if !merged.is_empty() {
        let blocks: Vec<String> = merged
            .iter()
            .take(10)
            .map(|d| {
                format!(
                    "{}:{}",
                    address(d.start.0, d.start.1),
                    address(d.end.0, d.end.1)
                )
            })
            .collect();
        return Err(invalid(format!(
            "sheet '{name}' has merged cells ({}); a merged block holds one value for several rows or columns, so unmerge them (filling in the values) and upload again",
            blocks.join(", ")
        )));
    }
    let range = workbook
        .worksheet_range(&name)
        .map_err(|error| invalid(format!("sheet '{name}' cannot be read: {error}")))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut rows = range.rows();
    let Some(header) = rows.next() else {
        return Err(invalid(format!("sheet '{name}' is empty")));
    };
    let width = header.len();
    let body: Vec<&[Data]> = rows.collect();
    let mut kinds: Vec<Option<Kind>> = vec![None; width];
    for (r, row) in body.iter().enumerate() {
        for (c, cell) in row.iter().enumerate().take(width) {
            if let Data::Error(error) = cell {
                return Err(invalid(format!(
                    "cell {} of sheet '{name}' holds an error ({error}); fix it and upload again",
                    address(top + r as u32 + 1, left + c as u32)
                )));
            }
            if let Some(kind) = kind_of(cell) {
                kinds[c] = Some(merge(kinds[c], kind));
            }
        }
    }
    let mut fields = Vec::with_capacity(width);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(width);
    for (c, title) in header.iter().enumerate() {
        let title = text(title).unwrap_or_else(|| format!("column_{}", c + 1));
        let cells = body.iter().map(|row| row.get(c).unwrap_or(&Data::Empty));
        let (data_type, array): (DataType, ArrayRef) = match kinds[c].unwrap_or(Kind::Text) {
            Kind::Int => {
                let mut b = Int64Builder::with_capacity(body.len());
                for cell in cells {
                    b.append_option(match cell {
                        Data::Int(i) => Some(*i),
                        Data::Float(f) => Some(*f as i64),
                        _ => None,
                    });
                }
                (DataType::Int64, Arc::new(b.finish()))
            }
            Kind::Float => {
                let mut b = Float64Builder::with_capacity(body.len());
                for cell in cells {
                    b.append_option(match cell {
                        Data::Int(i) => Some(*i as f64),
                        Data::Float(f) => Some(*f),
                        _ => None,
                    });
                }
                (DataType::Float64, Arc::new(b.finish()))
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::with_capacity(body.len());
                for cell in cells {
                    b.append_option(match cell {
                        Data::Bool(v) => Some(*v),
                        _ => None,
                    });
                }
                (DataType::Boolean, Arc::new(b.finish()))
            }
            Kind::DateTime => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(body.len());
                for cell in cells {
                    b.append_option(match cell {
                        Data::DateTime(d) => {
                            d.as_datetime().map(|t| t.and_utc().timestamp_micros())
                        }
                        _ => None,
                    });
                }
                (
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    Arc::new(b.finish()),
                )
            }
            Kind::Text => {
                let mut b = StringBuilder::new();
                for cell in cells {
                    b.append_option(text(cell));
                }
                (DataType::Utf8, Arc::new(b.finish()))
            }
        };
        fields.push(Field::new(title, data_type, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|error| invalid(error.to_string()))?;
    Ok((schema, vec![batch]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_spreadsheet_style() {
        assert_eq!(super::address(0, 0), "A1");
        assert_eq!(super::address(4, 25), "Z5");
        assert_eq!(super::address(9, 26), "AA10");
    }
}
