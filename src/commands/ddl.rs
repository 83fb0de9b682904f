//! `notion-sync ddl`: the SQL that registers the bronze tables in a catalog.

use crate::cli::{DdlArgs, DdlDialect};
use crate::config::{ConfigError, Settings};
use crate::exit;

/// The Unity Catalog registration template (`sql/databricks/register_external_tables.sql`).
const DATABRICKS_REGISTER: &str = include_str!("../../sql/databricks/register_external_tables.sql");

/// Prints the statements for `args.dialect`.
pub fn run(settings: &Settings, args: &DdlArgs) -> u8 {
    match render(settings, args) {
        Ok(sql) => {
            print!("{sql}");
            exit::OK
        }
        Err(e) => super::report_config(&e),
    }
}

/// The statements, with the template's placeholders filled in.
pub fn render(settings: &Settings, args: &DdlArgs) -> Result<String, ConfigError> {
    match args.dialect {
        DdlDialect::Databricks => {
            let location = match &args.location {
                Some(l) => l.trim_end_matches('/').to_string(),
                None => format!(
                    "{}/{}",
                    settings.lakehouse_uri.trim_end_matches('/'),
                    settings.bronze_schema
                ),
            };
            if !location.contains("://") || location.contains(['\'', '\\']) {
                return Err(ConfigError::new(
                    "--location",
                    format!(
                        "{location:?} must be the tables' object-store URI (s3://, abfss://, gs://) \
                         without quotes or backslashes; by default it is LAKEHOUSE_URI/BRONZE_SCHEMA"
                    ),
                ));
            }
            let schema = args.schema.as_deref().unwrap_or(&settings.bronze_schema);
            identifier("--catalog", &args.catalog)?;
            identifier("--schema", schema)?;
            Ok(DATABRICKS_REGISTER
                .replace("${catalog}", &args.catalog)
                .replace("${schema}", schema)
                .replace("${location}", &location))
        }
    }
}

/// A catalog or schema name usable between backticks.
fn identifier(flag: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.contains(['`', ';', '\n', '.']) {
        return Err(ConfigError::new(
            flag,
            format!("{name:?} is not a catalog or schema name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvVars;
    use crate::sink::tables;

    fn settings(lake: &str) -> Settings {
        let env = EnvVars::from_pairs([("LAKEHOUSE_URI".to_string(), lake.to_string())]).unwrap();
        Settings::from_sources(&env, None, &|_| Err(std::io::ErrorKind::NotFound.into())).unwrap()
    }

    fn args(location: Option<&str>) -> DdlArgs {
        DdlArgs {
            dialect: DdlDialect::Databricks,
            location: location.map(str::to_string),
            catalog: "main".into(),
            schema: None,
        }
    }

    #[test]
    fn registers_every_bronze_table_once_at_its_location() {
        let sql = render(&settings("./lake"), &args(Some("s3://bucket/lake/bronze/"))).unwrap();
        assert!(!sql.contains("${"), "{sql}");
        assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS `main`.`bronze`;"));
        let creates: Vec<&str> = sql
            .lines()
            .filter(|l| l.starts_with("CREATE TABLE"))
            .collect();
        assert_eq!(creates.len(), tables::ALL.len(), "{sql}");
        for table in tables::ALL {
            let want = format!(
                "CREATE TABLE IF NOT EXISTS `main`.`bronze`.`{table}` USING DELTA LOCATION \
                 's3://bucket/lake/bronze/{table}';"
            );
            assert_eq!(creates.iter().filter(|l| **l == want).count(), 1, "{table}");
        }
    }

    #[test]
    fn location_defaults_to_the_configured_lake() {
        let sql = render(
            &settings("abfss://c@acct.dfs.core.windows.net/lake"),
            &args(None),
        )
        .unwrap();
        assert!(sql.contains("'abfss://c@acct.dfs.core.windows.net/lake/bronze/notion_raw_pages'"));
    }

    #[test]
    fn unusable_names_and_locations_are_refused() {
        let s = settings("./lake");
        assert_eq!(render(&s, &args(None)).unwrap_err().setting, "--location");
        assert_eq!(
            render(&s, &args(Some("s3://b/it's"))).unwrap_err().setting,
            "--location"
        );
        let mut bad = args(Some("s3://b/l"));
        bad.catalog = "main`; DROP".into();
        assert_eq!(render(&s, &bad).unwrap_err().setting, "--catalog");
    }
}
