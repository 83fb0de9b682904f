//! The statements the warehouse sink sends, in one place: the sink builds them here, and the catalogue
//! lists one of each (with sample values) for the golden files `sql/<dialect>/statements.sql` and the
//! Databricks parser check.

use super::dialect::Sql;
use super::leases;
use crate::sink::plan::entities::{self as plan_entities, Keyed};
use crate::sink::plan::merge::{MergePlan, WATERMARK_ON};
use crate::sink::plan::pages as plan_pages;
use crate::sink::spec;

/// The guarded MERGE of staged page rows and flags.
pub fn pages_merge(sql: &Sql) -> String {
    let on = "t.database_id = s.database_id AND t.page_id = s.page_id".to_string();
    sql.merge(&spec::PAGES, &MergePlan::pages(on))
}

/// The guarded MERGE of staged rows and flags of a content table.
pub(crate) fn content_merge(sql: &Sql, keyed: &Keyed) -> String {
    let on: Vec<String> = keyed.key.iter().map(|k| format!("t.{k} = s.{k}")).collect();
    sql.merge(
        keyed.spec,
        &MergePlan::content(keyed.spec, on.join(" AND ")),
    )
}

/// The upsert of a staged watermark row.
pub fn watermark_merge(sql: &Sql) -> String {
    sql.merge(
        &spec::WATERMARKS,
        &MergePlan::upsert(&spec::WATERMARKS, WATERMARK_ON.into()),
    )
}

/// The append of staged history rows not stored yet.
pub fn versions_insert(sql: &Sql) -> String {
    sql.insert_new(&spec::VERSIONS, &plan_pages::VERSION_KEY_COLUMNS)
}

/// The append of staged rejects not stored yet.
pub fn rejects_insert(sql: &Sql) -> String {
    sql.insert_new(&spec::REJECTS, &["raw_sha256"])
}

/// The staged listing of delete detection (a staging table only, never a bronze table).
pub const LISTING: spec::TableSpec = spec::TableSpec {
    name: "notion_sync_listing",
    columns: &[
        spec::Col {
            name: "page_id",
            kind: spec::Kind::Str,
            nullable: false,
        },
        spec::Col {
            name: "last_edited_time",
            kind: spec::Kind::Ts,
            nullable: false,
        },
        spec::Col {
            name: "is_archived",
            kind: spec::Kind::Bool,
            nullable: false,
        },
    ],
    partition: None,
    comment: "",
};

/// The stored state of `p`'s columns, as [`super::odbc::cells_of`] reads [`plan_pages::INDEX_COLUMNS`]'
/// last four.
fn state_columns(sql: &Sql, alias: &str) -> String {
    [
        ("last_edited_time", spec::Kind::Ts),
        ("is_deleted", spec::Kind::Bool),
        ("is_archived", spec::Kind::Bool),
    ]
    .iter()
    .map(|(c, k)| sql.read_expr(&format!("{alias}.{c}"), *k))
    .collect::<Vec<_>>()
    .join(", ")
}

/// Stored live rows of `database_id` that the staged listing lacks, with their state.
pub fn delete_missing(sql: &Sql, database_id: &str) -> String {
    format!(
        "SELECT p.page_id, {state} FROM {pages} AS p WHERE p.database_id = {db} AND NOT p.is_deleted \
         AND NOT EXISTS (SELECT 1 FROM {stage} AS l WHERE l.page_id = p.page_id)",
        state = state_columns(sql, "p"),
        pages = sql.table(spec::PAGES.name),
        db = crate::sink::sql_str(database_id),
        stage = sql.stage(&LISTING),
    )
}

/// Listed pages whose row in `database_id` is absent, flagged, older or in the other partition, with the
/// stored state when there is a row.
pub fn delete_stale(sql: &Sql, database_id: &str) -> String {
    format!(
        "SELECT l.page_id, {state} FROM ({staged}) AS l LEFT JOIN {pages} AS p ON p.page_id = l.page_id \
         AND p.database_id = {db} WHERE p.page_id IS NULL OR p.is_deleted \
         OR p.last_edited_time < l.last_edited_time OR p.is_archived <> l.is_archived",
        state = state_columns(sql, "p"),
        staged = sql.staged(&LISTING),
        pages = sql.table(spec::PAGES.name),
        db = crate::sink::sql_str(database_id),
    )
}

/// Whether sqlparser's Databricks dialect can parse a statement of this kind (it has no grammar for
/// `COPY INTO` or the driver's `PUT`/`REMOVE`; the DDL is in `bronze.sql`, whose `USING DELTA` it cannot
/// parse either).
pub fn parsable(name: &str) -> bool {
    !VOLUME_STAGING.contains(&name)
}

/// The statements of Databricks' Volume staging (no other dialect sends them).
const VOLUME_STAGING: [&str; 3] = ["put", "copy into stage", "remove"];

/// One statement of every kind the sink sends, named (the DDL is [`super::ddl::statements`]).
pub fn catalogue(sql: &Sql) -> Vec<(&'static str, String)> {
    let pages = &spec::PAGES;
    let volume_file = "/Volumes/main/bronze/staging/notion_raw_pages-0123.json";
    let mut out = vec![
        ("schema exists", sql.schema_exists()),
        ("existing tables", sql.existing_tables()),
        (
            "probe create",
            sql.probe("notion_sync_probe_session")[0].clone(),
        ),
        (
            "probe drop",
            sql.probe("notion_sync_probe_session")[1].clone(),
        ),
        ("create stage", sql.create_stage(pages)),
        ("clear stage", sql.clear_stage(pages)),
        ("insert stage (1 row)", sql.insert_stage(pages, 1)),
        (
            "insert stage (10 rows)",
            sql.insert_stage(&spec::WATERMARKS, 10),
        ),
        (
            "put",
            sql.put(
                "/tmp/notion-sync-staging/notion_raw_pages-0123.json",
                volume_file,
            ),
        ),
        ("copy into stage", sql.copy_into_stage(pages, volume_file)),
        ("remove", sql.remove(volume_file)),
        ("drop stage", sql.drop_stage(pages)),
        (
            "page index",
            sql.select(
                pages,
                &plan_pages::INDEX_COLUMNS,
                Some("page_id IN ('195de922-1179-449f-ab80-75a27c979105')"),
                None,
            ),
        ),
        ("append versions", versions_insert(sql)),
        ("merge pages", pages_merge(sql)),
        ("merge blocks", content_merge(sql, &plan_entities::BLOCKS)),
        (
            "merge comments",
            content_merge(sql, &plan_entities::COMMENTS),
        ),
        ("merge users", content_merge(sql, &plan_entities::USERS)),
        ("merge watermark", watermark_merge(sql)),
        ("append rejects", rejects_insert(sql)),
        ("append runs", sql.insert_all(&spec::RUNS)),
        (
            "deletes: stored rows not listed",
            delete_missing(sql, "db-1"),
        ),
        (
            "deletes: listed rows to read again",
            delete_stale(sql, "db-1"),
        ),
        ("latest schemas", sql.latest_schemas()),
        ("page counts", sql.page_counts()),
        (
            "recent runs",
            sql.select(
                &spec::RUNS,
                &spec::RUNS.names(),
                None,
                Some("finished_at DESC, started_at DESC"),
            ),
        ),
        (
            "lease create",
            leases::create_statement(sql, "db-1", 3, "{\"run_id\":\"r\"}"),
        ),
        (
            "lease renew",
            leases::replace_statement(sql, "db-1", 3, "{\"run_id\":\"r\"}"),
        ),
        ("lease remove", leases::remove_statement(sql, "db-1", 3)),
    ];
    if sql.dialect == crate::config::Dialect::Postgres {
        out.retain(|(name, _)| !VOLUME_STAGING.contains(name));
    }
    out
}

/// The golden file text of a dialect's catalogue.
pub fn catalogue_text(dialect: crate::config::Dialect) -> String {
    let sql = Sql::new(dialect, Some("main"), "bronze", "session");
    let mut text = format!(
        "-- Every kind of statement the warehouse sink sends ({} dialect), one sample each, for review.\n\
         -- Generated by the sink's own code (src/sink/warehouse/statements.rs).\n",
        dialect.as_str()
    );
    for (name, statement) in catalogue(&sql) {
        text.push_str(&format!("\n-- {name}\n{statement};\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{DatabricksDialect, PostgreSqlDialect};
    use sqlparser::parser::Parser;

    use super::super::ddl;
    use super::*;
    use crate::config::Dialect;

    /// The catalogues equal the committed golden files (`NOTION_SYNC_BLESS=1` rewrites them).
    #[test]
    fn statement_catalogues_match_their_golden_files() {
        for dialect in Dialect::ALL {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("sql")
                .join(dialect.as_str())
                .join("statements.sql");
            let want = catalogue_text(dialect);
            if std::env::var("NOTION_SYNC_BLESS").is_ok() {
                std::fs::write(&path, &want).unwrap();
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is out of date; regenerate it with NOTION_SYNC_BLESS=1 cargo test --lib statements",
                path.display()
            );
        }
    }

    /// Every Databricks statement sqlparser has a grammar for parses with its Databricks dialect; the
    /// PostgreSQL ones parse with its PostgreSQL dialect (PostgreSQL 15 itself runs them in the tests).
    #[test]
    fn generated_statements_parse() {
        let sql = Sql::new(Dialect::Databricks, Some("main"), "bronze", "session");
        let mut parsed = 0;
        for (name, statement) in catalogue(&sql) {
            if !parsable(name) {
                continue;
            }
            Parser::parse_sql(&DatabricksDialect {}, &statement)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{statement}"));
            parsed += 1;
        }
        assert!(parsed >= 20, "{parsed} statements parsed");
        let sql = Sql::new(Dialect::Postgres, None, "bronze", "session");
        for (name, statement) in catalogue(&sql) {
            if name == "create stage" || name.starts_with("insert stage") {
                // CREATE TEMPORARY TABLE IF NOT EXISTS and ODBC's `?` markers: outside sqlparser's
                // PostgreSQL grammar (psqlODBC rewrites the markers).
                continue;
            }
            Parser::parse_sql(&PostgreSqlDialect {}, &statement)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{statement}"));
        }
        for dialect in Dialect::ALL {
            let sql = Sql::new(dialect, Some("main"), "bronze", "session");
            for spec in ddl::tables() {
                let statement = ddl::create_table(&sql, spec);
                if dialect == Dialect::Postgres {
                    Parser::parse_sql(&PostgreSqlDialect {}, &statement)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{statement}", spec.name));
                }
            }
        }
    }
}
