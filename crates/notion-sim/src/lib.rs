//! notion-sim: a deterministic, stateful simulator of the Notion REST API on 127.0.0.1.
//!
//! It reproduces the behaviours a sync connector must survive: minute-floored timestamps from a clock the
//! caller controls, data sources and version-gated routes, the 25-item truncation of page objects (with the
//! property-item endpoint for full values), the per-query result cap with `request_status`, opaque cursors
//! that can be invalidated, trash and archive partitions, per-token rate limits with `Retry-After`, and
//! injectable faults. The write side (pages, databases, data sources, blocks, comments) validates requests
//! as Notion does, keeps dual relations two-way and recomputes formulas and rollups; faults can fail a
//! write after committing it, and a request log lists every write. An admin API under `/__sim/` (and the
//! same operations on [`SimHandle`]) mutates the workspace and exposes counters, the request log and a
//! state dump that tests compare against.
#![warn(missing_docs)]

mod admin;
mod cache;
mod content;
mod dump;
mod errors;
mod faults;
mod files;
mod formula;
mod generate;
mod model;
mod query;
mod render;
mod rng;
mod routes;
mod schema;
mod server;
mod state;
mod writes;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use faults::{FaultKind, FaultMode, FaultPlan, FaultRule};
use state::Shared;

/// Which workspace to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkspaceKind {
    /// Documentation, Tasks, Notes, Sprints with relations, a formula and rollups.
    #[default]
    Demo,
    /// Demo plus every property type, an unknown type, >100-target relations and a two-source database.
    Full,
    /// One data source "Items" with `pages` rows.
    Large,
    /// Many small databases (`pages` of them, default 64, five pages each): many data sources synced at
    /// once.
    Wide,
}

impl FromStr for WorkspaceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "demo" => Ok(WorkspaceKind::Demo),
            "full" => Ok(WorkspaceKind::Full),
            "large" => Ok(WorkspaceKind::Large),
            "wide" => Ok(WorkspaceKind::Wide),
            other => Err(format!(
                "unknown workspace {other:?}; use demo, full or large"
            )),
        }
    }
}

/// Where the simulator's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// A fixed instant moved only by `set_clock`/`advance_clock`.
    Manual(DateTime<Utc>),
    /// The system clock (plus any advance).
    System,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every generated id and value.
    pub seed: u64,
    /// Workspace to generate.
    pub workspace: WorkspaceKind,
    /// Rows of the `large` workspace; a scale hint for the others (0 = default sizes).
    pub pages: usize,
    /// Request budget per token per window; 0 = unlimited.
    pub requests_per_minute: u32,
    /// Length of the rate-limit window.
    pub rate_window: Duration,
    /// Most results one query (filter + sorts) pages through.
    pub query_result_cap: usize,
    /// Bearer token; default derived from the seed.
    pub token: Option<String>,
    /// Port on 127.0.0.1; 0 = ephemeral.
    pub port: u16,
    /// Clock.
    pub clock: ClockMode,
    /// The integration has the user-information capability with email addresses: person users carry
    /// `person.email` (else `person: {}`), in user lists and in people values alike.
    pub user_emails: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            workspace: WorkspaceKind::Demo,
            pages: 0,
            requests_per_minute: 0,
            rate_window: Duration::from_secs(60),
            query_result_cap: 10_000,
            token: None,
            port: 0,
            clock: ClockMode::Manual(
                DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
                    .map(|t| t.to_utc())
                    .unwrap_or_default(),
            ),
            user_emails: true,
        }
    }
}

/// API versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// Databases are tables.
    V2022_06_28,
    /// Databases hold data sources.
    V2025_09_03,
    /// `archived` removed.
    V2026_03_11,
}

impl Version {
    /// Parses a `Notion-Version` header.
    pub fn parse(s: &str) -> Option<Version> {
        match s.trim() {
            "2022-06-28" => Some(Version::V2022_06_28),
            "2025-09-03" => Some(Version::V2025_09_03),
            "2026-03-11" => Some(Version::V2026_03_11),
            _ => None,
        }
    }

    /// Whether data sources exist at this version.
    pub fn has_data_sources(self) -> bool {
        self >= Version::V2025_09_03
    }
}

/// Request counters (Notion routes only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// All requests.
    pub total_requests: u64,
    /// By endpoint name.
    pub by_endpoint: BTreeMap<String, u64>,
    /// By HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// By endpoint and status.
    pub by_endpoint_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// 429 responses served.
    pub rate_limited_429: u64,
    /// Most requests in any one second.
    pub peak_1s: u64,
    /// Most requests in any rate window.
    pub peak_window: u64,
}

/// One request the simulator served (Notion routes only; admin calls are not logged).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path with query string, as sent.
    pub path: String,
    /// Endpoint name (`create_page`, ...; `unknown` for unrouted requests).
    pub endpoint: String,
    /// HTTP status answered.
    pub status: u16,
    /// Simulated time it was served.
    pub at: DateTime<Utc>,
    /// Whether it is a write (POST/PATCH/DELETE other than search and queries), answered or not.
    pub write: bool,
    /// A write's JSON body (`None` for reads and bodies that are not JSON).
    pub body: Option<serde_json::Value>,
}

/// A data source, for callers wiring the connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSourceInfo {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Pages neither trashed nor archived.
    pub page_count_live: usize,
}

/// A database, for callers wiring the connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Its data sources.
    pub data_sources: Vec<DataSourceInfo>,
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The port could not be bound.
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// Port asked for.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
}

impl fmt::Display for WorkspaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkspaceKind::Demo => "demo",
            WorkspaceKind::Full => "full",
            WorkspaceKind::Large => "large",
            WorkspaceKind::Wide => "wide",
        })
    }
}

/// Normalises an id given by a caller (dashes optional); unknown shapes pass through.
fn nid(s: &str) -> String {
    server::norm_id(s).unwrap_or_else(|| s.to_string())
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Generates the workspace and serves it on 127.0.0.1 until [`SimHandle::shutdown`].
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let shared = Arc::new(Shared::new(&cfg));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .map_err(|source| SimError::Bind {
                port: cfg.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            port: cfg.port,
            source,
        })?;
        let base_url = format!("http://{addr}");
        shared.set_base_url(&base_url);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimHandle {
            shared,
            base_url,
            stop: Arc::new(std::sync::Mutex::new(Some((tx, task)))),
        })
    }
}

type Stopper = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// A running simulator. Clones share it.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    base_url: String,
    stop: Arc<std::sync::Mutex<Option<Stopper>>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The accepted bearer token.
    pub fn token(&self) -> String {
        self.shared.token.clone()
    }

    /// Current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Sets the clock (switches a system clock to manual).
    pub fn set_clock(&self, t: DateTime<Utc>) {
        self.shared.set_clock(t);
    }

    /// Moves the clock forward.
    pub fn advance_clock(&self, d: chrono::Duration) {
        self.shared.advance_clock(d);
    }

    /// Databases and their data sources.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.shared.databases()
    }

    /// Id of the database with this title.
    pub fn database_id_by_title(&self, title: &str) -> Option<String> {
        self.databases()
            .into_iter()
            .find(|d| d.title == title)
            .map(|d| d.id)
    }

    /// Creates `n` pages in a data source; returns their ids.
    pub fn create_pages(&self, data_source_id: &str, n: usize) -> Vec<String> {
        self.shared.create_pages(&nid(data_source_id), n)
    }

    /// Edits `k` distinct random live pages of a data source; returns their ids.
    pub fn edit_pages(&self, data_source_id: &str, k: usize) -> Vec<String> {
        self.shared.edit_pages(&nid(data_source_id), k)
    }

    /// Edits one page.
    pub fn edit_page(&self, page_id: &str) -> bool {
        self.shared.edit_page(&nid(page_id))
    }

    /// Moves a page to the trash.
    pub fn trash_page(&self, id: &str) -> bool {
        self.shared.set_flags(&nid(id), Some(true), None)
    }

    /// Archives a page.
    pub fn archive_page(&self, id: &str) -> bool {
        self.shared.set_flags(&nid(id), None, Some(true))
    }

    /// Sets a page's stored value of one property (the type's inner value, as in
    /// `{"type": "number", "number": <value>}`) and stamps the edit. A formula or rollup given a value shows
    /// it (its whole result object, e.g. `{"type": "number", "number": 1.5}`) instead of computing one.
    pub fn set_page_value(&self, page_id: &str, property: &str, value: serde_json::Value) -> bool {
        self.shared.set_value(&nid(page_id), property, value)
    }

    /// Forces raw top-level fields onto every rendering of a page (`null` removes a field), e.g.
    /// `{"last_edited_time": "yesterday"}`; an empty map clears the override.
    pub fn override_page(
        &self,
        id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        self.shared.override_page(&nid(id), fields)
    }

    /// Restores a page from trash and archive.
    pub fn restore_page(&self, id: &str) -> bool {
        self.shared.set_flags(&nid(id), Some(false), Some(false))
    }

    /// Deletes a page for good.
    pub fn purge_page(&self, id: &str) -> bool {
        self.shared.purge(&nid(id))
    }

    /// Moves a page to another data source (values of properties the target lacks are dropped).
    pub fn move_page(&self, id: &str, to_data_source_id: &str) -> bool {
        self.shared.move_page(&nid(id), &nid(to_data_source_id))
    }

    /// Adds a property (schema entry with `type` and its config, e.g. `{"type":"number","number":{}}`).
    pub fn add_property(
        &self,
        data_source_id: &str,
        name: &str,
        schema: serde_json::Value,
    ) -> bool {
        self.shared.add_property(&nid(data_source_id), name, schema)
    }

    /// Renames a property (its id stays).
    pub fn rename_property(&self, data_source_id: &str, old: &str, new: &str) -> bool {
        self.shared.rename_property(&nid(data_source_id), old, new)
    }

    /// Changes a property's type (e.g. `{"type":"number","number":{}}`); values of the old type are dropped.
    pub fn change_property_type(
        &self,
        data_source_id: &str,
        name: &str,
        schema: serde_json::Value,
    ) -> bool {
        let mut patch = serde_json::Map::new();
        patch.insert(name.to_string(), schema);
        self.shared
            .patch_schema(&nid(data_source_id), &patch)
            .unwrap_or(false)
    }

    /// Removes a property.
    pub fn remove_property(&self, data_source_id: &str, name: &str) -> bool {
        self.shared.remove_property(&nid(data_source_id), name)
    }

    /// Appends `n` paragraphs at the end of a page or block (a synced reference appends to its original);
    /// returns their ids, none when the parent is unknown, trashed or cannot hold paragraphs.
    pub fn append_blocks(&self, parent_id: &str, n: usize) -> Vec<String> {
        self.shared.append_blocks(&nid(parent_id), n)
    }

    /// Changes a live block's text (rich text, title, caption, expression or first cell); `false`
    /// when the block is unknown, trashed or has no text.
    pub fn edit_block(&self, id: &str) -> bool {
        self.shared.edit_block(&nid(id))
    }

    /// Moves a live block to the trash: it leaves its parent's children (with its descendants) and is
    /// served with `in_trash: true`.
    pub fn delete_block(&self, id: &str) -> bool {
        self.shared.delete_block(&nid(id))
    }

    /// Moves a live block under `new_parent_id` (the page or a live block of the same page that can
    /// hold it, not itself or a descendant) at `position` among that parent's children (clamped); the
    /// same parent reorders.
    pub fn move_block(&self, id: &str, new_parent_id: &str, position: usize) -> bool {
        self.shared
            .move_block(&nid(id), &nid(new_parent_id), position)
    }

    /// Starts a discussion on a page or live block; returns the comment id (empty when the target is
    /// unknown). Comments do not change the page's `last_edited_time`.
    pub fn add_comment(&self, page_or_block_id: &str, text: &str) -> String {
        let target = nid(page_or_block_id);
        self.shared
            .add_comment(content::Target::Parent(&target), text)
            .unwrap_or_default()
    }

    /// Replies to an unresolved discussion; returns the comment id (empty when the discussion is
    /// unknown).
    pub fn reply_comment(&self, discussion_id: &str, text: &str) -> String {
        let discussion = nid(discussion_id);
        self.shared
            .add_comment(content::Target::Discussion(&discussion), text)
            .unwrap_or_default()
    }

    /// Gives a page `blocks` more blocks in a generated tree nested up to `depth` levels (toggles and
    /// list items holding paragraphs, the first blocks a chain reaching `depth`); returns how many were
    /// made (0 for an unknown page).
    pub fn generate_content(&self, page_id: &str, blocks: usize, depth: usize) -> usize {
        self.shared.generate_content(&nid(page_id), blocks, depth)
    }

    /// The bytes `GET` of a Notion-hosted file's URL serves (`url_or_key`: a full URL as rendered,
    /// any query ignored, or a key `{id}/{name}`); `None` for an unknown key.
    pub fn file_bytes(&self, url_or_key: &str) -> Option<Vec<u8>> {
        self.shared.file_bytes(url_or_key)
    }

    /// A presigned URL of a key as the simulator renders it now (valid for an hour of the
    /// simulator's clock), whether or not the key exists.
    pub fn signed_url(&self, key: &str) -> String {
        self.shared.signed_url(key)
    }

    /// Appends a Notion-hosted file `name` of `size` generated bytes to a page's `files`
    /// property (stamping the edit); returns its key, `None` when the page or the property (of type
    /// `files`) is unknown.
    pub fn add_hosted_file(
        &self,
        page_id: &str,
        property: &str,
        name: &str,
        size: usize,
    ) -> Option<String> {
        self.shared
            .add_hosted_file(&nid(page_id), property, name, size)
    }

    /// Appends a media block (`kind`: `image`, `pdf`, `file`, `video` or `audio`) holding a
    /// Notion-hosted file `name` of `size` generated bytes at the end of a page; returns the block
    /// id, `None` when the page is unknown or trashed or the kind is not a media type.
    pub fn add_hosted_media_block(
        &self,
        page_id: &str,
        kind: &str,
        name: &str,
        size: usize,
    ) -> Option<String> {
        self.shared
            .add_hosted_media_block(&nid(page_id), kind, name, size)
    }

    /// Installs a fault plan (replacing the previous one).
    pub fn set_faults(&self, faults: FaultPlan) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set(faults);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.set_faults(FaultPlan::default());
    }

    /// Changes the rate limit.
    pub fn set_rate_limit(&self, requests_per_minute: u32, window: Duration) {
        self.shared.set_rate_limit(requests_per_minute, window);
    }

    /// Makes every cursor issued so far invalid.
    pub fn invalidate_cursors(&self) {
        self.shared
            .cursor_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Request counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self) {
        self.shared.reset_counters();
    }

    /// The most recent Notion requests served (up to 10,000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// Every write request (creates, updates, appends, deletes, moves, comments; rejected ones too)
    /// since the start or the last [`SimHandle::clear_request_log`], oldest first: empty proves a
    /// client sent no write.
    pub fn write_requests(&self) -> Vec<RequestRecord> {
        self.shared.write_requests()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        self.shared.clear_request_log();
    }

    /// The whole state as the API renders it under `api_version` (the oracle for tests).
    pub fn state_dump(&self, api_version: &str) -> serde_json::Value {
        self.shared
            .state_dump(Version::parse(api_version).unwrap_or(Version::V2026_03_11))
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        let stopper = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((tx, task)) = stopper {
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}
