//! The MERGE source of a planned content change (see [`crate::sink::plan::entities`] for the planning).

use std::sync::Arc;

use deltalake::arrow::array::{BooleanArray, RecordBatch};
use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema};

use super::cells::{Cell, to_batch};
use super::schema::TableSpec;
use crate::sink::plan::entities::FLAG_COLUMN;

/// The MERGE source of `spec`: full rows, then flag rows, plus the [`FLAG_COLUMN`].
pub(super) fn flagged_batch(
    spec: &TableSpec,
    rows: &[Vec<Cell>],
    flags: &[Vec<Cell>],
) -> Result<RecordBatch, String> {
    let all: Vec<Vec<Cell>> = rows.iter().chain(flags).cloned().collect();
    let batch = to_batch(spec, &all)?;
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(FLAG_COLUMN, ArrowType::Boolean, false));
    let flag = BooleanArray::from_iter(
        std::iter::repeat_n(Some(false), rows.len())
            .chain(std::iter::repeat_n(Some(true), flags.len())),
    );
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(flag));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}
