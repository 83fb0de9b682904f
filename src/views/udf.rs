//! The DataFusion functions the DataFusion views call: `notion_<kind>(properties, ids, type, key...)` reads
//! the property with one of those ids (separated by spaces, which URL-encoded ids never hold) and that type from a page's `properties` text, walks the keys and returns the value
//! typed as its [`Kind`] says (the same rules the PostgreSQL and Databricks views spell out in SQL).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};
use deltalake::datafusion::common::{Result, ScalarValue, exec_err};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::datafusion::prelude::SessionContext;
use serde_json::Value;

use super::columns::{Kind, lookup};

/// Every kind, with its function's name.
pub const FUNCTIONS: &[(&str, Kind)] = &[
    ("notion_text", Kind::Text),
    ("notion_number", Kind::Number),
    ("notion_bool", Kind::Bool),
    ("notion_str", Kind::Str),
    ("notion_ts", Kind::Ts),
    ("notion_names", Kind::Names),
    ("notion_ids", Kind::Ids),
    ("notion_unique_id", Kind::UniqueId),
    ("notion_json", Kind::Json),
];

/// The name of `kind`'s function.
pub fn function(kind: Kind) -> &'static str {
    FUNCTIONS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("notion_json", |(n, _)| n)
}

/// Registers every `notion_*` function in `ctx`.
pub fn register(ctx: &SessionContext) {
    for (name, kind) in FUNCTIONS {
        ctx.register_udf(ScalarUDF::new_from_impl(NotionFn {
            name,
            kind: *kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }));
    }
}

/// The Arrow type of a kind's cells.
pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Number => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Names | Kind::Ids => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        }
        Kind::Text | Kind::Str | Kind::UniqueId | Kind::Json => DataType::Utf8,
    }
}

/// An ISO 8601 text as microseconds since the epoch: with an offset as given, without one as UTC, a date
/// alone at midnight UTC.
pub fn parse_ts(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// A rich-text array's plain text.
pub fn plain_text(items: &[Value]) -> String {
    items
        .iter()
        .filter_map(|i| i["plain_text"].as_str())
        .collect()
}

/// A unique id's display form.
pub fn unique_id(v: &Value) -> Option<String> {
    let n = v.get("number").filter(|n| n.is_number())?;
    Some(match v["prefix"].as_str().filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}-{n}"),
        None => n.to_string(),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NotionFn {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

/// One kind's column being built.
enum Builder {
    Str(StringBuilder),
    Number(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>, &'static str),
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Builder {
        match kind {
            Kind::Number => Builder::Number(Float64Builder::with_capacity(rows)),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::Ts => {
                Builder::Ts(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
            Kind::Names => Builder::List(ListBuilder::new(StringBuilder::new()), "name"),
            Kind::Ids => Builder::List(ListBuilder::new(StringBuilder::new()), "id"),
            Kind::Text | Kind::Str | Kind::UniqueId | Kind::Json => {
                Builder::Str(StringBuilder::with_capacity(rows, rows * 16))
            }
        }
    }

    fn push(&mut self, kind: Kind, v: Option<Value>) {
        match self {
            Builder::Number(b) => b.append_option(v.and_then(|v| v.as_f64())),
            Builder::Bool(b) => b.append_option(v.and_then(|v| v.as_bool())),
            Builder::Ts(b) => {
                b.append_option(v.as_ref().and_then(Value::as_str).and_then(parse_ts))
            }
            Builder::List(b, key) => match v {
                Some(Value::Array(items)) => {
                    for i in &items {
                        b.values().append_option(i[*key].as_str());
                    }
                    b.append(true);
                }
                _ => b.append(false),
            },
            Builder::Str(b) => b.append_option(match (kind, v) {
                (Kind::Text, Some(Value::Array(items))) => Some(plain_text(&items)),
                (Kind::Str, Some(Value::String(s))) => Some(s),
                (Kind::UniqueId, Some(v)) => unique_id(&v),
                (Kind::Json, Some(v)) if !v.is_null() => Some(v.to_string()),
                _ => None,
            }),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Str(mut b) => Arc::new(b.finish()),
            Builder::Number(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Ts(mut b) => Arc::new(b.finish()),
            Builder::List(mut b, _) => Arc::new(b.finish()),
        }
    }
}

fn literal(v: &ColumnarValue) -> Option<&str> {
    match v {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Some(s),
        _ => None,
    }
}

impl ScalarUDFImpl for NotionFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(data_type(self.kind))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some((props, rest)) = args.args.split_first() else {
            return exec_err!("{}(properties, ids, type, key...): no arguments", self.name);
        };
        let keys: Option<Vec<&str>> = rest.iter().map(literal).collect();
        let Some(keys) = keys.filter(|k| k.len() >= 2) else {
            return exec_err!(
                "{}(properties, ids, type, key...): the ids, the type and the keys must be text literals",
                self.name
            );
        };
        let ids: Vec<&str> = keys[0].split(' ').collect();
        let path: Vec<String> = keys[1..].iter().map(|s| (*s).to_string()).collect();
        let props = cast(&props.to_array(rows)?, &DataType::Utf8)?;
        let Some(props) = props.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("{}: properties must be text", self.name);
        };
        let mut out = Builder::new(self.kind, rows);
        for i in 0..props.len() {
            let v = if props.is_null(i) {
                None
            } else {
                lookup(props.value(i), &ids, &path[0], &path)
            };
            out.push(self.kind, v);
        }
        Ok(ColumnarValue::Array(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_and_without_offsets() {
        let at = |s| parse_ts(s).map(|m| DateTime::from_timestamp_micros(m).unwrap().to_rfc3339());
        assert_eq!(at("2026-02-01"), Some("2026-02-01T00:00:00+00:00".into()));
        assert_eq!(
            at("2026-02-01T10:30:00.000+02:00"),
            Some("2026-02-01T08:30:00+00:00".into())
        );
        assert_eq!(
            at("2026-02-01T10:30:00.000Z"),
            Some("2026-02-01T10:30:00+00:00".into())
        );
        assert_eq!(
            at("2026-02-01T10:30:00"),
            Some("2026-02-01T10:30:00+00:00".into())
        );
        assert_eq!(at("tomorrow"), None);
    }

    #[tokio::test]
    async fn functions_read_typed_values_by_id() {
        let ctx = SessionContext::new();
        register(&ctx);
        let props = r#"{"Renamed": {"id": "n%3F", "type": "number", "number": 2.5},
                        "Name": {"id": "title", "type": "title", "title": [{"plain_text": "Hello "}, {"plain_text": "world"}]},
                        "Tags": {"id": "t", "type": "multi_select", "multi_select": [{"name": "a"}, {"name": "b"}]},
                        "ID": {"id": "u", "type": "unique_id", "unique_id": {"prefix": "EV", "number": 7}}}"#;
        let sql = format!(
            "SELECT notion_number(p, 'n%3F', 'number') AS n, notion_text(p, 'title', 'title') AS t, \
                    notion_names(p, 't', 'multi_select') AS m, notion_unique_id(p, 'u', 'unique_id') AS u, \
                    notion_number(p, 'title', 'number') AS wrong_type \
             FROM (SELECT '{}' AS p)",
            props.replace('\'', "''")
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let text = deltalake::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(
            text.contains("| 2.5 | Hello world | [a, b] | EV-7 |            |"),
            "{text}"
        );
        let err = ctx
            .sql("SELECT notion_number('{}', page, 'number') FROM (VALUES ('x'), ('y')) AS t(page)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("text literals"), "{err}");
    }
}
