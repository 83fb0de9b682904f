//! `notion-sync views`: a typed view per database, written as SQL and, with `--apply`, created in the
//! warehouse. `sync` calls [`refresh`] when `NOTION_SYNC_VIEWS=1`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{open_sink, report_sink};
use crate::cli::ViewsArgs;
#[cfg(feature = "warehouse")]
use crate::config::Dialect;
use crate::config::Settings;
use crate::exit;
use crate::query::{self, SAMPLE_PAGES};
use crate::sink::{Sink, SinkError, tables};
use crate::views::render::{self, Target, ViewDialect};
use crate::views::{self, ViewSpec};

/// Runs `views`.
pub async fn run(settings: &Settings, args: &ViewsArgs) -> u8 {
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let dialect = args.dialect.unwrap_or_else(|| native(&sink));
    if args.apply
        && let Err(message) = can_apply(&sink, dialect)
    {
        eprintln!("error: --apply: {message}");
        return exit::USAGE;
    }
    let all = match plan(&sink).await {
        Ok(v) => v,
        Err(e) => return report_sink(&e),
    };
    let selected = match select(all, &args.databases) {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    if selected.is_empty() {
        eprintln!(
            "error: no schema snapshot in {}; run `notion-sync sync` first",
            tables::DATABASES
        );
        return exit::USAGE;
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| settings.views.dir.clone());
    let target = target(settings, dialect);
    let written = match write_files(&dir, dialect, &target, &selected) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: writing the views under {}: {e}", dir.display());
            return exit::USAGE;
        }
    };
    for (v, path, _) in &written {
        println!(
            "{}: {} columns from {} properties -> {}",
            v.name,
            views::FIXED.len() + v.columns.len(),
            distinct_properties(v),
            path.display()
        );
    }
    if args.apply {
        if let Err(e) = apply(&sink, dialect, &target, &selected).await {
            return report_sink(&e);
        }
        let schema = target.schema.as_deref().unwrap_or_default();
        println!("created {} view(s) in {schema}", selected.len() * 2);
    }
    exit::OK
}

/// After a sync (`NOTION_SYNC_VIEWS=1`): rewrites the views of `databases` whose SQL changed (a schema,
/// a rename, a formula's result type) and, on the warehouse, creates them again. Failures are logged,
/// never fail the sync whose data is already committed.
pub async fn refresh(settings: &Settings, sink: &Sink, databases: &[String]) {
    let dialect = native(sink);
    let result = async {
        let selected: Vec<ViewSpec> = plan(sink)
            .await?
            .into_iter()
            .filter(|v| databases.contains(&v.database_name))
            .collect();
        let target = target(settings, dialect);
        let written =
            write_files(&settings.views.dir, dialect, &target, &selected).map_err(|e| {
                SinkError::Internal {
                    table: "views".into(),
                    reason: format!("writing under {}: {e}", settings.views.dir.display()),
                }
            })?;
        let changed: Vec<ViewSpec> = written
            .into_iter()
            .filter(|(_, _, changed)| *changed)
            .map(|(v, _, _)| v)
            .collect();
        if !changed.is_empty() && can_apply(sink, dialect).is_ok() {
            apply(sink, dialect, &target, &changed).await?;
        }
        Ok::<_, SinkError>(changed)
    }
    .await;
    match result {
        Ok(changed) if !changed.is_empty() => {
            let names: Vec<&str> = changed.iter().map(|v| v.name.as_str()).collect();
            println!("views regenerated: {}", names.join(", "));
            tracing::info!(views = ?names, "typed views regenerated");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "typed views could not be regenerated"),
    }
}

/// The dialect of the configured sink's own views.
fn native(sink: &Sink) -> ViewDialect {
    match sink {
        Sink::Delta(_) => ViewDialect::Datafusion,
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(w) => match w.sql().dialect {
            Dialect::Postgres => ViewDialect::Postgres,
            Dialect::Databricks => ViewDialect::Databricks,
        },
    }
}

fn can_apply(sink: &Sink, dialect: ViewDialect) -> Result<(), String> {
    match sink {
        Sink::Delta(_) => Err(
            "views are created in a SQL warehouse (NOTION_SYNC_SINK=warehouse); on a Delta lake \
             `notion-sync query` registers them itself, and the generated files can be run in any engine"
                .into(),
        ),
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(_) if dialect != native(sink) => Err(format!(
            "the warehouse speaks {}, not {}; drop --dialect or pick its own",
            native(sink).as_str(),
            dialect.as_str()
        )),
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(_) => Ok(()),
    }
}

/// Every database's view, planned from the sink's schema snapshots and sample pages.
async fn plan(sink: &Sink) -> Result<Vec<ViewSpec>, SinkError> {
    match sink {
        Sink::Delta(lake) => match query::latest_views(lake).await {
            Ok(specs) => Ok(specs),
            Err(query::QueryError::Lake(e)) => Err(e),
            Err(e) => Err(SinkError::Internal {
                table: tables::DATABASES.into(),
                reason: e.to_string(),
            }),
        },
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(w) => {
            let schemas = sink.read_schemas().await?;
            let mut samples = HashMap::new();
            for db in query::needs_samples(&schemas) {
                let s = w.sample_properties(&db, SAMPLE_PAGES).await?;
                samples.insert(db, s);
            }
            Ok(views::plan(&schemas, &samples))
        }
    }
}

/// The views of `names` (all when empty); an unknown name is an error listing the known ones.
fn select(all: Vec<ViewSpec>, names: &[String]) -> Result<Vec<ViewSpec>, String> {
    if names.is_empty() {
        return Ok(all);
    }
    if let Some(missing) = names
        .iter()
        .find(|n| !all.iter().any(|v| &v.database_name == *n))
    {
        let known: Vec<&str> = all.iter().map(|v| v.database_name.as_str()).collect();
        return Err(format!(
            "-d {missing}: no schema snapshot of a database named {missing:?} (known: {}); run \
             `notion-sync sync -d {missing}` first",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    Ok(all
        .into_iter()
        .filter(|v| names.contains(&v.database_name))
        .collect())
}

/// Where `dialect`'s views read bronze and are created.
fn target(settings: &Settings, dialect: ViewDialect) -> Target {
    let catalog = settings.warehouse().and_then(|w| w.catalog.clone());
    let qualify = |schema: &str| match (dialect, &catalog) {
        (ViewDialect::Databricks, Some(c)) => format!("{c}.{schema}"),
        _ => schema.to_string(),
    };
    match dialect {
        ViewDialect::Datafusion => Target {
            pages: tables::PAGES.into(),
            schema: None,
        },
        _ => Target {
            pages: format!("{}.{}", qualify(&settings.bronze_schema), tables::PAGES),
            schema: Some(qualify(&settings.views.schema)),
        },
    }
}

/// Writes `<dir>/<dialect>/<view>.sql` for each view; returns each view, its file and whether the file
/// changed.
fn write_files(
    dir: &Path,
    dialect: ViewDialect,
    target: &Target,
    views: &[ViewSpec],
) -> std::io::Result<Vec<(ViewSpec, PathBuf, bool)>> {
    let dir = dir.join(dialect.as_str());
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    for v in views {
        let path = dir.join(format!("{}.sql", v.name));
        let text = render::script(dialect, target, std::slice::from_ref(v));
        let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str());
        if changed {
            let tmp = path.with_extension("sql.tmp");
            std::fs::write(&tmp, &text)?;
            std::fs::rename(&tmp, &path)?;
        }
        out.push((v.clone(), path, changed));
    }
    Ok(out)
}

/// Creates the schema and every view of `views` in the warehouse, in one unit.
async fn apply(
    sink: &Sink,
    dialect: ViewDialect,
    target: &Target,
    views: &[ViewSpec],
) -> Result<(), SinkError> {
    let mut statements: Vec<String> = render::create_schema(dialect, target).into_iter().collect();
    for v in views {
        statements.extend(render::statements(dialect, target, v));
    }
    match sink {
        #[cfg(feature = "warehouse")]
        Sink::Warehouse(w) => w.apply("views", statements).await,
        _ => {
            let _ = statements;
            Ok(())
        }
    }
}

fn distinct_properties(v: &ViewSpec) -> usize {
    let mut ids: Vec<(&str, &[String])> = v
        .columns
        .iter()
        .map(|c| (c.extract.prop_type.as_str(), c.extract.ids.as_slice()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}
