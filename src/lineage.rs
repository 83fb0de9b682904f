//! OpenLineage run events for `sync`: a START event before the sync and a COMPLETE or FAIL event after it,
//! POSTed to the receiver named by `OPENLINEAGE_URL` (the variables the official clients read).
//!
//! Inputs are the synced Notion databases (namespace `notion://notion`, name = database id); outputs are the
//! bronze tables, named after the lake location as the OpenLineage naming spec says (`file` + absolute path,
//! `s3://bucket` + key, `<scheme>://<authority>` + path). Sending is best effort: a receiver that is down
//! costs at most [`SEND_TIMEOUT`] per event and a warning, never the exit code.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::config::{ConfigError, DatabaseConfig, EnvVars, Secret, Settings};
use crate::extract::{DatabaseOutcome, SyncPlan};
use crate::sink::tables;

/// `schemaURL` of every event: the RunEvent of the OpenLineage spec 2-0-2.
pub const RUN_EVENT_SCHEMA: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// `producer` of every event and `_producer` of every facet: this project at this version.
pub const PRODUCER: &str = concat!(
    "https://crates.io/crates/notion-sync/",
    env!("CARGO_PKG_VERSION")
);
/// Job namespace when `OPENLINEAGE_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "notion-sync";
/// Job name when `OPENLINEAGE_JOB_NAME` is unset.
pub const DEFAULT_JOB_NAME: &str = "notion_sync.sync";
/// Lineage API path when `OPENLINEAGE_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "api/v1/lineage";
/// Dataset namespace of the Notion databases.
pub const NOTION_NAMESPACE: &str = "notion://notion";
/// Longest wait for the receiver, per event.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

const PARENT_FACET: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR_FACET: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const DOCUMENTATION_FACET: &str = "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet";
const OUTPUT_STATISTICS_FACET: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";

/// Where and how run events are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageSettings {
    /// Full URL events are POSTed to (`OPENLINEAGE_URL` joined with `OPENLINEAGE_ENDPOINT`).
    pub endpoint: Url,
    /// Bearer token of the receiver.
    pub api_key: Option<Secret>,
    /// Job namespace.
    pub namespace: String,
    /// Job name.
    pub job_name: String,
    /// The run that started this one (e.g. the Airflow task), with its root when known.
    pub parent: Option<ParentRun>,
}

/// A job run that another run points at: `<namespace>/<name>/<run_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// Job namespace.
    pub namespace: String,
    /// Job name.
    pub name: String,
    /// Run id (a UUID).
    pub run_id: String,
}

/// The parent run facet's content: the direct parent and, optionally, the root of the run hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRun {
    /// The run that started this one.
    pub parent: JobRun,
    /// The top of the hierarchy (e.g. the Airflow DAG run).
    pub root: Option<JobRun>,
}

impl JobRun {
    /// Parses `<namespace>/<name>/<run_id>` (the Airflow provider's `lineage_parent_id` format); the name
    /// may itself contain `/`. `setting` names the variable in errors.
    pub fn parse(raw: &str, setting: &str) -> Result<JobRun, ConfigError> {
        let raw = raw.trim();
        let bad = || {
            ConfigError::new(
                setting,
                format!("{raw:?} is not <namespace>/<name>/<run_id> with a UUID run id"),
            )
        };
        let (rest, run_id) = raw.rsplit_once('/').ok_or_else(bad)?;
        let (namespace, name) = rest.split_once('/').ok_or_else(bad)?;
        let run_id = uuid::Uuid::parse_str(run_id).map_err(|_| bad())?;
        if namespace.is_empty() || name.is_empty() {
            return Err(bad());
        }
        Ok(JobRun {
            namespace: namespace.to_string(),
            name: name.to_string(),
            run_id: run_id.hyphenated().to_string(),
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "run": {"runId": self.run_id},
            "job": {"namespace": self.namespace, "name": self.name},
        })
    }
}

impl LineageSettings {
    /// Reads the `OPENLINEAGE_*` variables; `None` when no receiver is set or `OPENLINEAGE_DISABLED` is
    /// true. The other variables are validated even then, so a typo shows before the receiver is added.
    pub fn from_env(env: &EnvVars) -> Result<Option<LineageSettings>, ConfigError> {
        let disabled = parse_flag(env.openlineage_disabled.as_deref(), "OPENLINEAGE_DISABLED")?;
        let namespace = non_blank(
            env.openlineage_namespace.as_deref(),
            "OPENLINEAGE_NAMESPACE",
        )?
        .unwrap_or(DEFAULT_NAMESPACE);
        let job_name = non_blank(env.openlineage_job_name.as_deref(), "OPENLINEAGE_JOB_NAME")?
            .unwrap_or(DEFAULT_JOB_NAME);
        let api_key = parse_api_key(env.openlineage_api_key.as_deref())?;
        let parent = parse_parent(env)?;
        let Some(url) = env.openlineage_url.as_deref() else {
            return Ok(None);
        };
        let endpoint = env
            .openlineage_endpoint
            .as_deref()
            .map(str::trim)
            .unwrap_or(DEFAULT_ENDPOINT);
        let joined = format!(
            "{}/{}",
            url.trim().trim_end_matches('/'),
            endpoint.trim_start_matches('/')
        );
        let endpoint = crate::config::parse_service_url(
            &joined,
            "OPENLINEAGE_URL",
            "must not contain credentials; the key goes in OPENLINEAGE_API_KEY",
        )?;
        if disabled {
            return Ok(None);
        }
        Ok(Some(LineageSettings {
            endpoint,
            api_key,
            namespace: namespace.to_string(),
            job_name: job_name.to_string(),
            parent,
        }))
    }
}

/// `true`/`1`/`yes` or `false`/`0`/`no` (any case); unset is false.
fn parse_flag(raw: Option<&str>, setting: &str) -> Result<bool, ConfigError> {
    match raw.map(|r| r.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ConfigError::new(
            setting,
            format!("{other:?} is not a boolean; use true or false"),
        )),
    }
}

/// The trimmed value, or an error when it is set but blank.
fn non_blank<'a>(raw: Option<&'a str>, setting: &str) -> Result<Option<&'a str>, ConfigError> {
    match raw.map(str::trim) {
        Some("") => Err(ConfigError::new(setting, "must not be blank")),
        other => Ok(other),
    }
}

/// `OPENLINEAGE_API_KEY`, refused (without echoing it) when it could not be sent as a header.
fn parse_api_key(raw: Option<&str>) -> Result<Option<Secret>, ConfigError> {
    let Some(key) = raw.map(str::trim) else {
        return Ok(None);
    };
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::new(
            "OPENLINEAGE_API_KEY",
            "contains whitespace or control characters; paste the key alone",
        ));
    }
    Ok(Some(Secret::new(key)))
}

/// `OPENLINEAGE_PARENT_ID` and `OPENLINEAGE_ROOT_PARENT_ID`; a root alone is an error.
fn parse_parent(env: &EnvVars) -> Result<Option<ParentRun>, ConfigError> {
    let root = env
        .openlineage_root_parent_id
        .as_deref()
        .map(|r| JobRun::parse(r, "OPENLINEAGE_ROOT_PARENT_ID"))
        .transpose()?;
    match env.openlineage_parent_id.as_deref() {
        Some(raw) => Ok(Some(ParentRun {
            parent: JobRun::parse(raw, "OPENLINEAGE_PARENT_ID")?,
            root,
        })),
        None if root.is_some() => Err(ConfigError::new(
            "OPENLINEAGE_ROOT_PARENT_ID",
            "is set without OPENLINEAGE_PARENT_ID; set both (the parent is the task, the root its DAG run)",
        )),
        None => Ok(None),
    }
}

/// A new run id: a UUIDv7 (time-ordered), so ids sort by start time in the runs table and in receivers.
pub fn new_run_id() -> String {
    let random = uuid::Uuid::new_v4();
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&random.as_bytes()[6..]);
    let millis = Utc::now().timestamp_millis().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// OpenLineage `(namespace, name)` of the bronze table `table` in the lake `lake_uri`, schema `schema`.
pub fn table_dataset(lake_uri: &str, schema: &str, table: &str) -> (String, String) {
    let lake = lake_uri.trim_end_matches('/');
    if let Some(path) = lake.strip_prefix("file://") {
        return ("file".into(), format!("{path}/{schema}/{table}"));
    }
    if let Some((scheme, rest)) = lake.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let name = [path, schema, table]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        return (format!("{scheme}://{authority}"), name);
    }
    let absolute = std::path::absolute(lake).unwrap_or_else(|_| lake.into());
    (
        "file".into(),
        absolute.join(schema).join(table).display().to_string(),
    )
}

/// The run's event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Before the sync.
    Start,
    /// After a sync that exited 0.
    Complete,
    /// After a sync that exited non-zero.
    Fail,
}

impl EventType {
    /// The spec's `eventType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// A facet's `_producer` and `_schemaURL` with its own fields.
fn facet(schema_url: &str, fields: Value) -> Value {
    let mut facet = json!({"_producer": PRODUCER, "_schemaURL": schema_url});
    if let (Some(out), Value::Object(fields)) = (facet.as_object_mut(), fields) {
        out.extend(fields);
    }
    facet
}

/// One input dataset per Notion database, with its configured name as documentation.
fn inputs(databases: &[DatabaseConfig]) -> Vec<Value> {
    databases
        .iter()
        .map(|d| {
            json!({
                "namespace": NOTION_NAMESPACE,
                "name": d.id,
                "facets": {"documentation": facet(DOCUMENTATION_FACET, json!({"description": d.name}))},
            })
        })
        .collect()
}

/// The bronze tables a sync of `databases` writes, each with the rows written when known.
fn written_tables(
    databases: &[DatabaseConfig],
    outcomes: &[DatabaseOutcome],
) -> Vec<(&'static str, Option<i64>)> {
    let mut out: Vec<(&'static str, Option<i64>)> = vec![
        (tables::PAGES, None),
        (tables::VERSIONS, None),
        (tables::DATABASES, None),
        (tables::WATERMARKS, None),
        (tables::RUNS, None),
    ];
    if outcomes.iter().any(|o| o.run.rejected > 0) {
        out.push((tables::REJECTS, None));
    }
    for (wanted, table) in [
        (databases.iter().any(|d| d.include.content), tables::BLOCKS),
        (
            databases.iter().any(|d| d.include.comments),
            tables::COMMENTS,
        ),
        (databases.iter().any(|d| d.include.users), tables::USERS),
    ] {
        if wanted {
            out.push((table, None));
        }
    }
    if !outcomes.is_empty() {
        out[0].1 = Some(
            outcomes
                .iter()
                .map(|o| o.run.inserted + o.run.updated)
                .sum(),
        );
    }
    out
}

/// Output datasets of the bronze tables, with an `outputStatistics` facet where the row count is known.
fn outputs(lake_uri: &str, schema: &str, written: &[(&str, Option<i64>)]) -> Vec<Value> {
    written
        .iter()
        .map(|(table, rows)| {
            let (namespace, name) = table_dataset(lake_uri, schema, table);
            let mut dataset = json!({"namespace": namespace, "name": name});
            if let Some(rows) = rows {
                dataset["outputFacets"] = json!({
                    "outputStatistics": facet(OUTPUT_STATISTICS_FACET, json!({"rowCount": rows})),
                });
            }
            dataset
        })
        .collect()
}

/// The message of the `errorMessage` facet: one line per failed database.
fn failure_message(outcomes: &[DatabaseOutcome], code: u8) -> String {
    let lines: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.error
                .as_ref()
                .map(|e| format!("database '{}' ({}): {e}", o.database.name, o.database.id))
        })
        .collect();
    if lines.is_empty() {
        format!("notion-sync sync exited {code}")
    } else {
        lines.join("\n")
    }
}

/// A run's events and where they go; does nothing when lineage is not configured.
pub struct Lineage {
    target: Option<Target>,
}

struct Target {
    settings: LineageSettings,
    client: reqwest::Client,
    run_id: String,
    databases: Vec<DatabaseConfig>,
    lake_uri: String,
    schema: String,
}

impl Lineage {
    /// Sends the START event of the planned sync (when configured) and keeps what the end event needs.
    pub async fn start(settings: &Settings, plan: &SyncPlan) -> Lineage {
        let Some(lineage) = settings.lineage.clone() else {
            return Lineage { target: None };
        };
        let client = match reqwest::Client::builder().timeout(SEND_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                warn(&format!("cannot build an HTTP client: {e}"));
                return Lineage { target: None };
            }
        };
        let target = Target {
            settings: lineage,
            client,
            run_id: plan.run_id.clone(),
            databases: plan.databases.clone(),
            lake_uri: settings.lakehouse_uri.clone(),
            schema: settings.bronze_schema.clone(),
        };
        target
            .send(&target.event(EventType::Start, &[], None))
            .await;
        Lineage {
            target: Some(target),
        }
    }

    /// Sends COMPLETE (exit code 0) or FAIL with the rows written and, on FAIL, the error message.
    pub async fn finish(self, outcomes: &[DatabaseOutcome], code: u8) {
        let Some(target) = self.target else { return };
        let (kind, error) = if code == 0 {
            (EventType::Complete, None)
        } else {
            (EventType::Fail, Some(failure_message(outcomes, code)))
        };
        target
            .send(&target.event(kind, outcomes, error.as_deref()))
            .await;
    }
}

impl Target {
    /// The RunEvent JSON.
    fn event(&self, kind: EventType, outcomes: &[DatabaseOutcome], error: Option<&str>) -> Value {
        let mut run_facets = serde_json::Map::new();
        if let Some(parent) = &self.settings.parent {
            let mut fields = parent.parent.to_json();
            if let Some(root) = &parent.root {
                fields["root"] = root.to_json();
            }
            run_facets.insert("parent".into(), facet(PARENT_FACET, fields));
        }
        if let Some(message) = error {
            run_facets.insert(
                "errorMessage".into(),
                facet(
                    ERROR_FACET,
                    json!({"message": message, "programmingLanguage": "Rust"}),
                ),
            );
        }
        let written = written_tables(&self.databases, outcomes);
        json!({
            "eventType": kind.as_str(),
            "eventTime": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA,
            "run": {"runId": self.run_id, "facets": run_facets},
            "job": {"namespace": self.settings.namespace, "name": self.settings.job_name},
            "inputs": inputs(&self.databases),
            "outputs": outputs(&self.lake_uri, &self.schema, &written),
        })
    }

    /// POSTs one event; a failure is a warning.
    async fn send(&self, event: &Value) {
        let kind = event["eventType"].as_str().unwrap_or_default();
        match self.post(event).await {
            Ok(()) => tracing::info!(event = kind, run_id = %self.run_id, "OpenLineage event sent"),
            Err(e) => warn(&format!("the OpenLineage {kind} event was not sent: {e}")),
        }
    }

    async fn post(&self, event: &Value) -> Result<(), String> {
        let url = &self.settings.endpoint;
        let mut request = self.client.post(url.clone()).json(event);
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {url}: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST {url}: the receiver answered {status}"))
        }
    }
}

/// Logs and prints a lineage warning.
fn warn(message: &str) {
    tracing::warn!("{message}");
    eprintln!("warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn lineage_settings_default_and_join_the_endpoint() {
        assert_eq!(LineageSettings::from_env(&env(&[])).unwrap(), None);
        let s = LineageSettings::from_env(&env(&[("OPENLINEAGE_URL", "http://127.0.0.1:5000/")]))
            .unwrap()
            .unwrap();
        assert_eq!(s.endpoint.as_str(), "http://127.0.0.1:5000/api/v1/lineage");
        assert_eq!(
            (s.namespace.as_str(), s.job_name.as_str()),
            (DEFAULT_NAMESPACE, DEFAULT_JOB_NAME)
        );
        let s = LineageSettings::from_env(&env(&[
            ("OPENLINEAGE_URL", "https://ol.example.com/base"),
            ("OPENLINEAGE_ENDPOINT", "/events"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.endpoint.as_str(), "https://ol.example.com/base/events");
        let off = env(&[
            ("OPENLINEAGE_URL", "https://ol.example.com"),
            ("OPENLINEAGE_DISABLED", "TRUE"),
        ]);
        assert_eq!(LineageSettings::from_env(&off).unwrap(), None);
    }

    #[test]
    fn lineage_settings_errors_name_the_variable_not_the_key() {
        for (pairs, setting) in [
            (
                vec![("OPENLINEAGE_URL", "http://ol.example.com")],
                "OPENLINEAGE_URL",
            ),
            (
                vec![("OPENLINEAGE_URL", "https://u:p@ol.example.com")],
                "OPENLINEAGE_URL",
            ),
            (
                vec![("OPENLINEAGE_DISABLED", "maybe")],
                "OPENLINEAGE_DISABLED",
            ),
            (
                vec![("OPENLINEAGE_API_KEY", "sec ret")],
                "OPENLINEAGE_API_KEY",
            ),
            (
                vec![("OPENLINEAGE_PARENT_ID", "ns/job")],
                "OPENLINEAGE_PARENT_ID",
            ),
            (
                vec![(
                    "OPENLINEAGE_ROOT_PARENT_ID",
                    "ns/dag/0191b4c2-9d7e-7a3b-8c4d-5e6f7a8b9c0d",
                )],
                "OPENLINEAGE_ROOT_PARENT_ID",
            ),
        ] {
            let err = LineageSettings::from_env(&env(&pairs)).unwrap_err();
            assert_eq!(err.setting, setting, "{err}");
            assert!(!err.to_string().contains("sec ret"), "{err}");
        }
    }

    #[test]
    fn lineage_parent_id_splits_namespace_name_and_run() {
        let run = JobRun::parse(
            "airflow/dag.task/with/slash/0191B4C2-9D7E-7A3B-8C4D-5E6F7A8B9C0D",
            "X",
        )
        .unwrap();
        assert_eq!(run.namespace, "airflow");
        assert_eq!(run.name, "dag.task/with/slash");
        assert_eq!(run.run_id, "0191b4c2-9d7e-7a3b-8c4d-5e6f7a8b9c0d");
        assert!(JobRun::parse("airflow/dag.task/not-a-uuid", "X").is_err());
    }

    #[test]
    fn lineage_table_names_follow_the_naming_spec() {
        assert_eq!(
            table_dataset("s3://bucket/lake/", "bronze", "notion_raw_pages"),
            ("s3://bucket".into(), "lake/bronze/notion_raw_pages".into())
        );
        assert_eq!(
            table_dataset("s3://bucket", "bronze", "t"),
            ("s3://bucket".into(), "bronze/t".into())
        );
        assert_eq!(
            table_dataset("file:///data/lake", "bronze", "t"),
            ("file".into(), "/data/lake/bronze/t".into())
        );
        assert_eq!(
            table_dataset("/data/lake", "bronze", "t"),
            ("file".into(), "/data/lake/bronze/t".into())
        );
    }

    #[test]
    fn lineage_run_ids_are_uuid_v7() {
        let id = uuid::Uuid::parse_str(&new_run_id()).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert_ne!(new_run_id(), new_run_id());
    }
}
