//! The bronze tables' DDL for each warehouse dialect, generated from the sink-neutral specs and kept in
//! `sql/<dialect>/bronze.sql` (a test keeps those files equal to what is generated; `init-tables` runs
//! the statements).

use crate::config::Dialect;
use crate::sink::spec::{self, Kind, TableSpec};

use super::dialect::Sql;

/// The warehouse's lease table: one row per lease document (see [`crate::sink::lease`]).
pub const LEASES: TableSpec = TableSpec {
    name: "notion_sync_leases",
    columns: &[
        spec::Col {
            name: "lease_key",
            kind: Kind::Str,
            nullable: false,
        },
        spec::Col {
            name: "epoch",
            kind: Kind::I64,
            nullable: false,
        },
        spec::Col {
            name: "document",
            kind: Kind::Str,
            nullable: false,
        },
        spec::Col {
            name: "modified_at",
            kind: Kind::Ts,
            nullable: false,
        },
    ],
    partition: None,
    comment: "One-writer leases of the databases synced into this schema (one row per lease epoch).",
};

/// Every warehouse table: the bronze tables, then the leases.
pub fn tables() -> Vec<&'static TableSpec> {
    spec::ALL.iter().chain([&LEASES]).collect()
}

/// The columns identifying a row of `table` (PostgreSQL primary key, Databricks clustering).
pub fn key_of(table: &str) -> &'static [&'static str] {
    use crate::sink::tables::*;
    match table {
        PAGES => &["database_id", "page_id"],
        VERSIONS => &["page_id", "payload_sha256"],
        DATABASES => &["data_source_id", "schema_sha256"],
        WATERMARKS => &["database_id", "data_source_id"],
        RUNS => &["run_id", "database_id"],
        REJECTS => &["raw_sha256"],
        BLOCKS => &["block_id", "page_id"],
        USERS => &["user_id"],
        COMMENTS => &["comment_id"],
        RESTORE_LOG => &["restore_id", "step"],
        FILES => &["file_key"],
        _ => &["lease_key", "epoch"],
    }
}

/// Tables whose key the sink relies on being unique: a PostgreSQL primary key turns a racing duplicate
/// into an error that is retried (the others are appended under a guard or keep history).
fn unique_key(table: &str) -> bool {
    use crate::sink::tables::*;
    matches!(
        table,
        PAGES | VERSIONS | WATERMARKS | BLOCKS | USERS | COMMENTS | FILES
    ) || table == LEASES.name
}

/// `CREATE TABLE IF NOT EXISTS` of one table.
pub fn create_table(sql: &Sql, spec: &TableSpec) -> String {
    let mut cols: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!("  {} {}{null}", c.name, sql.type_of(c.kind))
        })
        .collect();
    let key = key_of(spec.name).join(", ");
    match sql.dialect {
        Dialect::Postgres => {
            if unique_key(spec.name) {
                cols.push(format!("  PRIMARY KEY ({key})"));
            }
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n{}\n)",
                sql.table(spec.name),
                cols.join(",\n")
            )
        }
        Dialect::Databricks => format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n)\nUSING DELTA\nCLUSTER BY ({key})\nCOMMENT {}\n\
             TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')",
            sql.table(spec.name),
            cols.join(",\n"),
            crate::sink::sql_str(spec.comment)
        ),
    }
}

/// A table's comment (PostgreSQL sets it in its own statement).
pub fn comment(sql: &Sql, spec: &TableSpec) -> Option<String> {
    (sql.dialect == Dialect::Postgres).then(|| {
        format!(
            "COMMENT ON TABLE {} IS {}",
            sql.table(spec.name),
            crate::sink::sql_str(spec.comment)
        )
    })
}

/// Secondary indexes the sink's lookups use (PostgreSQL; Databricks clusters instead).
pub fn indexes(sql: &Sql, spec: &TableSpec) -> Vec<String> {
    use crate::sink::tables::*;
    if sql.dialect != Dialect::Postgres {
        return Vec::new();
    }
    let columns: &[&str] = match spec.name {
        // Moves look a page up in every database.
        PAGES => &["page_id"],
        COMMENTS => &["page_id"],
        BLOCKS => &["page_id"],
        _ => return Vec::new(),
    };
    vec![format!(
        "CREATE INDEX IF NOT EXISTS {}_by_{} ON {} ({})",
        spec.name,
        columns.join("_"),
        sql.table(spec.name),
        columns.join(", ")
    )]
}

/// Every statement creating the warehouse's tables, in order.
pub fn statements(sql: &Sql) -> Vec<String> {
    let mut out = Vec::new();
    for spec in tables() {
        out.push(create_table(sql, spec));
        out.extend(comment(sql, spec));
        out.extend(indexes(sql, spec));
    }
    out
}

/// The DDL file of a dialect, as committed under `sql/<dialect>/bronze.sql` (tables in schema `bronze`,
/// catalog `main` on Databricks; `init-tables` generates the same statements for the configured names).
pub fn file_text(dialect: Dialect) -> String {
    let sql = Sql::new(dialect, Some("main"), "bronze", "session");
    let mut text = format!(
        "-- notion-sync bronze tables, {} dialect. Generated from the table specs (src/sink/spec.rs);\n\
         -- `notion-sync init-tables` runs the same statements for the configured schema.\n",
        dialect.as_str()
    );
    for statement in statements(&sql) {
        text.push('\n');
        text.push_str(&statement);
        text.push_str(";\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `sql/<dialect>/bronze.sql` files are what the specs generate: a column added to a
    /// spec (the Delta schema) without regenerating them fails here. `NOTION_SYNC_BLESS=1` rewrites them.
    #[test]
    fn committed_ddl_files_match_the_table_specs() {
        for dialect in Dialect::ALL {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("sql")
                .join(dialect.as_str())
                .join("bronze.sql");
            let want = file_text(dialect);
            if std::env::var("NOTION_SYNC_BLESS").is_ok() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &want).unwrap();
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is out of date; regenerate it with NOTION_SYNC_BLESS=1 cargo test --lib ddl",
                path.display()
            );
            for spec in tables() {
                for col in spec.columns {
                    assert!(
                        have.contains(&format!("  {} ", col.name)),
                        "{} lacks {}.{}",
                        path.display(),
                        spec.name,
                        col.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_key_column_exists() {
        for spec in tables() {
            for k in key_of(spec.name) {
                assert!(
                    spec.columns.iter().any(|c| c.name == *k),
                    "{}: {k}",
                    spec.name
                );
            }
        }
    }
}
