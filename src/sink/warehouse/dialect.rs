//! The SQL of each warehouse dialect: names, types, casts, staging tables and the guarded MERGE.
//!
//! Values travel as text into a staging table whose columns are all text; the statements that move them
//! into bronze cast each column to its type, so binding never depends on a driver's type inference.
//! Timestamps are read back as microseconds since the epoch, booleans as `true`/`false`, so reading is
//! exact on both dialects.

use crate::config::Dialect;
use crate::sink::delta::TableAt;
use crate::sink::plan::merge::MergePlan;
use crate::sink::spec::{Kind, TableSpec};

/// The column a staging table adds to tell flag rows from full rows.
pub const FLAG_COLUMN: &str = crate::sink::plan::entities::FLAG_COLUMN;

/// Where a dialect's tables live.
#[derive(Debug, Clone)]
pub struct Sql {
    /// The dialect.
    pub dialect: Dialect,
    /// `catalog.schema` (Databricks) or `schema` (PostgreSQL).
    pub namespace: String,
    /// The schema alone.
    pub schema: String,
    /// Tells this process's staging tables from another's (Databricks has no temporary tables).
    pub session: String,
}

impl Sql {
    /// The SQL of `dialect` for tables in `schema` (under `catalog` on Databricks).
    pub fn new(dialect: Dialect, catalog: Option<&str>, schema: &str, session: &str) -> Sql {
        let namespace = match (dialect, catalog) {
            (Dialect::Databricks, Some(c)) => format!("{c}.{schema}"),
            _ => schema.to_string(),
        };
        Sql {
            dialect,
            namespace,
            schema: schema.to_string(),
            session: session.to_string(),
        }
    }

    /// The qualified name of bronze table `name`.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.namespace)
    }

    /// Up to `limit` live pages' `properties` of `database_id`.
    pub fn sample_properties(&self, database_id: &str, limit: usize) -> String {
        format!(
            "SELECT properties FROM {} WHERE database_id = {} AND NOT is_deleted LIMIT {limit}",
            self.table(crate::sink::tables::PAGES),
            crate::sink::sql_str(database_id)
        )
    }

    /// The SQL type of a column kind.
    pub fn type_of(&self, kind: Kind) -> &'static str {
        match (self.dialect, kind) {
            (Dialect::Postgres, Kind::Str) => "TEXT",
            (Dialect::Databricks, Kind::Str) => "STRING",
            (Dialect::Postgres, Kind::Ts) => "TIMESTAMPTZ",
            (Dialect::Databricks, Kind::Ts) => "TIMESTAMP",
            (_, Kind::Bool) => "BOOLEAN",
            (_, Kind::I64) => "BIGINT",
        }
    }

    /// The text type of staging columns.
    fn text_type(&self) -> &'static str {
        self.type_of(Kind::Str)
    }

    /// `expr` (text) cast to a column of `kind`.
    pub fn cast(&self, expr: &str, kind: Kind) -> String {
        match kind {
            Kind::Str => expr.to_string(),
            _ => format!("CAST({expr} AS {})", self.type_of(kind)),
        }
    }

    /// `column` of `kind` as it is read back: timestamps as epoch microseconds, booleans as text.
    pub fn read_expr(&self, column: &str, kind: Kind) -> String {
        match (self.dialect, kind) {
            (Dialect::Postgres, Kind::Ts) => {
                format!("CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)")
            }
            (Dialect::Databricks, Kind::Ts) => format!("unix_micros({column})"),
            (_, Kind::Bool) => {
                format!("CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END")
            }
            _ => column.to_string(),
        }
    }

    /// The staging table of `spec` for this session.
    pub fn stage(&self, spec: &TableSpec) -> String {
        match self.dialect {
            Dialect::Postgres => format!("pg_temp.stage_{}", spec.name),
            Dialect::Databricks => {
                format!("{}.__stage_{}_{}", self.namespace, spec.name, self.session)
            }
        }
    }

    /// Creates the staging table of `spec` (text columns and the flag column) if it does not exist.
    pub fn create_stage(&self, spec: &TableSpec) -> String {
        let mut cols: Vec<String> = spec
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, self.text_type()))
            .collect();
        cols.push(format!("{FLAG_COLUMN} {}", self.text_type()));
        let temp = match self.dialect {
            Dialect::Postgres => "TEMPORARY ",
            Dialect::Databricks => "",
        };
        format!(
            "CREATE {temp}TABLE IF NOT EXISTS {} ({})",
            self.stage(spec),
            cols.join(", ")
        )
    }

    /// Empties the staging table of `spec`.
    pub fn clear_stage(&self, spec: &TableSpec) -> String {
        match self.dialect {
            Dialect::Postgres => format!("TRUNCATE {}", self.stage(spec)),
            Dialect::Databricks => format!("DELETE FROM {}", self.stage(spec)),
        }
    }

    /// Drops the staging table of `spec`.
    pub fn drop_stage(&self, spec: &TableSpec) -> String {
        format!("DROP TABLE IF EXISTS {}", self.stage(spec))
    }

    /// `INSERT INTO` the staging table, one row of parameter markers (`rows` of them).
    pub fn insert_stage(&self, spec: &TableSpec, rows: usize) -> String {
        let width = spec.columns.len() + 1;
        let row = format!("({})", vec!["?"; width].join(", "));
        format!(
            "INSERT INTO {} VALUES {}",
            self.stage(spec),
            vec![row; rows.max(1)].join(", ")
        )
    }

    /// Loads a staged NDJSON file of a Volume into the staging table (Databricks).
    pub fn copy_into_stage(&self, spec: &TableSpec, volume_file: &str) -> String {
        let mut cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        cols.push(FLAG_COLUMN);
        format!(
            "COPY INTO {} FROM (SELECT {} FROM '{}') FILEFORMAT = JSON \
             FORMAT_OPTIONS ('primitivesAsString' = 'true') COPY_OPTIONS ('force' = 'true')",
            self.stage(spec),
            cols.join(", "),
            volume_file
        )
    }

    /// The staged rows of `spec`, cast to their types (plus the flag column), as a subquery.
    pub fn staged(&self, spec: &TableSpec) -> String {
        let mut cols: Vec<String> = spec
            .columns
            .iter()
            .map(|c| format!("{} AS {}", self.cast(c.name, c.kind), c.name))
            .collect();
        cols.push(format!(
            "{} AS {FLAG_COLUMN}",
            self.cast(FLAG_COLUMN, Kind::Bool)
        ));
        format!("SELECT {} FROM {}", cols.join(", "), self.stage(spec))
    }

    /// The guarded MERGE of the staged rows into `spec`'s table.
    pub fn merge(&self, spec: &TableSpec, plan: &MergePlan<'_>) -> String {
        let mut sql = format!(
            "MERGE INTO {} AS t USING ({}) AS s ON {}",
            self.table(spec.name),
            self.staged(spec),
            plan.on
        );
        for (guard, columns) in &plan.matched {
            let set: Vec<String> = columns.iter().map(|c| format!("{c} = s.{c}")).collect();
            sql.push_str(" WHEN MATCHED");
            if let Some(g) = guard {
                sql.push_str(&format!(" AND {g}"));
            }
            sql.push_str(&format!(" THEN UPDATE SET {}", set.join(", ")));
        }
        if let Some(guard) = plan.insert {
            let cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
            let values: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
            sql.push_str(" WHEN NOT MATCHED");
            if let Some(g) = guard {
                sql.push_str(&format!(" AND {g}"));
            }
            sql.push_str(&format!(
                " THEN INSERT ({}) VALUES ({})",
                cols.join(", "),
                values.join(", ")
            ));
        }
        sql
    }

    /// Appends the staged rows of `spec` whose `key` is not stored yet (de-duplication in the warehouse).
    pub fn insert_new(&self, spec: &TableSpec, key: &[&str]) -> String {
        let cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        let on: Vec<String> = key.iter().map(|k| format!("x.{k} = s.{k}")).collect();
        format!(
            "INSERT INTO {table} ({cols}) SELECT {scols} FROM ({staged}) AS s WHERE NOT EXISTS \
             (SELECT 1 FROM {table} AS x WHERE {on})",
            table = self.table(spec.name),
            cols = cols.join(", "),
            scols = cols
                .iter()
                .map(|c| format!("s.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            staged = self.staged(spec),
            on = on.join(" AND ")
        )
    }

    /// Appends every staged row of `spec`.
    pub fn insert_all(&self, spec: &TableSpec) -> String {
        let cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM ({}) AS s",
            self.table(spec.name),
            cols.join(", "),
            cols.join(", "),
            self.staged(spec)
        )
    }

    /// `SELECT` of `columns` of `spec` in their read form, with an optional `WHERE` and `ORDER BY`.
    pub fn select(
        &self,
        spec: &TableSpec,
        columns: &[&str],
        filter: Option<&str>,
        order: Option<&str>,
    ) -> String {
        self.select_at(spec, columns, filter, order, &TableAt::Latest)
    }

    /// [`Sql::select`] of the table as it was at `at` (Databricks' time travel; the latest elsewhere).
    pub fn select_at(
        &self,
        spec: &TableSpec,
        columns: &[&str],
        filter: Option<&str>,
        order: Option<&str>,
        at: &TableAt,
    ) -> String {
        let exprs: Vec<String> = columns
            .iter()
            .map(|name| {
                let kind = spec
                    .columns
                    .iter()
                    .find(|c| c.name == *name)
                    .map_or(Kind::Str, |c| c.kind);
                self.read_expr(name, kind)
            })
            .collect();
        let travel = match (self.dialect, at) {
            (Dialect::Databricks, TableAt::Version(v)) => format!(" VERSION AS OF {v}"),
            (Dialect::Databricks, TableAt::Time(t)) => format!(
                " TIMESTAMP AS OF '{}'",
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            _ => String::new(),
        };
        let mut sql = format!(
            "SELECT {} FROM {}{travel}",
            exprs.join(", "),
            self.table(spec.name)
        );
        if let Some(f) = filter {
            sql.push_str(&format!(" WHERE {f}"));
        }
        if let Some(o) = order {
            sql.push_str(&format!(" ORDER BY {o}"));
        }
        sql
    }

    /// The newest schema hash of every data source.
    pub fn latest_schemas(&self) -> String {
        format!(
            "SELECT data_source_id, schema_sha256 FROM (SELECT data_source_id, schema_sha256, \
             row_number() OVER (PARTITION BY data_source_id ORDER BY observed_at DESC) AS n \
             FROM {}) AS x WHERE n = 1",
            self.table(crate::sink::tables::DATABASES)
        )
    }

    /// Live and deleted page rows per database.
    pub fn page_counts(&self) -> String {
        format!(
            "SELECT database_id, SUM(CASE WHEN is_deleted THEN 0 ELSE 1 END), \
             SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) FROM {} GROUP BY database_id",
            self.table(crate::sink::tables::PAGES)
        )
    }

    /// Whether a run of statements can be one transaction (Databricks SQL commits each statement).
    pub fn transactional(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// Whether the schema exists: one row when it does.
    pub fn schema_exists(&self) -> String {
        format!(
            "SELECT schema_name FROM information_schema.schemata WHERE lower(schema_name) = {}",
            crate::sink::sql_str(&self.schema.to_ascii_lowercase())
        )
    }

    /// The bronze tables that exist in the schema.
    pub fn existing_tables(&self) -> String {
        format!(
            "SELECT table_name FROM information_schema.tables WHERE lower(table_schema) = {}",
            crate::sink::sql_str(&self.schema.to_ascii_lowercase())
        )
    }

    /// Statements of the write permission probe: create and drop a table.
    pub fn probe(&self, name: &str) -> [String; 2] {
        let table = self.table(name);
        [
            format!("CREATE TABLE {table} (probe {})", self.type_of(Kind::I64)),
            format!("DROP TABLE {table}"),
        ]
    }

    /// A `PUT` of a local file into a Volume (the Databricks driver's staging command).
    pub fn put(&self, local: &str, volume_file: &str) -> String {
        format!("PUT '{local}' INTO '{volume_file}' OVERWRITE")
    }

    /// A `REMOVE` of a staged Volume file.
    pub fn remove(&self, volume_file: &str) -> String {
        format!("REMOVE '{volume_file}'")
    }
}
