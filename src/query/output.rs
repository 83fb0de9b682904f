//! Query results written as they stream: an aligned table, CSV, JSON lines or Parquet.

use std::io::Write;

use deltalake::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::{QueryError, classify};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table (column widths from the first rows).
    Table,
    /// CSV with a header row; arrays as `[a, b]`.
    Csv,
    /// One JSON object per row (JSON lines).
    Json,
    /// A Parquet file.
    Parquet,
}

/// Rows whose widths set a table's column widths.
const TABLE_SAMPLE_ROWS: usize = 1000;

/// Writes every batch of `stream` to `out` in `format`; returns the number of rows.
pub async fn write(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: Box<dyn Write + Send>,
) -> Result<u64, QueryError> {
    let schema = stream.schema();
    let mut sink = Writer::new(format, schema, out)?;
    while let Some(batch) = stream.next().await {
        sink.push(batch.map_err(classify)?)?;
    }
    sink.finish()
}

enum Inner {
    Table(TableWriter),
    Csv(deltalake::arrow::csv::Writer<Box<dyn Write + Send>>),
    Json(deltalake::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Parquet(deltalake::parquet::arrow::ArrowWriter<Box<dyn Write + Send>>),
}

struct Writer {
    inner: Inner,
    schema: SchemaRef,
    rows: u64,
}

fn io(e: impl std::fmt::Display) -> QueryError {
    QueryError::Run {
        message: format!("writing the result: {e}"),
        transient: false,
    }
}

impl Writer {
    fn new(
        format: Format,
        schema: SchemaRef,
        out: Box<dyn Write + Send>,
    ) -> Result<Writer, QueryError> {
        let inner = match format {
            Format::Table => Inner::Table(TableWriter::new(&schema, out)),
            Format::Csv => Inner::Csv(
                deltalake::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            Format::Json => Inner::Json(deltalake::arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => Inner::Parquet(
                deltalake::parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None)
                    .map_err(io)?,
            ),
        };
        Ok(Writer {
            inner,
            schema,
            rows: 0,
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<(), QueryError> {
        self.rows += batch.num_rows() as u64;
        match &mut self.inner {
            Inner::Table(t) => t.push(batch),
            Inner::Csv(w) => w.write(&flatten(&batch)?).map_err(io),
            Inner::Json(w) => w.write(&batch).map_err(io),
            Inner::Parquet(w) => w.write(&batch).map_err(io),
        }
    }

    fn finish(self) -> Result<u64, QueryError> {
        match self.inner {
            Inner::Table(t) => t.finish()?,
            Inner::Csv(mut w) => {
                // An empty result still gets its header row.
                if self.rows == 0 {
                    w.write(&flatten(&RecordBatch::new_empty(self.schema))?)
                        .map_err(io)?;
                }
                w.into_inner().flush().map_err(io)?
            }
            Inner::Json(mut w) => {
                w.finish().map_err(io)?;
                w.into_inner().flush().map_err(io)?;
            }
            Inner::Parquet(w) => {
                let mut out = w.into_inner().map_err(io)?;
                out.flush().map_err(io)?;
            }
        }
        Ok(self.rows)
    }
}

/// Each cell of `batch` as display text (`None` for null).
fn texts(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, QueryError> {
    let options = FormatOptions::default();
    let mut cols = Vec::with_capacity(batch.num_columns());
    for c in batch.columns() {
        let f = ArrayFormatter::try_new(c.as_ref(), &options).map_err(io)?;
        cols.push(
            (0..batch.num_rows())
                .map(|i| (!c.is_null(i)).then(|| f.value(i).to_string()))
                .collect(),
        );
    }
    Ok(cols)
}

/// `batch` with every nested column (arrays, maps, structs) as display text, which CSV can hold.
fn flatten(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    let nested = |t: &DataType| t.is_nested();
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if nested(f.data_type()) {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &options).map_err(io)?;
            let text: StringArray = (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| fmt.value(i).to_string()))
                .collect();
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            columns.push(std::sync::Arc::new(text));
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).map_err(io)
}

/// An aligned table: the first rows are held to size the columns, the rest are written as they come.
struct TableWriter {
    out: Box<dyn Write + Send>,
    header: Vec<String>,
    held: Vec<Vec<Option<String>>>,
    widths: Option<Vec<usize>>,
}

impl TableWriter {
    fn new(schema: &Schema, out: Box<dyn Write + Send>) -> TableWriter {
        TableWriter {
            out,
            header: schema.fields().iter().map(|f| f.name().clone()).collect(),
            held: Vec::new(),
            widths: None,
        }
    }

    fn push(&mut self, batch: RecordBatch) -> Result<(), QueryError> {
        let cols = texts(&batch)?;
        for i in 0..batch.num_rows() {
            let row: Vec<Option<String>> = cols.iter().map(|c| c[i].clone()).collect();
            if self.widths.is_some() {
                self.line(&row)?;
            } else {
                self.held.push(row);
                if self.held.len() >= TABLE_SAMPLE_ROWS {
                    self.start()?;
                }
            }
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), QueryError> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.held {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.as_deref().map_or(0, |c| c.chars().count()));
            }
        }
        let header: Vec<Option<String>> = self.header.iter().cloned().map(Some).collect();
        self.widths = Some(widths.clone());
        self.line(&header)?;
        let rule: Vec<Option<String>> = widths.iter().map(|w| Some("-".repeat(*w))).collect();
        self.line(&rule)?;
        for row in std::mem::take(&mut self.held) {
            self.line(&row)?;
        }
        Ok(())
    }

    fn line(&mut self, row: &[Option<String>]) -> Result<(), QueryError> {
        let widths = self.widths.as_deref().unwrap_or_default();
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| {
                let c = c.as_deref().unwrap_or("");
                let pad = w.saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        writeln!(self.out, "{}", cells.join(" | ").trim_end()).map_err(io)
    }

    fn finish(mut self) -> Result<(), QueryError> {
        if self.widths.is_none() {
            self.start()?;
        }
        self.out.flush().map_err(io)
    }
}
