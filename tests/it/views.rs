//! Typed views and `notion-sync query`: every column of every view equals the simulator's value of its
//! property (on DataFusion and on PostgreSQL), schema changes reach the views, and `query` writes every
//! format and reads older states.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use notion_sim::{SimConfig, WorkspaceKind};
use serde_json::{Value, json};

use crate::support::{Lake, World, assert_exit, postgres_query, stderr, stdout};

const V: &str = "2026-03-11";

/// A cell as the view must hold it, derived here from the simulator's rendering of the page.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Num(f64),
    Bool(bool),
    Ts(DateTime<Utc>),
    List(Vec<Option<String>>),
    Json(Value),
}

/// The test's own snake_case (the simulator's names are plain words).
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// The view's own columns; a property whose name gives one of these gets `_2`.
const RESERVED: &[&str] = &[
    "page_id",
    "data_source_id",
    "url",
    "created_time",
    "last_edited_time",
    "in_trash",
    "is_deleted",
    "deleted_at",
];

/// A property's column name.
fn column_stem(name: &str) -> String {
    let s = snake(name);
    if RESERVED.contains(&s.as_str()) {
        format!("{s}_2")
    } else {
        s
    }
}

fn ts(v: &Value) -> Cell {
    let Some(s) = v.as_str() else {
        return Cell::Null;
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Cell::Ts(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Cell::Ts(t.and_utc());
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("an ISO date");
    Cell::Ts(d.and_hms_opt(0, 0, 0).unwrap().and_utc())
}

fn text(v: &Value) -> Cell {
    match v.as_str() {
        Some(s) => Cell::Text(s.to_string()),
        None => Cell::Null,
    }
}

fn list(v: &Value, key: &str) -> Cell {
    match v.as_array() {
        Some(items) => Cell::List(
            items
                .iter()
                .map(|i| i[key].as_str().map(str::to_string))
                .collect(),
        ),
        None => Cell::Null,
    }
}

fn date(stem: &str, v: &Value, out: &mut BTreeMap<String, Cell>) {
    out.insert(stem.to_string(), ts(&v["start"]));
    out.insert(format!("{stem}_end"), ts(&v["end"]));
    out.insert(format!("{stem}_time_zone"), text(&v["time_zone"]));
}

/// The columns one property must give, with their values for a page whose property object is `p`
/// (`Value::Null` when the page lacks it). `result` is the formula or rollup result type.
fn expected_cells(
    name: &str,
    kind: &str,
    result: Option<&str>,
    p: &Value,
    out: &mut BTreeMap<String, Cell>,
) {
    let stem = column_stem(name);
    let v = &p[kind];
    let cell = match kind {
        "title" | "rich_text" => match v.as_array() {
            Some(items) => Cell::Text(
                items
                    .iter()
                    .map(|i| i["plain_text"].as_str().unwrap())
                    .collect(),
            ),
            None => Cell::Null,
        },
        "number" => v.as_f64().map_or(Cell::Null, Cell::Num),
        "checkbox" => v.as_bool().map_or(Cell::Null, Cell::Bool),
        "url" | "email" | "phone_number" => text(v),
        "select" | "status" => text(&v["name"]),
        "multi_select" | "files" => list(v, "name"),
        "people" | "relation" => list(v, "id"),
        "date" => return date(&stem, v, out),
        "created_time" | "last_edited_time" => ts(v),
        "created_by" | "last_edited_by" => text(&v["id"]),
        "unique_id" => match (v["prefix"].as_str(), v["number"].as_i64()) {
            (Some(prefix), Some(n)) if !prefix.is_empty() => Cell::Text(format!("{prefix}-{n}")),
            (_, Some(n)) => Cell::Text(n.to_string()),
            _ => Cell::Null,
        },
        "verification" => text(&v["state"]),
        "button" => return,
        "formula" | "rollup" => match result {
            Some("date") => return date(&stem, &v["date"], out),
            Some("number") => v["number"].as_f64().map_or(Cell::Null, Cell::Num),
            Some("string") => text(&v["string"]),
            Some("boolean") => v["boolean"].as_bool().map_or(Cell::Null, Cell::Bool),
            Some("array") => Cell::Json(v["array"].clone()),
            _ => Cell::Json(v.clone()),
        },
        _ => match v {
            Value::Null => Cell::Null,
            other => Cell::Json(other.clone()),
        },
    };
    out.insert(stem, cell);
}

/// Every view row the simulator implies for `database` (live pages after a full refresh), by page id.
fn expected_rows(dump: &Value, database: &Value) -> BTreeMap<String, BTreeMap<String, Cell>> {
    let db_id = database["id"].as_str().unwrap();
    // Schema properties of every data source, one per name and type (the view merges them).
    let mut props: Vec<(String, String, Vec<String>)> = Vec::new();
    for ds in database["data_sources"].as_array().unwrap() {
        for (name, p) in ds["data_source"]["properties"].as_object().unwrap() {
            let (kind, id) = (p["type"].as_str().unwrap(), p["id"].as_str().unwrap());
            match props.iter_mut().find(|(n, k, _)| n == name && k == kind) {
                Some((_, _, ids)) => ids.push(id.to_string()),
                None => props.push((name.clone(), kind.to_string(), vec![id.to_string()])),
            }
        }
    }
    let pages: Vec<&Value> = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["database_id"] == db_id && p["in_trash"] == false)
        .collect();
    // A formula's or rollup's result type: what its values say.
    let result_of = |ids: &[String]| -> Option<String> {
        let mut seen = BTreeMap::new();
        for page in &pages {
            for p in page["page_full"]["properties"]
                .as_object()
                .unwrap()
                .values()
            {
                if ids.iter().any(|id| p["id"] == id.as_str()) {
                    let kind = p["type"].as_str().unwrap();
                    if let Some(t) = p[kind]["type"].as_str() {
                        *seen.entry(t.to_string()).or_insert(0) += 1;
                    }
                }
            }
        }
        seen.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)
    };
    let results: Vec<Option<String>> = props.iter().map(|(_, _, ids)| result_of(ids)).collect();
    let mut out = BTreeMap::new();
    for page in &pages {
        let full = &page["page_full"];
        let mut row = BTreeMap::new();
        row.insert("page_id".into(), text(&full["id"]));
        row.insert("data_source_id".into(), text(&page["data_source_id"]));
        row.insert("url".into(), text(&full["url"]));
        row.insert("created_time".into(), ts(&full["created_time"]));
        row.insert("last_edited_time".into(), ts(&full["last_edited_time"]));
        for ((name, kind, ids), result) in props.iter().zip(&results) {
            let p = full["properties"]
                .as_object()
                .unwrap()
                .values()
                .find(|p| p["type"] == kind.as_str() && ids.iter().any(|id| p["id"] == id.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            expected_cells(name, kind, result.as_deref(), &p, &mut row);
        }
        out.insert(page["id"].as_str().unwrap().to_string(), row);
    }
    out
}

fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `actual` (a JSON value the engine wrote; `None` when the column is absent or null) is `want`.
fn matches(want: &Cell, actual: Option<&Value>) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    match (want, actual) {
        (Cell::Null, None) => true,
        (Cell::Null, Some(_)) | (_, None) => false,
        (Cell::Text(s), Some(a)) => a.as_str() == Some(s.as_str()),
        (Cell::Num(n), Some(a)) => a.as_f64().is_some_and(|a| (a - n).abs() < 1e-9),
        (Cell::Bool(b), Some(a)) => a.as_bool() == Some(*b),
        (Cell::Ts(t), Some(a)) => {
            a.as_str()
                .is_some_and(|s| match ts(&json!(s.replace(' ', "T"))) {
                    Cell::Ts(x) => x == *t,
                    _ => false,
                })
        }
        (Cell::List(items), Some(a)) => a.as_array().is_some_and(|xs| {
            xs.len() == items.len()
                && xs
                    .iter()
                    .zip(items)
                    .all(|(x, i)| x.as_str() == i.as_deref())
        }),
        (Cell::Json(v), Some(a)) => a
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .is_some_and(|parsed| same_json(&parsed, v)),
    }
}

/// Compares a view's rows (JSON objects) with the simulator; returns every difference.
fn compare(
    view: &str,
    want: &BTreeMap<String, BTreeMap<String, Cell>>,
    rows: &[serde_json::Map<String, Value>],
    columns: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let some_row = want.values().next();
    if let Some(row) = some_row {
        let names: BTreeSet<String> = row.keys().cloned().collect();
        if &names != columns {
            problems.push(format!("{view}: columns {columns:?}, expected {names:?}"));
        }
    }
    let got: BTreeMap<&str, &serde_json::Map<String, Value>> = rows
        .iter()
        .map(|r| (r["page_id"].as_str().unwrap(), r))
        .collect();
    let ids: BTreeSet<&str> = want.keys().map(String::as_str).collect();
    if ids != got.keys().copied().collect() {
        problems.push(format!(
            "{view}: page ids differ: {} expected, {} in the view",
            ids.len(),
            got.len()
        ));
    }
    for (id, row) in want {
        let Some(actual) = got.get(id.as_str()) else {
            continue;
        };
        for (col, cell) in row {
            if !matches(cell, actual.get(col)) {
                problems.push(format!(
                    "{view}.{col} of {id}: expected {cell:?}, got {:?}",
                    actual.get(col)
                ));
            }
        }
    }
    problems
}

/// The views of a synced world: `(view, database)` for every database.
fn views_of(dump: &Value) -> Vec<(String, Value)> {
    dump["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (snake(d["title"].as_str().unwrap()), d.clone()))
        .collect()
}

async fn full_world(lake: Lake) -> World {
    let mut w = World::with_config(SimConfig {
        seed: 7,
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    w.on(lake).await;
    assert_exit(&w.run(&["sync", "--full-refresh"]).await, 0);
    w
}

/// `notion-sync query SQL --format FORMAT`'s standard output; the run must succeed.
async fn query(w: &World, sql: &str, format: &str) -> String {
    let out = w.run(&["query", sql, "--format", format]).await;
    assert_exit(&out, 0);
    stdout(&out)
}

/// The rows of `view` through `notion-sync query`, and its columns.
async fn datafusion_rows(
    w: &World,
    view: &str,
) -> (Vec<serde_json::Map<String, Value>>, BTreeSet<String>) {
    let rows = query(w, &format!("SELECT * FROM {view}"), "json")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let header = query(w, &format!("SELECT * FROM {view} LIMIT 0"), "csv").await;
    let columns = header
        .lines()
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    (rows, columns)
}

/// The columns of view `view` in PostgreSQL schema `schema`.
fn pg_columns(schema: &str, view: &str) -> BTreeSet<String> {
    postgres_query(&format!(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' \
         AND table_name = '{view}'"
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_typed_view_on_datafusion_returns_the_simulators_values() {
    let w = full_world(Lake::Local).await;
    let dump = w.sim.state_dump(V);
    let mut problems = Vec::new();
    let mut checked = 0;
    for (view, db) in views_of(&dump) {
        let want = expected_rows(&dump, &db);
        let (rows, columns) = datafusion_rows(&w, &view).await;
        checked += rows.len() * columns.len();
        problems.extend(compare(&view, &want, &rows, &columns));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 1000, "only {checked} cells checked");
    // The Everything database holds every property type the simulator knows, and one it does not.
    let (_, columns) = datafusion_rows(&w, "everything").await;
    for c in [
        "hologram",
        "place",
        "verification",
        "id",
        "files",
        "items",
        "date_time_zone",
    ] {
        assert!(columns.contains(c), "{c} in {columns:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_typed_view_on_postgres_returns_the_simulators_values() {
    let mut w = World::with_config(SimConfig {
        seed: 7,
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    w.on(Lake::Postgres).await;
    let silver = format!("{}_silver", w.env["BRONZE_SCHEMA"]);
    w.set("NOTION_SYNC_VIEWS_SCHEMA", &silver);
    assert_exit(&w.run(&["sync", "--full-refresh"]).await, 0);
    let out = w.run(&["views", "--apply"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("sql/generated/postgres/everything.sql"),
        "{}",
        stdout(&out)
    );
    let dump = w.sim.state_dump(V);
    let mut problems = Vec::new();
    for (view, db) in views_of(&dump) {
        let want = expected_rows(&dump, &db);
        let rows: Vec<serde_json::Map<String, Value>> = postgres_query(&format!(
            "SELECT row_to_json(v)::text FROM {silver}.{view} AS v"
        ))
        .into_iter()
        .map(|r| serde_json::from_str(r[0].as_deref().unwrap()).unwrap())
        .collect();
        let columns = pg_columns(&silver, &view);
        problems.extend(compare(&view, &want, &rows, &columns));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The generated file is what was applied.
    let file = std::fs::read_to_string(w.lake.path().join("sql/generated/postgres/everything.sql"))
        .unwrap();
    assert!(
        file.contains(&format!("CREATE VIEW {silver}.\"everything\"")),
        "{file}"
    );
}

/// Rows of `SELECT page_id, <column>` as a map.
async fn column_values(
    w: &World,
    view: &str,
    column: &str,
) -> Result<BTreeMap<String, Value>, String> {
    let out = w
        .run(&[
            "query",
            &format!("SELECT page_id, {column} AS v FROM {view}"),
            "--format",
            "json",
        ])
        .await;
    if out.status.code() != Some(0) {
        return Err(stderr(&out));
    }
    Ok(stdout(&out)
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (
                row["page_id"].as_str().unwrap().to_string(),
                row["v"].clone(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_removals_and_retypes_reach_the_views() {
    let w = World::start(WorkspaceKind::Demo).await;
    let tasks = w.database("Tasks");
    let ds = tasks.data_sources[0].id.clone();
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_exit(&w.run(&["views"]).await, 0);
    let file = w.lake.path().join("sql/generated/datafusion/tasks.sql");
    let before_sql = std::fs::read_to_string(&file).unwrap();
    let effort = column_values(&w, "tasks", "effort").await.unwrap();
    assert!(effort.values().any(Value::is_number), "{effort:?}");

    // A rename: the data stays, only the column's name changes (in the view and in its SQL).
    assert!(w.sim.rename_property(&ds, "Effort", "Effort points"));
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_exit(&w.run(&["views"]).await, 0);
    assert_eq!(
        column_values(&w, "tasks", "effort_points").await.unwrap(),
        effort
    );
    let err = column_values(&w, "tasks", "effort").await.unwrap_err();
    assert!(err.contains("error: query:"), "{err}");
    let after_sql = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<(&str, &str)> = before_sql
        .lines()
        .zip(after_sql.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(before_sql.lines().count(), after_sql.lines().count());
    assert!(
        !changed.is_empty()
            && changed
                .iter()
                .all(|(a, b)| a.contains("effort") && b.contains("effort_points")),
        "{changed:#?}"
    );

    // A removal drops the column; a retype changes the column's type.
    assert!(w.sim.remove_property(&ds, "Priority"));
    assert!(w.sim.change_property_type(
        &ds,
        "Value",
        json!({"type": "rich_text", "rich_text": {}})
    ));
    assert_exit(&w.run(&["sync", "--full-refresh"]).await, 0);
    assert!(column_values(&w, "tasks", "priority").await.is_err());
    let types = query(
        &w,
        "SELECT arrow_typeof(value) AS t, arrow_typeof(effort_points) AS e FROM tasks LIMIT 1",
        "csv",
    )
    .await;
    assert_eq!(types.lines().nth(1), Some("Utf8,Float64"), "{types}");
    let dump = w.sim.state_dump(V);
    let values = column_values(&w, "tasks", "value").await.unwrap();
    for (id, v) in &values {
        let page = crate::support::dump_page(&dump, id);
        let text: String = page["page_full"]["properties"]["Value"]["rich_text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["plain_text"].as_str().unwrap())
            .collect();
        assert_eq!(v.as_str(), Some(text.as_str()), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_writes_every_format_and_reads_older_states() {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let sql = "SELECT name, status, effort FROM tasks ORDER BY page_id";
    let json = w.run(&["query", sql, "--format", "json"]).await;
    assert_exit(&json, 0);
    let rows: Vec<Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 10, "{rows:?}");
    assert!(stderr(&json).contains(&format!("({} rows)", rows.len())));

    let csv_text = query(&w, sql, "csv").await;
    let mut lines = csv_text.lines();
    assert_eq!(lines.next(), Some("name,status,effort"));
    assert_eq!(lines.count(), rows.len());

    let table = w.run(&["query", sql]).await;
    assert_exit(&table, 0);
    let table_text = stdout(&table);
    let header: Vec<&str> = table_text
        .lines()
        .next()
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(header, ["name", "status", "effort"]);
    assert_eq!(table_text.lines().count(), rows.len() + 2);
    let first = rows[0]["name"].as_str().unwrap();
    assert!(
        table_text.lines().nth(2).unwrap().starts_with(first),
        "{table_text}"
    );

    let path = w.lake.path().join("out.parquet");
    let parquet = w
        .run(&[
            "query",
            sql,
            "--format",
            "parquet",
            "--output",
            path.to_str().unwrap(),
        ])
        .await;
    assert_exit(&parquet, 0);
    let back = crate::support::parquet_values(&path);
    for r in &rows {
        assert!(back.contains(r["name"].as_str().unwrap()), "{back}");
    }

    // `--as-of`: the version before an edit, and the time before it, return the older titles.
    let before = w
        .sink()
        .table_version("notion_raw_pages")
        .await
        .unwrap()
        .unwrap();
    let old = column_values(&w, "tasks", "name").await.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cut = Utc::now().to_rfc3339();
    w.sim.advance_clock(chrono::Duration::minutes(5));
    let edited = w.sim.edit_pages(&w.database("Tasks").data_sources[0].id, 3);
    assert_exit(&w.run(&["sync"]).await, 0);
    let new = column_values(&w, "tasks", "name").await.unwrap();
    assert!(
        edited.iter().all(|id| new[id] != old[id]),
        "the edit changed the titles"
    );
    for at in [before.to_string(), cut] {
        let out = w
            .run(&[
                "query",
                "SELECT page_id, name AS v FROM tasks",
                "--format",
                "json",
                "--as-of",
                &at,
            ])
            .await;
        assert_exit(&out, 0);
        let then: BTreeMap<String, Value> = stdout(&out)
            .lines()
            .map(|l| {
                let row: Value = serde_json::from_str(l).unwrap();
                (
                    row["page_id"].as_str().unwrap().to_string(),
                    row["v"].clone(),
                )
            })
            .collect();
        assert_eq!(then, old, "--as-of {at}");
    }

    // Bad SQL: DataFusion's message and exit 2; so is a bad --as-of.
    let bad = w.run(&["query", "SELECT nope FROM tasks"]).await;
    assert_exit(&bad, 2);
    assert!(
        stderr(&bad).contains("error: query:") && stderr(&bad).contains("nope"),
        "{}",
        stderr(&bad)
    );
    let bad = w.run(&["query", "SELECT 1", "--as-of", "yesterday"]).await;
    assert_exit(&bad, 2);
    // The bronze tables are registered too.
    let out = query(
        &w,
        "SELECT count(*) AS n FROM notion_raw_page_versions",
        "csv",
    )
    .await;
    let n: usize = out.lines().nth(1).unwrap().parse().unwrap();
    assert!(n > rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_regenerates_the_warehouse_views_when_a_schema_changes() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(Lake::Postgres).await;
    let silver = format!("{}_silver", w.env["BRONZE_SCHEMA"]);
    w.set("NOTION_SYNC_VIEWS_SCHEMA", &silver);
    w.set("NOTION_SYNC_VIEWS", "1");
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("views regenerated: "),
        "{}",
        stdout(&out)
    );
    let columns = |view: &str| pg_columns(&silver, view);
    assert!(columns("tasks").contains("effort"));
    // Nothing changed: nothing regenerated.
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(
        !stdout(&out).contains("views regenerated"),
        "{}",
        stdout(&out)
    );
    let ds = w.database("Tasks").data_sources[0].id.clone();
    assert!(
        w.sim
            .add_property(&ds, "Story points", json!({"type": "number", "number": {}}))
    );
    let out = w.run(&["sync"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("views regenerated: tasks"),
        "{}",
        stdout(&out)
    );
    assert!(columns("tasks").contains("story_points"));
    assert!(columns("tasks_deleted").contains("is_deleted"));
    let live = postgres_query(&format!("SELECT count(*) FROM {silver}.tasks"));
    let bronze = postgres_query(&format!(
        "SELECT count(*) FROM {}.notion_raw_pages WHERE database_name = 'tasks' AND NOT is_deleted AND NOT in_trash",
        w.env["BRONZE_SCHEMA"]
    ));
    assert_eq!(live, bronze);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_explain_what_to_fix() {
    let w = World::start(WorkspaceKind::Demo).await;
    let out = w.run(&["views"]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("run `notion-sync sync` first"),
        "{}",
        stderr(&out)
    );
    assert_exit(&w.run(&["sync", "-d", "tasks"]).await, 0);
    let out = w.run(&["views", "-d", "sprints"]).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("known: tasks"), "{}", stderr(&out));
    let out = w.run(&["views", "--apply"]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("NOTION_SYNC_SINK=warehouse"),
        "{}",
        stderr(&out)
    );
    let out = w
        .run(&["views", "--dialect", "databricks", "-d", "tasks"])
        .await;
    assert_exit(&out, 0);
    let sql =
        std::fs::read_to_string(w.lake.path().join("sql/generated/databricks/tasks.sql")).unwrap();
    assert!(
        sql.contains("CREATE OR REPLACE VIEW silver.`tasks`"),
        "{sql}"
    );
    assert!(sql.contains("FROM bronze.notion_raw_pages AS r"), "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_a_typed_query() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-sync"))
        .args(["demo", "--lake", lake.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_exit(&out, 0);
    let text = stdout(&out);
    let step = text
        .split("\n4. Every database is also a typed view")
        .nth(1)
        .unwrap_or_else(|| panic!("no typed-query step:\n{text}"));
    assert!(
        step.contains("views: documentation, notes, sprints, tasks"),
        "{step}"
    );
    let header = step.lines().find(|l| l.starts_with("status ")).unwrap();
    let header: Vec<&str> = header.split('|').map(str::trim).collect();
    assert_eq!(header, ["status", "tasks", "effort", "latest_due"]);
    // The statuses counted add up to the live tasks the lake holds.
    let counts: usize = step
        .lines()
        .skip_while(|l| !l.starts_with("-----"))
        .skip(1)
        .take_while(|l| l.contains('|'))
        .map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    let sink = notion_sync::sink::delta::DeltaSink::new(lake.to_str().unwrap(), "bronze").unwrap();
    let live = sink
        .read_pages(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.record.database_name == "tasks" && !p.record.is_deleted && !p.record.in_trash)
        .count();
    assert_eq!(counts, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_a_lake_on_s3() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    w.on(Lake::S3).await;
    assert_exit(&w.run(&["sync"]).await, 0);
    let out = query(
        &w,
        "SELECT count(*) AS n, sum(effort) AS effort FROM tasks",
        "csv",
    )
    .await;
    let row: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
    let live: Vec<_> = w
        .pages()
        .await
        .into_iter()
        .filter(|p| p.record.database_name == "tasks" && !p.record.is_deleted && !p.record.in_trash)
        .collect();
    assert!(!live.is_empty());
    assert_eq!(row[0].parse::<usize>().unwrap(), live.len());
    let effort: f64 = live
        .iter()
        .filter_map(|p| {
            let props: Value = serde_json::from_str(&p.record.properties).unwrap();
            props["Effort"]["number"].as_f64()
        })
        .sum();
    assert!(
        (row[1].parse::<f64>().unwrap() - effort).abs() < 1e-9,
        "{out}"
    );
}
