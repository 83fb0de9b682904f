//! Typed views per database: a column per property, typed and named from the latest schema snapshot, so
//! analysts read `status` and `due_date` instead of JSON paths.
//!
//! [`plan`] turns the schema snapshots (and sample pages, for formula and rollup result types) into a
//! [`ViewSpec`] per database; [`render`] writes it as SQL for DataFusion (`notion-sync query`), PostgreSQL
//! or Databricks; [`udf`] holds the DataFusion functions the DataFusion views call.

pub mod columns;
pub mod names;
pub mod render;
pub mod udf;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::bronze::DatabaseRecord;
pub use columns::{Extract, Kind};

/// Columns every view starts with, straight from `notion_raw_pages`.
pub const FIXED: &[&str] = &[
    "page_id",
    "data_source_id",
    "url",
    "created_time",
    "last_edited_time",
];

/// Columns the view of deleted rows adds.
pub const DELETED_EXTRA: &[&str] = &["in_trash", "is_deleted", "deleted_at"];

/// The suffix of the view that holds a database's deleted and trashed pages.
pub const DELETED_SUFFIX: &str = "_deleted";

/// One property column of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name (snake_case, unique in the view).
    pub name: String,
    /// Where its value comes from.
    pub extract: Extract,
    /// The property's name in the snapshot the view was generated from.
    pub property: String,
}

/// The typed view of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSpec {
    /// View name: the configured database name in snake_case.
    pub name: String,
    /// The database's id.
    pub database_id: String,
    /// The configured database name.
    pub database_name: String,
    /// Property columns, after [`FIXED`].
    pub columns: Vec<Column>,
}

/// The newest snapshot of each `(database_id, data_source_id)`.
pub fn latest(schemas: &[DatabaseRecord]) -> Vec<&DatabaseRecord> {
    let mut newest: BTreeMap<(&str, &str), &DatabaseRecord> = BTreeMap::new();
    for s in schemas {
        let key = (s.database_id.as_str(), s.data_source_id.as_str());
        match newest.get(&key) {
            Some(old) if old.observed_at >= s.observed_at => {}
            _ => {
                newest.insert(key, s);
            }
        }
    }
    newest.into_values().collect()
}

/// Plans the view of every database in `schemas` (all snapshots; the newest per data source is used).
/// `samples` holds sample `properties` texts of each database's pages (by database id), from which formula
/// and rollup result types are read. Views are sorted by name; a database whose name collides with a
/// bronze table's gets a `_view` suffix.
pub fn plan(schemas: &[DatabaseRecord], samples: &HashMap<String, Vec<String>>) -> Vec<ViewSpec> {
    let mut by_db: BTreeMap<&str, Vec<&DatabaseRecord>> = BTreeMap::new();
    for s in latest(schemas) {
        by_db.entry(s.database_id.as_str()).or_default().push(s);
    }
    let mut views: Vec<ViewSpec> = by_db
        .into_values()
        .map(|sources| {
            let newest = sources
                .iter()
                .max_by_key(|s| s.observed_at)
                .copied()
                .unwrap_or(sources[0]);
            let no_samples = Vec::new();
            let sample = samples.get(&newest.database_id).unwrap_or(&no_samples);
            plan_one(newest, &sources, &columns::result_types(sample))
        })
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = names::Unique::default();
    for v in &mut views {
        if crate::sink::tables::ALL.contains(&v.name.as_str()) {
            v.name.push_str("_view");
        }
        v.name = seen.take(&v.name, &["", DELETED_SUFFIX]);
    }
    views
}

/// A schema property of one or more data sources.
struct Prop<'a> {
    name: String,
    ids: Vec<String>,
    kind: String,
    config: &'a Value,
}

fn plan_one(
    newest: &DatabaseRecord,
    sources: &[&DatabaseRecord],
    results: &HashMap<(String, String), String>,
) -> ViewSpec {
    let parsed: Vec<Value> = sources
        .iter()
        .map(|s| serde_json::from_str(&s.schema).unwrap_or(Value::Null))
        .collect();
    // The properties of every data source, newest snapshot first; properties of the same name and type in
    // several data sources become one column.
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].observed_at));
    let mut props: Vec<Prop<'_>> = Vec::new();
    for i in order {
        let Some(map) = parsed[i].as_object() else {
            continue;
        };
        for (key, p) in map {
            let id = p["id"].as_str().unwrap_or(key).to_string();
            let kind = p["type"].as_str().unwrap_or("").to_string();
            let name = p["name"].as_str().unwrap_or(key).to_string();
            if kind.is_empty() {
                continue;
            }
            let same = |q: &&mut Prop<'_>| {
                q.kind == kind
                    && (q.ids.contains(&id) || q.name.to_lowercase() == name.to_lowercase())
            };
            match props.iter_mut().find(|q| same(q)) {
                Some(q) if q.ids.contains(&id) => {}
                Some(q) => q.ids.push(id),
                None => props.push(Prop {
                    name,
                    config: &p[kind.as_str()],
                    ids: vec![id],
                    kind,
                }),
            }
        }
    }
    // The title first, then by name: the same schema always gives the same view.
    props.sort_by(|a, b| {
        (a.kind != "title", a.name.to_lowercase(), &a.ids).cmp(&(
            b.kind != "title",
            b.name.to_lowercase(),
            &b.ids,
        ))
    });
    let mut reserved: Vec<&str> = FIXED.to_vec();
    reserved.extend_from_slice(DELETED_EXTRA);
    let mut unique = names::Unique::with(&reserved);
    let mut columns = Vec::new();
    for p in &props {
        let result = p
            .ids
            .iter()
            .find_map(|id| results.get(&(p.kind.clone(), id.clone())))
            .map(String::as_str);
        let Some(parts) = columns::parts(&p.kind, result, p.config["function"].as_str()) else {
            continue;
        };
        let suffixes: Vec<&str> = parts.iter().map(|(s, _, _)| *s).collect();
        let stem = unique.take(&names::snake_case(&p.name), &suffixes);
        for (suffix, path, kind) in parts {
            let mut full = vec![p.kind.clone()];
            full.extend(path.iter().map(|s| (*s).to_string()));
            columns.push(Column {
                name: format!("{stem}{suffix}"),
                extract: Extract {
                    ids: p.ids.clone(),
                    prop_type: p.kind.clone(),
                    path: full,
                    kind,
                },
                property: p.name.clone(),
            });
        }
    }
    ViewSpec {
        name: names::snake_case(&newest.database_name),
        database_id: newest.database_id.clone(),
        database_name: newest.database_name.clone(),
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn snapshot(db: &str, ds: &str, name: &str, schema: Value, minute: u32) -> DatabaseRecord {
        DatabaseRecord {
            database_id: db.into(),
            data_source_id: ds.into(),
            database_name: name.into(),
            title: name.into(),
            schema: schema.to_string(),
            payload: "{}".into(),
            schema_sha256: String::new(),
            api_version: "2026-03-11".into(),
            observed_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, minute, 0).unwrap(),
            sync_run_id: "r".into(),
        }
    }

    fn names(v: &ViewSpec) -> Vec<&str> {
        v.columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn columns_follow_the_newest_snapshot_and_select_by_id() {
        let old = serde_json::json!({
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Due Date": {"id": "d%3F", "name": "Due Date", "type": "date", "date": {}},
            "Gone": {"id": "g%3F", "name": "Gone", "type": "number", "number": {}},
        });
        let new = serde_json::json!({
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Deadline": {"id": "d%3F", "name": "Deadline", "type": "date", "date": {}},
            "Created time": {"id": "c%3F", "name": "Created time", "type": "created_time", "created_time": {}},
            "Go": {"id": "b%3F", "name": "Go", "type": "button", "button": {}},
        });
        let schemas = vec![
            snapshot("db1", "ds1", "Tasks", old, 0),
            snapshot("db1", "ds1", "Tasks", new, 5),
        ];
        let views = plan(&schemas, &HashMap::new());
        assert_eq!(views.len(), 1);
        let v = &views[0];
        assert_eq!(v.name, "tasks");
        // The title first; `created_time` is a fixed column, so the property gets `_2`; a button has no
        // value and no column; the removed property is gone.
        assert_eq!(
            names(v),
            [
                "name",
                "created_time_2",
                "deadline",
                "deadline_end",
                "deadline_time_zone"
            ]
        );
        let deadline = &v.columns[2].extract;
        assert_eq!(
            (deadline.ids.as_slice(), deadline.prop_type.as_str()),
            (&["d%3F".to_string()][..], "date")
        );
        assert_eq!(deadline.path, ["date", "start"]);
    }

    #[test]
    fn formula_types_come_from_the_pages_and_sources_merge() {
        let a = serde_json::json!({
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "ROI": {"id": "r%3F", "name": "ROI", "type": "formula", "formula": {"expression": "1"}},
            "stage": {"id": "a%3F", "name": "stage", "type": "select", "select": {"options": []}},
        });
        let b = serde_json::json!({
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Stage": {"id": "s%3F", "name": "Stage", "type": "select", "select": {"options": []}},
        });
        let schemas = vec![
            snapshot("db1", "ds1", "Projects", a, 0),
            snapshot("db1", "ds2", "Projects", b, 1),
        ];
        let page = r#"{"ROI": {"id": "r%3F", "type": "formula", "formula": {"type": "number", "number": 2.5}}}"#;
        let samples = HashMap::from([("db1".to_string(), vec![page.to_string()])]);
        let v = &plan(&schemas, &samples)[0];
        assert_eq!(names(v), ["name", "roi", "stage"]);
        assert_eq!(v.columns[1].extract.path, ["formula", "number"]);
        assert_eq!(v.columns[1].extract.kind, Kind::Number);
        // The same name and type in both data sources: one column reading either id.
        assert_eq!(v.columns[2].extract.ids, ["s%3F", "a%3F"]);
    }

    #[test]
    fn a_database_named_like_a_bronze_table_gets_a_suffix() {
        let s = serde_json::json!({"Name": {"id": "title", "name": "Name", "type": "title", "title": {}}});
        let schemas = vec![
            snapshot("db1", "ds1", "notion_raw_pages", s.clone(), 0),
            snapshot("db2", "ds2", "Tasks", s, 0),
        ];
        let views = plan(&schemas, &HashMap::new());
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["notion_raw_pages_view", "tasks"]);
    }
}
