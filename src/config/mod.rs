//! Configuration: what to sync (databases), where to (lake), how (API version, rate, lookback).
//!
//! Sources, in order: environment variables (secrets only ever come from here or a `*_FILE`), an optional
//! `notion-sync.toml` that lists databases, and CLI flags. Parsing and validation are pure functions of those
//! inputs: nothing here sends a request or touches the lake, so a bad configuration fails before any I/O.

mod env;
mod file;
mod secret;
mod storage;
mod views;
mod warehouse;

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

pub use env::{ENV_VARS, EnvVars};
pub use file::FileConfig;
pub use secret::{Secret, remember as remember_secret, scrub as scrub_secrets};
pub use storage::{STORAGE_VARS, StorageSettings, Store};
pub use views::ViewsSettings;
pub use warehouse::{Dialect, SinkChoice, WarehouseSettings};

use crate::notion::ApiVersion;
use crate::notion::ids::normalize_id;

/// A configuration problem, naming the variable, file key or flag to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment variable, file key or flag at fault.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    /// Builds an error for `setting`.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// One configured Notion database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatabaseConfig {
    /// Short name (lower-case), e.g. `projects`.
    pub name: String,
    /// Database id, dashed lower-case.
    pub id: String,
    /// What is synced besides page properties.
    pub include: Include,
}

/// What a sync reads besides page properties (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Include {
    /// Page content (blocks).
    pub content: bool,
    /// Comments of the pages and their blocks.
    pub comments: bool,
    /// The workspace's users.
    pub users: bool,
    /// Copies of the Notion-hosted files of pages and blocks (their URLs expire after an hour).
    pub files: bool,
}

impl Include {
    /// Parses `content,comments,users,files` (any subset, comma-separated); `setting` names the source in
    /// errors.
    pub fn parse(raw: &str, setting: &str) -> Result<Include, ConfigError> {
        let mut out = Include::default();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "content" => out.content = true,
                "comments" => out.comments = true,
                "users" => out.users = true,
                "files" => out.files = true,
                other => {
                    return Err(ConfigError::new(
                        setting,
                        format!("unknown {other:?}; use any of content, comments, users, files"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Both sets together.
    pub fn union(self, o: Include) -> Include {
        Include {
            content: self.content || o.content,
            comments: self.comments || o.comments,
            users: self.users || o.users,
            files: self.files || o.files,
        }
    }

    /// Whether pages need a content read (blocks, or comments, which are listed per block).
    pub fn reads_content(self) -> bool {
        self.content || self.comments
    }
}

/// Validated settings for every command.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Integration token (`None` when not set: commands that only touch the lake work without it).
    pub token: Option<Secret>,
    /// Notion API base URL (https, or http on loopback).
    pub base_url: Url,
    /// `Notion-Version` header value.
    pub api_version: ApiVersion,
    /// Request budget per minute for the token.
    pub requests_per_minute: u32,
    /// Databases to sync, sorted by name.
    pub databases: Vec<DatabaseConfig>,
    /// Lake root (`./lakehouse`, `file:///…`, `s3://…`).
    pub lakehouse_uri: String,
    /// Object-store settings of the lake (credentials, endpoint).
    pub storage: StorageSettings,
    /// Schema folder under the lake root (or the warehouse's schema).
    pub bronze_schema: String,
    /// Where bronze lands: the Delta lake or a SQL warehouse (`NOTION_SYNC_SINK`).
    pub sink: SinkChoice,
    /// How far before the watermark an incremental query starts.
    pub lookback: Duration,
    /// Batch size, commit interval and watermark interval.
    pub pacing: crate::extract::Pacing,
    /// Retries of a failed read (5xx, timeout, dropped connection) before giving up.
    pub max_retries: u32,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Databases synced at once.
    pub concurrency: usize,
    /// Time to live of a database's one-writer lease.
    pub lock_ttl: Duration,
    /// Deepest block level read (`None`: no cap).
    pub content_depth: Option<usize>,
    /// Where `sync` pushes its metrics at exit (`None`: nowhere).
    pub pushgateway: Option<Pushgateway>,
    /// Where `sync` sends its OpenLineage run events (`None`: nowhere).
    pub lineage: Option<crate::lineage::LineageSettings>,
    /// Typed views: their schema, their folder, and whether `sync` regenerates them.
    pub views: ViewsSettings,
}

impl Settings {
    /// Builds settings from environment variables and the optional config file. Pure: reads no files itself
    /// (the caller resolves `NOTION_API_KEY_FILE` through `read_file`).
    pub fn from_sources(
        env: &EnvVars,
        file: Option<&FileConfig>,
        read_file: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<Settings, ConfigError> {
        let token = resolve_token(env, read_file)?;
        let base_url = parse_base_url(env.notion_api_base_url.as_deref())?;
        let pushgateway = parse_pushgateway(env)?;
        let lineage = crate::lineage::LineageSettings::from_env(env)?;
        let views = ViewsSettings::from_env(env)?;
        let api_version = match env.notion_version.as_deref() {
            None => ApiVersion::default(),
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "NOTION_VERSION",
                    format!(
                        "unsupported Notion API version {v:?}; use one of {}",
                        ApiVersion::ALL.map(|v| v.as_str()).join(", ")
                    ),
                )
            })?,
        };
        let requests_per_minute = parse_number(
            env.notion_requests_per_minute.as_deref(),
            "NOTION_REQUESTS_PER_MINUTE",
            180,
            1,
            10_000_000,
        )? as u32;
        let databases = collect_databases(env, file)?;
        let lakehouse_uri = env
            .lakehouse_uri
            .as_deref()
            .unwrap_or("./lakehouse")
            .to_string();
        if lakehouse_uri.trim().is_empty() {
            return Err(ConfigError::new("LAKEHOUSE_URI", "must not be empty"));
        }
        let storage = StorageSettings::from_env(env, &lakehouse_uri)?;
        let bronze_schema = env.bronze_schema.as_deref().unwrap_or("bronze").to_string();
        if bronze_schema.is_empty()
            || !bronze_schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ConfigError::new(
                "BRONZE_SCHEMA",
                format!("{bronze_schema:?} must be letters, digits and underscores"),
            ));
        }
        let sink = SinkChoice::from_env(env, &bronze_schema, read_file)?;
        let defaults = crate::extract::Pacing::default();
        let lookback = duration_setting(
            env.notion_sync_lookback.as_deref(),
            "NOTION_SYNC_LOOKBACK",
            Duration::from_secs(300),
        )?;
        let commit_interval = duration_setting(
            env.notion_sync_commit_interval.as_deref(),
            "NOTION_SYNC_COMMIT_INTERVAL",
            defaults.commit_interval,
        )?;
        let watermark_interval = duration_setting(
            env.notion_sync_watermark_interval.as_deref(),
            "NOTION_SYNC_WATERMARK_INTERVAL",
            defaults.watermark_interval,
        )?;
        let batch_pages = parse_number(
            env.notion_sync_batch_pages.as_deref(),
            "NOTION_SYNC_BATCH_PAGES",
            defaults.batch_pages as u64,
            1,
            1_000_000,
        )? as usize;
        let max_retries = parse_number(
            env.notion_max_retries.as_deref(),
            "NOTION_MAX_RETRIES",
            8,
            0,
            100,
        )? as u32;
        let request_timeout = Duration::from_secs(parse_number(
            env.notion_timeout_seconds.as_deref(),
            "NOTION_TIMEOUT_SECONDS",
            60,
            1,
            3600,
        )?);
        let concurrency = parse_number(
            env.notion_sync_concurrency.as_deref(),
            "NOTION_SYNC_CONCURRENCY",
            4,
            1,
            64,
        )? as usize;
        let content_depth = match env.notion_sync_content_depth.as_deref() {
            None => None,
            Some(raw) => {
                Some(parse_number(Some(raw), "NOTION_SYNC_CONTENT_DEPTH", 0, 1, 1000)? as usize)
            }
        };
        let lock_ttl = duration_setting(
            env.notion_sync_lock_ttl.as_deref(),
            "NOTION_SYNC_LOCK_TTL",
            crate::sink::lease::DEFAULT_TTL,
        )?;
        if lock_ttl < Duration::from_secs(1) || lock_ttl > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "NOTION_SYNC_LOCK_TTL",
                format!(
                    "{lock_ttl:?} is out of range; use a duration between 1s and 24h (e.g. 3m)"
                ),
            ));
        }
        Ok(Settings {
            token,
            base_url,
            api_version,
            requests_per_minute,
            databases,
            lakehouse_uri,
            storage,
            bronze_schema,
            sink,
            lookback,
            pacing: crate::extract::Pacing {
                batch_pages,
                commit_interval,
                watermark_interval,
            },
            max_retries,
            request_timeout,
            concurrency,
            lock_ttl,
            content_depth,
            pushgateway,
            lineage,
            views,
        })
    }

    /// Remembers every secret of these settings so that no message or log line can quote one
    /// ([`scrub_secrets`]).
    pub fn remember_secrets(&self) {
        let lineage = self.lineage.as_ref().and_then(|l| l.api_key.as_ref());
        for secret in self
            .token
            .iter()
            .chain(lineage)
            .chain(self.storage.secrets())
            .chain(self.warehouse().into_iter().flat_map(|w| w.secrets.iter()))
        {
            remember_secret(secret);
        }
    }

    /// The warehouse settings, when bronze lands in a warehouse.
    pub fn warehouse(&self) -> Option<&WarehouseSettings> {
        match &self.sink {
            SinkChoice::Warehouse(w) => Some(w),
            SinkChoice::Delta => None,
        }
    }

    /// The token, or the error telling the operator to set it.
    pub fn require_token(&self) -> Result<&Secret, ConfigError> {
        self.token.as_ref().ok_or_else(|| {
            ConfigError::new(
                "NOTION_API_KEY",
                "not set; export the integration token (or NOTION_API_KEY_FILE with its path)",
            )
        })
    }

    /// The configured databases named in `selected` (all when empty); an unknown name is a usage error that
    /// lists the configured ones.
    pub fn select_databases(
        &self,
        selected: &[String],
    ) -> Result<Vec<DatabaseConfig>, ConfigError> {
        if selected.is_empty() {
            return Ok(self.databases.clone());
        }
        let mut out = Vec::new();
        for name in selected {
            let wanted = name.to_ascii_lowercase();
            match self.databases.iter().find(|d| d.name == wanted) {
                Some(d) if !out.contains(d) => out.push(d.clone()),
                Some(_) => {}
                None => {
                    return Err(ConfigError::new(
                        "--database",
                        format!(
                            "{name:?} is not configured; configured databases: {}",
                            self.database_names()
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn database_names(&self) -> String {
        if self.databases.is_empty() {
            return "(none)".into();
        }
        self.databases
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn resolve_token(
    env: &EnvVars,
    read_file: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Option<Secret>, ConfigError> {
    let token = match (
        env.notion_api_key.as_deref(),
        env.notion_api_key_file.as_deref(),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "NOTION_API_KEY",
                "set either NOTION_API_KEY or NOTION_API_KEY_FILE, not both",
            ));
        }
        (Some(t), None) => t.trim().to_string(),
        (None, Some(path)) => read_file(path)
            .map_err(|e| {
                ConfigError::new(
                    "NOTION_API_KEY_FILE",
                    format!("cannot read the token file {path:?}: {e}"),
                )
            })?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        return Err(ConfigError::new("NOTION_API_KEY", "is empty"));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::new(
            "NOTION_API_KEY",
            "contains whitespace or control characters; paste the token alone",
        ));
    }
    Ok(Some(Secret::new(token)))
}

/// Parses `NOTION_API_BASE_URL`: https anywhere, plain http only for loopback hosts.
pub fn parse_base_url(value: Option<&str>) -> Result<Url, ConfigError> {
    parse_service_url(
        value.unwrap_or("https://api.notion.com"),
        "NOTION_API_BASE_URL",
        "must not contain credentials; the token goes in NOTION_API_KEY",
    )
}

/// Parses the URL of a service the connector sends data to (variable `name`): https anywhere, plain http
/// only for loopback hosts, and no credentials in the URL (`credentials` says where they go instead).
pub(crate) fn parse_service_url(
    raw: &str,
    name: &str,
    credentials: &str,
) -> Result<Url, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|e| ConfigError::new(name, format!("{raw:?} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ConfigError::new(
                name,
                format!("{raw:?} uses plain http; https is required except for loopback addresses"),
            ));
        }
        other => {
            return Err(ConfigError::new(
                name,
                format!("unsupported scheme {other:?}; use https"),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(name, credentials));
    }
    Ok(url)
}

/// Where a run's metrics are pushed: a Prometheus Pushgateway and the `integration` grouping label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushgateway {
    /// Pushgateway root (https, or http on loopback).
    pub url: Url,
    /// Value of the `integration` grouping label.
    pub integration: String,
}

/// Parses `NOTION_SYNC_PUSHGATEWAY_URL` and `NOTION_SYNC_INTEGRATION_NAME`; `None` when no Pushgateway is
/// set. The name is validated even then, so a typo does not wait for the day a Pushgateway is added.
fn parse_pushgateway(env: &EnvVars) -> Result<Option<Pushgateway>, ConfigError> {
    let integration = env
        .notion_sync_integration_name
        .as_deref()
        .map(str::trim)
        .unwrap_or("default");
    let valid = integration.len() <= 128
        && integration
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(ConfigError::new(
            "NOTION_SYNC_INTEGRATION_NAME",
            format!(
                "{integration:?} must be at most 128 letters, digits, `_`, `-` and `.` (e.g. `marketing`)"
            ),
        ));
    }
    let Some(raw) = env.notion_sync_pushgateway_url.as_deref() else {
        return Ok(None);
    };
    let url = parse_service_url(
        raw.trim(),
        "NOTION_SYNC_PUSHGATEWAY_URL",
        "must not contain credentials",
    )?;
    Ok(Some(Pushgateway {
        url,
        integration: integration.to_string(),
    }))
}

fn parse_number(
    raw: Option<&str>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let n: u64 = raw.trim().parse().map_err(|_| {
        ConfigError::new(
            name,
            format!("{raw:?} is not a whole number between {min} and {max}"),
        )
    })?;
    if n < min || n > max {
        return Err(ConfigError::new(
            name,
            format!("{n} is out of range; use a value between {min} and {max}"),
        ));
    }
    Ok(n)
}

/// A duration variable, or `default` when unset; an unreadable value names the variable.
fn duration_setting(
    raw: Option<&str>,
    setting: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match raw {
        None => Ok(default),
        Some(v) => parse_duration(v).ok_or_else(|| {
            ConfigError::new(
                setting,
                format!("{v:?} is not a duration; write e.g. 250ms, 10s, 5m or 1h"),
            )
        }),
    }
}

/// Parses `250ms`, `300`, `300s`, `5m`, `1h` into a duration.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits.parse().ok()?;
    if unit.trim() == "ms" {
        return Some(Duration::from_millis(n));
    }
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => n,
        "m" | "min" | "mins" | "minutes" => n.checked_mul(60)?,
        "h" | "hours" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn collect_databases(
    env: &EnvVars,
    file: Option<&FileConfig>,
) -> Result<Vec<DatabaseConfig>, ConfigError> {
    let run_wide = match env.notion_sync_include.as_deref() {
        Some(raw) => Include::parse(raw, "NOTION_SYNC_INCLUDE")?,
        None => Include::default(),
    };
    let mut by_name: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut includes: BTreeMap<String, Include> = BTreeMap::new();
    if let Some(file) = file {
        for (name, db) in &file.databases {
            let setting = format!("notion-sync.toml [databases.{name}] id");
            check_name(name, &setting)?;
            by_name.insert(name.to_ascii_lowercase(), (db.id.clone(), setting));
            let include = Include {
                content: db.content,
                comments: db.comments,
                users: db.users,
                files: db.files,
            };
            includes.insert(name.to_ascii_lowercase(), include);
        }
    }
    for (var, value) in env.database_vars() {
        let name = var["NOTION_".len()..var.len() - "_DB_ID".len()].to_ascii_lowercase();
        check_name(&name, var)?;
        by_name.insert(name, (value.to_string(), var.to_string()));
    }
    by_name
        .into_iter()
        .map(|(name, (raw, setting))| {
            let include = includes.get(&name).copied().unwrap_or_default().union(run_wide);
            let id = normalize_id(&raw).ok_or_else(|| {
                ConfigError::new(
                    setting,
                    format!(
                        "{raw:?} is not a Notion database id; copy the 32 hex digits from the database URL"
                    ),
                )
            })?;
            Ok(DatabaseConfig { name, id, include })
        })
        .collect()
}

fn check_name(name: &str, setting: &str) -> Result<(), ConfigError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ConfigError::new(
            setting,
            format!("database name {name:?} must be letters, digits and underscores"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
