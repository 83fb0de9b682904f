//! Delta columns of the bronze tables (the specs themselves are sink-neutral: [`crate::sink::spec`]).

use deltalake::kernel::{DataType, PrimitiveType, StructField};

pub use crate::sink::spec::*;

/// The Delta type of a column kind.
fn delta_type(kind: Kind) -> DataType {
    DataType::Primitive(match kind {
        Kind::Str => PrimitiveType::String,
        Kind::Ts => PrimitiveType::Timestamp,
        Kind::Bool => PrimitiveType::Boolean,
        Kind::I64 => PrimitiveType::Long,
    })
}

/// The Delta columns of a table.
pub fn delta_fields(spec: &TableSpec) -> Vec<StructField> {
    spec.columns
        .iter()
        .map(|c| StructField::new(c.name, delta_type(c.kind), c.nullable))
        .collect()
}
