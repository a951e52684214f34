//! Reading an uploaded file into Arrow record batches: CSV, TSV and JSON lines with
//! their schema inferred, Parquet with its own, and Excel sheets (`excel`). Column
//! names become lower-case SQL identifiers (`Order ID` → `order_id`), so every table
//! is queryable without quoting and every Delta reader accepts its columns. A file that cannot be read
//! whole is refused with the reason and the line where it can be told; nothing of it
//! is written.

use std::{io::Cursor, sync::Arc};

use deltalake::arrow::{
    datatypes::{Field, Schema, SchemaRef},
    record_batch::RecordBatch,
};

use crate::error::LakeError;

/// Rows looked at to infer a schema.
const INFER_ROWS: usize = 1000;
const BATCH_ROWS: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Tsv,
    JsonLines,
    Parquet,
    /// An Excel workbook (.xlsx); the first sheet unless one is named.
    Excel,
}

impl FileFormat {
    /// The format a file name says, by its extension.
    pub fn from_name(file_name: &str) -> Option<FileFormat> {
        let lower = file_name.to_ascii_lowercase();
        let extension = lower.rsplit_once('.').map(|(_, ext)| ext)?;
        match extension {
            "csv" => Some(FileFormat::Csv),
            "tsv" | "tab" => Some(FileFormat::Tsv),
            "jsonl" | "ndjson" | "json" => Some(FileFormat::JsonLines),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "xlsx" => Some(FileFormat::Excel),
            _ => None,
        }
    }
}

fn invalid(message: impl Into<String>) -> LakeError {
    LakeError::invalid("file_content", message)
}

/// A column name as a lower-case SQL identifier (`Order ID` → `order_id`).
pub fn column_identifier(name: &str) -> String {
    let mut out = String::new();
    let mut last_underscore = true;
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            last_underscore = false;
        } else if !last_underscore {
            out.push('_');
            last_underscore = true;
        }
    }
    let out = out.trim_end_matches('_').to_string();
    match out.chars().next() {
        None => "column".to_string(),
        Some(c) if c.is_ascii_digit() => format!("c_{out}"),
        Some(_) => out,
    }
}

/// The batches under a schema whose names are identifiers, distinct.
fn normalized(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let mut seen = std::collections::HashSet::new();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let base = column_identifier(field.name());
            let mut name = base.clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            field.as_ref().clone().with_name(name)
        })
        .collect();
    let renamed = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .map(|batch| RecordBatch::try_new(renamed.clone(), batch.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    Ok((renamed, batches))
}

fn utf8(bytes: &[u8]) -> Result<&str, LakeError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let at = error.valid_up_to();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        invalid(format!(
            "is not UTF-8 text (an invalid byte on line {line}, at byte {at}); save it as UTF-8 and upload it again"
        ))
    })
}

fn delimited(bytes: &[u8], delimiter: u8) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    use deltalake::arrow::csv::{ReaderBuilder, reader::Format};
    let text = utf8(bytes)?;
    if text.trim().is_empty() {
        return Err(invalid("is empty"));
    }
    let format = Format::default()
        .with_header(true)
        .with_delimiter(delimiter);
    let (schema, _) = format
        .infer_schema(Cursor::new(text.as_bytes()), Some(INFER_ROWS))
        .map_err(|error| invalid(format!("cannot be read as a table: {error}")))?;
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(text.as_bytes()))
        .map_err(|error| invalid(error.to_string()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    normalized(schema, batches)
}

fn json_lines(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    use deltalake::arrow::json::{ReaderBuilder, reader::infer_json_schema};
    let text = utf8(bytes)?;
    if text.trim().is_empty() {
        return Err(invalid("is empty"));
    }
    let (schema, _) = infer_json_schema(Cursor::new(text.as_bytes()), Some(INFER_ROWS))
        .map_err(|error| invalid(format!("is not JSON lines (one object per line): {error}")))?;
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(text.as_bytes()))
        .map_err(|error| invalid(error.to_string()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    normalized(schema, batches)
}

fn parquet(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|error| invalid(format!("is not a readable Parquet file: {error}")))?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|error| invalid(format!("is not a readable Parquet file: {error}")))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("is not a readable Parquet file: {error}")))?;
    normalized(schema, batches)
}

/// Reads a whole file of `format` into batches with their schema.
pub fn read_file(
    bytes: &[u8],
    format: FileFormat,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    match format {
        FileFormat::Csv => delimited(bytes, b','),
        FileFormat::Tsv => delimited(bytes, b'\t'),
        FileFormat::JsonLines => json_lines(bytes),
        FileFormat::Parquet => parquet(bytes),
        FileFormat::Excel => read_sheet(bytes, None),
    }
}

/// Reads one sheet of an Excel workbook (the first when `sheet` is `None`).
pub fn read_sheet(
    bytes: &[u8],
    sheet: Option<&str>,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let (schema, batches) = crate::excel::read_xlsx(bytes, sheet)?;
    normalized(schema, batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_become_identifiers() {
        assert_eq!(column_identifier("Order ID"), "order_id");
        assert_eq!(column_identifier("  Total (EUR) "), "total_eur");
        assert_eq!(column_identifier("2024 sales"), "c_2024_sales");
        assert_eq!(column_identifier("***"), "column");
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(FileFormat::from_name("Orders.CSV"), Some(FileFormat::Csv));
        assert_eq!(
            FileFormat::from_name("x.ndjson"),
            Some(FileFormat::JsonLines)
        );
        assert_eq!(
            FileFormat::from_name("x.parquet"),
            Some(FileFormat::Parquet)
        );
        assert_eq!(FileFormat::from_name("x.docx"), None);
        assert_eq!(FileFormat::from_name("noextension"), None);
    }

    #[test]
    fn a_csv_is_read_with_its_types_and_bad_files_are_refused() {
        let (schema, batches) = read_file(
            b"Order ID,Amount,Paid\n1,9.5,true\n2,12.25,false\n",
            FileFormat::Csv,
        )
        .expect("csv");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["order_id", "amount", "paid"]);
        assert_eq!(schema.field(0).data_type().to_string(), "Int64");
        assert_eq!(schema.field(1).data_type().to_string(), "Float64");
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

        let ragged = read_file(b"a,b\n1,2\n3,4,5\n", FileFormat::Csv).expect_err("ragged");
        assert!(ragged.to_string().contains("line"), "{ragged}");
        let latin1 = read_file(b"name\nJos\xe9\n", FileFormat::Csv).expect_err("not utf-8");
        assert!(latin1.to_string().contains("line 2"), "{latin1}");
        let empty = read_file(b"  \n", FileFormat::Csv).expect_err("empty");
        assert!(empty.to_string().contains("empty"));
        let corrupt =
            read_file(b"PAR1 not really parquet", FileFormat::Parquet).expect_err("corrupt");
        assert!(corrupt.to_string().contains("Parquet"), "{corrupt}");
        let (_, rows) = read_file(
            b"{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": null}\n",
            FileFormat::JsonLines,
        )
        .expect("json lines");
        assert_eq!(rows[0].num_rows(), 2);
    }
}
