//! Rows as cells, and cells ↔ Arrow record batches, for any [`TableSpec`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::cast;

use super::spec::{Kind, TableSpec};

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Str(Option<String>),
    /// Timestamp.
    Ts(Option<DateTime<Utc>>),
    /// Boolean.
    Bool(Option<bool>),
    /// Integer.
    I64(Option<i64>),
}

impl Cell {
    /// Text value ("" for null or another type).
    pub fn text(&self) -> String {
        match self {
            Cell::Str(Some(s)) => s.clone(),
            _ => String::new(),
        }
    }

    /// Optional text.
    pub fn opt_text(&self) -> Option<String> {
        match self {
            Cell::Str(s) => s.clone(),
            _ => None,
        }
    }

    /// Optional timestamp.
    pub fn ts(&self) -> Option<DateTime<Utc>> {
        match self {
            Cell::Ts(t) => *t,
            _ => None,
        }
    }

    /// Boolean (false for null).
    pub fn flag(&self) -> bool {
        matches!(self, Cell::Bool(Some(true)))
    }

    /// Integer (0 for null).
    pub fn int(&self) -> i64 {
        match self {
            Cell::I64(Some(n)) => *n,
            _ => 0,
        }
    }
}

/// Builds one record batch with the table's Arrow schema. Each row must list every column in order.
pub fn to_batch(spec: &TableSpec, rows: &[Vec<Cell>]) -> Result<RecordBatch, String> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(spec.columns.len());
    for (i, col) in spec.columns.iter().enumerate() {
        let cell = |r: &Vec<Cell>| r.get(i).cloned();
        let array: ArrayRef = match col.kind {
            Kind::Str => Arc::new(StringArray::from_iter(rows.iter().map(|r| match cell(r) {
                Some(Cell::Str(s)) => s,
                _ => None,
            }))),
            Kind::Ts => Arc::new(
                TimestampMicrosecondArray::from_iter(rows.iter().map(|r| match cell(r) {
                    Some(Cell::Ts(t)) => t.map(|t| t.timestamp_micros()),
                    _ => None,
                }))
                .with_timezone("UTC"),
            ),
            Kind::Bool => Arc::new(BooleanArray::from_iter(rows.iter().map(|r| {
                match cell(r) {
                    Some(Cell::Bool(b)) => b,
                    _ => None,
                }
            }))),
            Kind::I64 => Arc::new(Int64Array::from_iter(rows.iter().map(|r| match cell(r) {
                Some(Cell::I64(n)) => n,
                _ => None,
            }))),
        };
        if !col.nullable && array.null_count() > 0 {
            return Err(format!("{}.{} must not be null", spec.name, col.name));
        }
        arrays.push(array);
    }
    RecordBatch::try_new(spec.arrow_schema(), arrays).map_err(|e| e.to_string())
}

/// Reads rows back from batches scanned from a table (any string/dictionary/view encoding), for the named
/// columns of `spec` (all when `columns` is `None`), in that order.
pub fn from_batches(
    spec: &TableSpec,
    columns: Option<&[&str]>,
    batches: &[RecordBatch],
) -> Result<Vec<Vec<Cell>>, String> {
    let wanted: Vec<_> = match columns {
        Some(names) => names
            .iter()
            .map(|n| {
                spec.columns
                    .iter()
                    .find(|c| c.name == *n)
                    .copied()
                    .ok_or_else(|| format!("{} has no column {n}", spec.name))
            })
            .collect::<Result<_, _>>()?,
        None => spec.columns.to_vec(),
    };
    let mut rows = Vec::new();
    for batch in batches {
        let mut cols = Vec::with_capacity(wanted.len());
        for col in &wanted {
            let raw = batch
                .column_by_name(col.name)
                .ok_or_else(|| format!("{} scan lacks column {}", spec.name, col.name))?;
            cols.push(
                cast(raw, &col.kind.arrow())
                    .map_err(|e| format!("{}.{}: {e}", spec.name, col.name))?,
            );
        }
        for row in 0..batch.num_rows() {
            let mut out = Vec::with_capacity(wanted.len());
            for (col, array) in wanted.iter().zip(&cols) {
                let null = array.is_null(row);
                out.push(match col.kind {
                    Kind::Str => Cell::Str((!null).then(|| {
                        array
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .map(|a| a.value(row).to_string())
                            .unwrap_or_default()
                    })),
                    Kind::Ts => Cell::Ts((!null).then(|| {
                        let micros = array
                            .as_any()
                            .downcast_ref::<TimestampMicrosecondArray>()
                            .map(|a| a.value(row))
                            .unwrap_or_default();
                        DateTime::from_timestamp_micros(micros).unwrap_or_default()
                    })),
                    Kind::Bool => Cell::Bool((!null).then(|| {
                        array
                            .as_any()
                            .downcast_ref::<BooleanArray>()
                            .is_some_and(|a| a.value(row))
                    })),
                    Kind::I64 => Cell::I64((!null).then(|| {
                        array
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .map(|a| a.value(row))
                            .unwrap_or_default()
                    })),
                });
            }
            rows.push(out);
        }
    }
    Ok(rows)
}
