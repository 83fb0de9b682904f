//! Environment variables: the one place secrets come from.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};

/// Every variable the connector reads besides the per-database `NOTION_<NAME>_DB_ID` ones. `.env.example`
/// documents each; a test keeps this list, the struct below and that file in sync.
pub const ENV_VARS: &[&str] = &[
    "NOTION_API_KEY",
    "NOTION_API_KEY_FILE",
    "NOTION_API_BASE_URL",
    "NOTION_VERSION",
    "NOTION_REQUESTS_PER_MINUTE",
    "NOTION_SYNC_CONFIG",
    "LAKEHOUSE_URI",
    "BRONZE_SCHEMA",
    "NOTION_SYNC_LOOKBACK",
    "NOTION_SYNC_BATCH_PAGES",
    "NOTION_SYNC_COMMIT_INTERVAL",
    "NOTION_SYNC_WATERMARK_INTERVAL",
    "NOTION_MAX_RETRIES",
    "NOTION_TIMEOUT_SECONDS",
    "NOTION_SYNC_CONCURRENCY",
    "NOTION_SYNC_LOCK_TTL",
    "NOTION_SYNC_ACCEPT_UNSAFE_COMMITS",
    "NOTION_SYNC_STORAGE_RETRY_TIMEOUT",
    "NOTION_SYNC_INCLUDE",
    "NOTION_SYNC_CONTENT_DEPTH",
    "NOTION_SYNC_SINK",
    "NOTION_SYNC_VIEWS",
    "NOTION_SYNC_VIEWS_SCHEMA",
    "NOTION_SYNC_VIEWS_DIR",
    "WAREHOUSE_DIALECT",
    "WAREHOUSE_ODBC_CONNECTION_STRING",
    "WAREHOUSE_ODBC_CONNECTION_STRING_FILE",
    "DATABRICKS_HOST",
    "DATABRICKS_HTTP_PATH",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_CATALOG",
    "DATABRICKS_ODBC_DRIVER",
    "DATABRICKS_STAGING_VOLUME",
    "NOTION_SYNC_PUSHGATEWAY_URL",
    "NOTION_SYNC_INTEGRATION_NAME",
    "OPENLINEAGE_URL",
    "OPENLINEAGE_ENDPOINT",
    "OPENLINEAGE_API_KEY",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_NAMESPACE",
    "OPENLINEAGE_JOB_NAME",
    "OPENLINEAGE_PARENT_ID",
    "OPENLINEAGE_ROOT_PARENT_ID",
];

/// The raw values of the variables in [`ENV_VARS`] (decoded by `envy`), plus the database id variables.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct EnvVars {
    /// `NOTION_API_KEY`: the integration token.
    pub notion_api_key: Option<String>,
    /// `NOTION_API_KEY_FILE`: path of a file holding the token.
    pub notion_api_key_file: Option<String>,
    /// `NOTION_API_BASE_URL`: API root, default `https://api.notion.com`.
    pub notion_api_base_url: Option<String>,
    /// `NOTION_VERSION`: `Notion-Version` header.
    pub notion_version: Option<String>,
    /// `NOTION_REQUESTS_PER_MINUTE`: request budget of the token.
    pub notion_requests_per_minute: Option<String>,
    /// `NOTION_SYNC_CONFIG`: path of `notion-sync.toml`.
    pub notion_sync_config: Option<String>,
    /// `LAKEHOUSE_URI`: lake root.
    pub lakehouse_uri: Option<String>,
    /// `BRONZE_SCHEMA`: schema folder.
    pub bronze_schema: Option<String>,
    /// `NOTION_SYNC_LOOKBACK`: overlap before the watermark.
    pub notion_sync_lookback: Option<String>,
    /// `NOTION_SYNC_BATCH_PAGES`: pages per commit.
    pub notion_sync_batch_pages: Option<String>,
    /// `NOTION_SYNC_COMMIT_INTERVAL`: shortest time between two commits of a data source.
    pub notion_sync_commit_interval: Option<String>,
    /// `NOTION_SYNC_WATERMARK_INTERVAL`: longest time between two watermark saves of a long read.
    pub notion_sync_watermark_interval: Option<String>,
    /// `NOTION_MAX_RETRIES`: retries of a failed read.
    pub notion_max_retries: Option<String>,
    /// `NOTION_TIMEOUT_SECONDS`: per-request timeout.
    pub notion_timeout_seconds: Option<String>,
    /// `NOTION_SYNC_CONCURRENCY`: databases synced at once.
    pub notion_sync_concurrency: Option<String>,
    /// `NOTION_SYNC_LOCK_TTL`: how long a database's lease lives unless its holder renews it.
    pub notion_sync_lock_ttl: Option<String>,
    /// `NOTION_SYNC_ACCEPT_UNSAFE_COMMITS`: `true` acknowledges `AWS_S3_ALLOW_UNSAFE_RENAME` (one writer only).
    pub notion_sync_accept_unsafe_commits: Option<String>,
    /// `NOTION_SYNC_STORAGE_RETRY_TIMEOUT`: how long an object-store request is retried before it fails.
    pub notion_sync_storage_retry_timeout: Option<String>,
    /// `NOTION_SYNC_INCLUDE`: what to sync besides page properties, for every database.
    pub notion_sync_include: Option<String>,
    /// `NOTION_SYNC_CONTENT_DEPTH`: deepest block level read.
    pub notion_sync_content_depth: Option<String>,
    /// `NOTION_SYNC_SINK`: where bronze lands, `delta` (default) or `warehouse`.
    pub notion_sync_sink: Option<String>,
    /// `NOTION_SYNC_VIEWS`: `1` makes `sync` regenerate the typed views of a database whose schema changed.
    pub notion_sync_views: Option<String>,
    /// `NOTION_SYNC_VIEWS_SCHEMA`: warehouse schema of the typed views, default `silver`.
    pub notion_sync_views_schema: Option<String>,
    /// `NOTION_SYNC_VIEWS_DIR`: folder the views' SQL is written under, default `sql/generated`.
    pub notion_sync_views_dir: Option<String>,
    /// `WAREHOUSE_DIALECT`: `databricks` (default) or `postgres`.
    pub warehouse_dialect: Option<String>,
    /// `WAREHOUSE_ODBC_CONNECTION_STRING`: the full ODBC connection string of the warehouse (a secret).
    pub warehouse_odbc_connection_string: Option<String>,
    /// `WAREHOUSE_ODBC_CONNECTION_STRING_FILE`: path of a file holding it.
    pub warehouse_odbc_connection_string_file: Option<String>,
    /// `DATABRICKS_HOST`: workspace host name.
    pub databricks_host: Option<String>,
    /// `DATABRICKS_HTTP_PATH`: the SQL warehouse's HTTP path.
    pub databricks_http_path: Option<String>,
    /// `DATABRICKS_TOKEN`: a personal access token (a secret).
    pub databricks_token: Option<String>,
    /// `DATABRICKS_CLIENT_ID`: a service principal's OAuth client id (M2M).
    pub databricks_client_id: Option<String>,
    /// `DATABRICKS_CLIENT_SECRET`: its OAuth secret (a secret).
    pub databricks_client_secret: Option<String>,
    /// `DATABRICKS_CATALOG`: Unity Catalog catalog of the bronze schema.
    pub databricks_catalog: Option<String>,
    /// `DATABRICKS_ODBC_DRIVER`: the Databricks ODBC driver's name or library path.
    pub databricks_odbc_driver: Option<String>,
    /// `DATABRICKS_STAGING_VOLUME`: Volume large batches are staged through.
    pub databricks_staging_volume: Option<String>,
    /// `NOTION_SYNC_PUSHGATEWAY_URL`: Prometheus Pushgateway the run's metrics are pushed to at exit.
    pub notion_sync_pushgateway_url: Option<String>,
    /// `NOTION_SYNC_INTEGRATION_NAME`: the `integration` grouping label of pushed metrics.
    pub notion_sync_integration_name: Option<String>,
    /// `OPENLINEAGE_URL`: OpenLineage receiver root; when set (and not disabled), `sync` emits run events.
    pub openlineage_url: Option<String>,
    /// `OPENLINEAGE_ENDPOINT`: path of the lineage API under the receiver root, default `api/v1/lineage`.
    pub openlineage_endpoint: Option<String>,
    /// `OPENLINEAGE_API_KEY`: bearer token of the receiver (a secret).
    pub openlineage_api_key: Option<String>,
    /// `OPENLINEAGE_DISABLED`: `true` turns event emission off even when a receiver is set.
    pub openlineage_disabled: Option<String>,
    /// `OPENLINEAGE_NAMESPACE`: job namespace of the events, default `notion-sync`.
    pub openlineage_namespace: Option<String>,
    /// `OPENLINEAGE_JOB_NAME`: job name of the events, default `notion_sync.sync`.
    pub openlineage_job_name: Option<String>,
    /// `OPENLINEAGE_PARENT_ID`: parent run as `<namespace>/<name>/<run_id>` (Airflow macro `lineage_parent_id`).
    pub openlineage_parent_id: Option<String>,
    /// `OPENLINEAGE_ROOT_PARENT_ID`: root run as `<namespace>/<name>/<run_id>` (Airflow macro `lineage_root_parent_id`).
    pub openlineage_root_parent_id: Option<String>,
    /// `NOTION_<NAME>_DB_ID` variables, as (variable, value), sorted.
    #[serde(skip)]
    pub database_ids: Vec<(String, String)>,
    /// Object-store variables ([`super::storage::STORAGE_VARS`]), as (variable, value), sorted.
    #[serde(skip)]
    pub storage: Vec<(String, String)>,
}

impl EnvVars {
    /// Decodes the variables from `(name, value)` pairs (e.g. `std::env::vars()`); unrelated ones are ignored.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, envy::Error> {
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let mut vars: EnvVars = envy::from_iter(
            pairs
                .iter()
                .filter(|(k, _)| ENV_VARS.contains(&k.as_str()))
                .cloned(),
        )?;
        vars.storage = pairs
            .iter()
            .filter(|(k, _)| super::storage::is_storage_var(k))
            .cloned()
            .collect();
        vars.storage.sort();
        vars.database_ids = pairs
            .into_iter()
            .filter(|(k, _)| is_database_var(k))
            .collect();
        vars.database_ids.sort();
        Ok(vars)
    }

    /// The process environment.
    pub fn from_process() -> Result<Self, envy::Error> {
        Self::from_os_pairs(std::env::vars_os())
    }

    /// Decodes the variables from `(name, value)` pairs as the OS gives them (e.g. `std::env::vars_os()`).
    /// A variable the connector reads must be UTF-8 text (the error names it, never its value); any other
    /// variable that is not text is ignored.
    pub fn from_os_pairs(
        pairs: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, envy::Error> {
        let mut text = Vec::new();
        for (name, value) in pairs {
            // The names the connector reads are ASCII: a name that is not text is not one of them.
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => text.push((name, value)),
                Err(_) if is_read(&name) => {
                    return Err(envy::Error::Custom(format!(
                        "{name} is not valid UTF-8 text; set it to a UTF-8 value"
                    )));
                }
                Err(_) => {}
            }
        }
        Self::from_pairs(text)
    }

    /// `(variable, value)` of every `NOTION_<NAME>_DB_ID`.
    pub fn database_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.database_ids
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Whether the connector reads the variable `name`.
fn is_read(name: &str) -> bool {
    ENV_VARS.contains(&name) || is_database_var(name) || super::storage::is_storage_var(name)
}

fn is_database_var(name: &str) -> bool {
    name.len() > "NOTION__DB_ID".len() && name.starts_with("NOTION_") && name.ends_with("_DB_ID")
}

#[cfg(test)]
mod tests {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStrExt;

    use super::EnvVars;

    fn os(text: &[u8]) -> OsString {
        OsStr::from_bytes(text).to_os_string()
    }

    #[test]
    fn non_utf8_values_fail_only_for_variables_read() {
        let good = (os(b"NOTION_SYNC_LOOKBACK"), os(b"5m"));
        let unrelated = [
            (os(b"LANG_EXTRA"), os(b"caf\xe9")),
            (os(b"\xff\xfe"), os(b"x")),
        ];
        let vars = EnvVars::from_os_pairs([good.clone()].into_iter().chain(unrelated.clone()))
            .expect("unrelated variables are ignored");
        assert_eq!(vars.notion_sync_lookback.as_deref(), Some("5m"));
        for name in [
            "NOTION_SYNC_LOOKBACK",
            "NOTION_API_KEY",
            "NOTION_PROJECTS_DB_ID",
        ] {
            let bad = (os(name.as_bytes()), os(b"ntn_secret\xff"));
            let err = EnvVars::from_os_pairs([bad].into_iter().chain(unrelated.clone()))
                .expect_err("a variable the connector reads must be text")
                .to_string();
            assert!(err.contains(name), "{err}");
            assert!(!err.contains("ntn_secret"), "the value stays out: {err}");
        }
    }
}
