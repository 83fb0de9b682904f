//! Shared simulator state: the workspace, the clock, limits, faults and counters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::content::{self, Stamp, Target};
use crate::faults::FaultState;
use crate::model::{Workspace, floor_minute};
use crate::rng::Rng;
use crate::{ClockMode, Counters, DataSourceInfo, DatabaseInfo, RequestRecord, SimConfig, Version};

/// Locks, ignoring poisoning (a panicked request must not wedge the simulator).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct Clock {
    mode: ClockMode,
    offset: chrono::Duration,
}

#[derive(Debug)]
struct RateState {
    budget: u32,
    window: Duration,
    window_start: Instant,
    used: u32,
}

#[derive(Debug, Default)]
struct CounterState {
    counters: Counters,
    recent: VecDeque<Instant>,
    last_second: VecDeque<Instant>,
}

/// Requests served: the recent ones, and every write.
#[derive(Debug, Default)]
struct RequestLog {
    seq: u64,
    recent: VecDeque<RequestRecord>,
    writes: Vec<RequestRecord>,
}

/// Recent requests kept (writes are all kept).
const RECENT_REQUESTS: usize = 10_000;

/// Everything the server and the handle share.
#[derive(Debug)]
pub struct Shared {
    ws: Mutex<Workspace>,
    /// Bumped by every change of the workspace; caches keyed by it.
    data_gen: AtomicU64,
    /// Sorted indexes and rendered pages for the current `data_gen`.
    pub caches: Mutex<crate::cache::Caches>,
    clock: Mutex<Clock>,
    /// Accepted token.
    pub token: String,
    rng: Mutex<Rng>,
    /// Fault plan.
    pub faults: Mutex<FaultState>,
    rate: Mutex<RateState>,
    counts: Mutex<CounterState>,
    log: Mutex<RequestLog>,
    /// Bumped to invalidate cursors.
    pub cursor_generation: AtomicU64,
    base_url: std::sync::OnceLock<String>,
    /// Per-query result cap.
    pub cap: usize,
    edits: AtomicU64,
}

impl Shared {
    /// Generates the workspace.
    pub fn new(cfg: &SimConfig) -> Self {
        let now = match cfg.clock {
            ClockMode::Manual(t) => t,
            ClockMode::System => Utc::now(),
        };
        let mut ws =
            crate::generate::workspace(cfg.workspace, cfg.seed, cfg.pages, floor_minute(now));
        ws.hide_emails = !cfg.user_emails;
        let mut rng = Rng::new(cfg.seed.wrapping_mul(31).wrapping_add(7));
        let token = cfg
            .token
            .clone()
            .unwrap_or_else(|| format!("ntn_{:016x}{:016x}", rng.next_u64(), rng.next_u64()));
        Shared {
            ws: Mutex::new(ws),
            data_gen: AtomicU64::new(0),
            caches: Mutex::new(crate::cache::Caches::default()),
            clock: Mutex::new(Clock {
                mode: cfg.clock,
                offset: chrono::Duration::zero(),
            }),
            token,
            rng: Mutex::new(rng),
            faults: Mutex::new(FaultState::new(cfg.seed)),
            rate: Mutex::new(RateState {
                budget: cfg.requests_per_minute,
                window: cfg.rate_window,
                window_start: Instant::now(),
                used: 0,
            }),
            counts: Mutex::new(CounterState::default()),
            log: Mutex::new(RequestLog::default()),
            cursor_generation: AtomicU64::new(0),
            cap: cfg.query_result_cap.max(1),
            base_url: std::sync::OnceLock::new(),
            edits: AtomicU64::new(0),
        }
    }

    /// The workspace, for reading.
    pub fn read(&self) -> MutexGuard<'_, Workspace> {
        let mut g = lock(&self.ws);
        g.now = self.now();
        g
    }

    /// The workspace, for changing it (invalidates caches).
    pub fn write(&self) -> MutexGuard<'_, Workspace> {
        let mut g = lock(&self.ws);
        g.now = self.now();
        self.data_gen.fetch_add(1, Ordering::SeqCst);
        g
    }

    /// The current data generation (read under the workspace lock).
    pub fn data_gen(&self) -> u64 {
        self.data_gen.load(Ordering::SeqCst)
    }

    /// Records the served base URL.
    pub fn set_base_url(&self, url: &str) {
        let _ = self.base_url.set(url.to_string());
    }

    /// The served base URL.
    pub fn base_url(&self) -> &str {
        self.base_url.get().map_or("", String::as_str)
    }

    /// Renders hosted files for clients at the simulator's now.
    pub fn signer(&self) -> crate::files::Signer<'_> {
        crate::files::Signer {
            base: self.base_url(),
            secret: &self.token,
            now: self.now(),
        }
    }

    /// The current cursor generation.
    pub fn cursor_generation(&self) -> u64 {
        self.cursor_generation.load(Ordering::SeqCst)
    }

    /// A fresh deterministic id.
    pub fn new_id(&self) -> String {
        lock(&self.rng).id()
    }

    /// The generator of ids and choices made at run time (lock it after the workspace).
    pub fn rng(&self) -> MutexGuard<'_, Rng> {
        lock(&self.rng)
    }

    /// Simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        let c = lock(&self.clock);
        match c.mode {
            ClockMode::Manual(t) => t + c.offset,
            ClockMode::System => Utc::now() + c.offset,
        }
    }

    /// Sets the clock.
    pub fn set_clock(&self, t: DateTime<Utc>) {
        let mut c = lock(&self.clock);
        c.mode = ClockMode::Manual(t);
        c.offset = chrono::Duration::zero();
    }

    /// Advances the clock.
    pub fn advance_clock(&self, d: chrono::Duration) {
        lock(&self.clock).offset += d;
    }

    /// Minute-floored now, as stamped on edits.
    pub fn stamp(&self) -> DateTime<Utc> {
        floor_minute(self.now())
    }

    /// Databases for callers.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        let ws = self.read();
        ws.databases
            .values()
            .map(|db| DatabaseInfo {
                id: db.id.clone(),
                title: db.title.clone(),
                data_sources: db
                    .sources
                    .iter()
                    .filter_map(|s| ws.sources.get(s))
                    .map(|s| DataSourceInfo {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        page_count_live: ws
                            .pages
                            .values()
                            .filter(|p| p.data_source_id == s.id && !p.in_trash && !p.is_archived)
                            .count(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn random_person(&self, ws: &Workspace) -> String {
        let people: Vec<&str> = ws
            .users
            .iter()
            .filter(|u| u.email.is_some())
            .map(|u| u.id.as_str())
            .collect();
        let i = lock(&self.rng).below(people.len() as u64) as usize;
        people.get(i).map(|s| s.to_string()).unwrap_or_default()
    }

    /// Creates pages with a title.
    pub fn create_pages(&self, ds: &str, n: usize) -> Vec<String> {
        let now = self.stamp();
        let mut ws = self.write();
        if !ws.sources.contains_key(ds) {
            return Vec::new();
        }
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = lock(&self.rng).id();
            let by = self.random_person(&ws);
            let values = crate::generate::sample_values(&mut ws, ds, &mut lock(&self.rng), now);
            ws.pages.insert(
                id.clone(),
                crate::model::Page {
                    id: id.clone(),
                    data_source_id: ds.into(),
                    created: now,
                    edited: now,
                    created_by: by.clone(),
                    edited_by: by,
                    in_trash: false,
                    is_archived: false,
                    values,
                    meta: Default::default(),
                },
            );
            ids.push(id);
        }
        ids
    }

    /// Edits k random live pages.
    pub fn edit_pages(&self, ds: &str, k: usize) -> Vec<String> {
        let mut live: Vec<String> = {
            let ws = self.read();
            ws.pages
                .values()
                .filter(|p| p.data_source_id == ds && !p.in_trash && !p.is_archived)
                .map(|p| p.id.clone())
                .collect()
        };
        let mut chosen = Vec::new();
        while chosen.len() < k && !live.is_empty() {
            let i = lock(&self.rng).below(live.len() as u64) as usize;
            chosen.push(live.swap_remove(i));
        }
        for id in &chosen {
            self.edit_page(id);
        }
        chosen
    }

    /// Changes a page's title (or first text property) and stamps it.
    pub fn edit_page(&self, id: &str) -> bool {
        let now = self.stamp();
        let k = self.edits.fetch_add(1, Ordering::SeqCst);
        let mut ws = self.write();
        let by = self.random_person(&ws);
        let Some(ds_id) = ws.pages.get(id).map(|p| p.data_source_id.clone()) else {
            return false;
        };
        let title = ws
            .sources
            .get(&ds_id)
            .and_then(|s| s.props.iter().find(|p| p.kind == "title"))
            .map(|p| p.name.clone());
        let Some(page) = ws.pages.get_mut(id) else {
            return false;
        };
        if let Some(t) = title {
            let old = crate::model::plain_text(page.values.get(&t));
            let base = old.split(" · edit ").next().unwrap_or("").to_string();
            page.values
                .insert(t, Value::String(format!("{base} · edit {k}")));
        }
        page.edited = now;
        page.edited_by = by;
        true
    }

    /// Stores `value` as a page's value of the property `name` and stamps the edit.
    pub fn set_value(&self, id: &str, name: &str, value: Value) -> bool {
        let now = self.stamp();
        let mut ws = self.write();
        let Some(page) = ws.pages.get_mut(id) else {
            return false;
        };
        page.values.insert(name.to_string(), value);
        page.edited = now;
        true
    }

    /// Sets or clears raw field overrides of a page.
    pub fn override_page(&self, id: &str, fields: serde_json::Map<String, Value>) -> bool {
        let mut ws = self.write();
        if !ws.pages.contains_key(id) {
            return false;
        }
        if fields.is_empty() {
            ws.overrides.remove(id);
        } else {
            ws.overrides.insert(id.to_string(), fields);
        }
        true
    }

    /// Sets trash/archive flags.
    pub fn set_flags(&self, id: &str, trash: Option<bool>, archive: Option<bool>) -> bool {
        let now = self.stamp();
        let bot = self.read().bot_id();
        let mut ws = self.write();
        let Some(p) = ws.pages.get_mut(id) else {
            return false;
        };
        if let Some(t) = trash {
            p.in_trash = t;
        }
        if let Some(a) = archive {
            p.is_archived = a;
        }
        p.edited = now;
        p.edited_by = bot;
        true
    }

    /// Deletes a page for good, with its content and comments.
    pub fn purge(&self, id: &str) -> bool {
        let mut ws = self.write();
        content::purge_page(&mut ws, id);
        if ws.pages.remove(id).is_some() {
            ws.purged.push(id.to_string());
            true
        } else {
            false
        }
    }

    /// Moves a page to another data source.
    pub fn move_page(&self, id: &str, to: &str) -> bool {
        let now = self.stamp();
        let mut ws = self.write();
        let bot = ws.bot_id();
        let Some(target) = ws.sources.get(to).cloned() else {
            return false;
        };
        let Some(p) = ws.pages.get_mut(id) else {
            return false;
        };
        p.values
            .retain(|name, _| target.props.iter().any(|t| &t.name == name));
        p.data_source_id = to.into();
        p.edited = now;
        p.edited_by = bot;
        true
    }

    /// Applies a schema patch (see [`crate::schema::apply`]) and stamps the data source.
    pub fn patch_schema(
        &self,
        ds: &str,
        patch: &serde_json::Map<String, Value>,
    ) -> Result<bool, crate::errors::ApiError> {
        let now = self.stamp();
        let mut ws = self.write();
        // Every data source whose schema changed is edited (a back-relation changes its target).
        let shape = |ws: &Workspace| -> Vec<(String, String)> {
            ws.sources
                .values()
                .map(|s| {
                    let props: Vec<(&str, &str, &str)> = s
                        .props
                        .iter()
                        .map(|p| (p.id.as_str(), p.name.as_str(), p.kind.as_str()))
                        .collect();
                    (s.id.clone(), format!("{props:?}"))
                })
                .collect()
        };
        let before = shape(&ws);
        let changed = crate::schema::apply(&mut ws, ds, patch, &mut lock(&self.rng))?;
        for (id, props) in shape(&ws) {
            let same = before.iter().any(|(b, p)| *b == id && *p == props);
            if ((changed && id == ds) || !same)
                && let Some(s) = ws.sources.get_mut(&id)
            {
                s.edited = now;
            }
        }
        Ok(changed)
    }

    /// Adds a property.
    pub fn add_property(&self, ds: &str, name: &str, schema: Value) -> bool {
        let exists = self
            .read()
            .sources
            .get(ds)
            .is_none_or(|s| s.props.iter().any(|p| p.name == name));
        if exists || name.is_empty() {
            return false;
        }
        let mut patch = serde_json::Map::new();
        patch.insert(name.to_string(), schema);
        self.patch_schema(ds, &patch).unwrap_or(false)
    }

    /// Renames a property; page values follow.
    pub fn rename_property(&self, ds: &str, old: &str, new: &str) -> bool {
        let known = self
            .read()
            .sources
            .get(ds)
            .is_some_and(|s| s.props.iter().any(|p| p.name == old));
        if !known || new.is_empty() {
            return false;
        }
        let mut patch = serde_json::Map::new();
        patch.insert(old.to_string(), json!({"name": new}));
        self.patch_schema(ds, &patch).unwrap_or(false)
    }

    /// Removes a property and its values.
    pub fn remove_property(&self, ds: &str, name: &str) -> bool {
        let known = self
            .read()
            .sources
            .get(ds)
            .is_some_and(|s| s.props.iter().any(|p| p.name == name && p.kind != "title"));
        if !known {
            return false;
        }
        let mut patch = serde_json::Map::new();
        patch.insert(name.to_string(), Value::Null);
        self.patch_schema(ds, &patch).unwrap_or(false)
    }

    /// Changes the rate limit.
    pub fn set_rate_limit(&self, rpm: u32, window: Duration) {
        let mut r = lock(&self.rate);
        r.budget = rpm;
        r.window = window.max(Duration::from_millis(1));
        r.window_start = Instant::now();
        r.used = 0;
    }

    /// Takes one request from the budget; `Err(seconds)` when the window is spent.
    pub fn take_budget(&self) -> Result<(), u64> {
        let mut r = lock(&self.rate);
        if r.budget == 0 {
            return Ok(());
        }
        let elapsed = r.window_start.elapsed();
        if elapsed >= r.window {
            r.window_start = Instant::now();
            r.used = 0;
        }
        if r.used >= r.budget {
            let left = r.window.saturating_sub(r.window_start.elapsed());
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        r.used += 1;
        Ok(())
    }

    /// Counts one served request.
    pub fn count(&self, endpoint: &str, status: u16) {
        let window = lock(&self.rate).window.max(Duration::from_millis(1));
        let mut c = lock(&self.counts);
        let now = Instant::now();
        c.recent.push_back(now);
        c.last_second.push_back(now);
        while c
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            c.recent.pop_front();
        }
        while c
            .last_second
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            c.last_second.pop_front();
        }
        let in_window = c.recent.len() as u64;
        let in_second = c.last_second.len() as u64;
        let k = &mut c.counters;
        k.total_requests += 1;
        *k.by_endpoint.entry(endpoint.into()).or_default() += 1;
        *k.by_status.entry(status).or_default() += 1;
        *k.by_endpoint_status
            .entry(endpoint.into())
            .or_default()
            .entry(status)
            .or_default() += 1;
        if status == 429 {
            k.rate_limited_429 += 1;
        }
        k.peak_window = k.peak_window.max(in_window);
        k.peak_1s = k.peak_1s.max(in_second);
    }

    /// Records a served Notion request (writes with their JSON body).
    pub fn log_request(&self, method: &str, path: &str, endpoint: &str, status: u16, body: &[u8]) {
        let write = crate::faults::is_write(method, endpoint);
        let at = self.now();
        let mut log = lock(&self.log);
        log.seq += 1;
        let record = RequestRecord {
            seq: log.seq,
            method: method.to_string(),
            path: path.to_string(),
            endpoint: endpoint.to_string(),
            status,
            at,
            write,
            body: write
                .then(|| serde_json::from_slice(body).unwrap_or(Value::Null))
                .filter(|b| !b.is_null()),
        };
        if write {
            log.writes.push(record.clone());
        }
        if log.recent.len() >= RECENT_REQUESTS {
            log.recent.pop_front();
        }
        log.recent.push_back(record);
    }

    /// The most recent requests (up to 10,000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).recent.iter().cloned().collect()
    }

    /// Every write request since the start or the last clear, oldest first.
    pub fn write_requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).writes.clone()
    }

    /// Empties the request log (the sequence numbers go on).
    pub fn clear_request_log(&self) {
        let mut log = lock(&self.log);
        log.recent.clear();
        log.writes.clear();
    }

    /// Counters snapshot.
    pub fn counters(&self) -> Counters {
        lock(&self.counts).counters.clone()
    }

    /// Zeroes counters.
    pub fn reset_counters(&self) {
        *lock(&self.counts) = CounterState::default();
    }

    /// The state as served under `version`.
    pub fn state_dump(&self, version: Version) -> Value {
        let mut dump = {
            let ws = self.read();
            crate::dump::state(&ws, self.now(), version)
        };
        self.signer().value(&mut dump);
        dump
    }
}

/// Notion-hosted files.
impl Shared {
    /// The bytes `GET` of a hosted file's URL (or key) serves.
    pub fn file_bytes(&self, url_or_key: &str) -> Option<Vec<u8>> {
        let key = crate::files::key_of(url_or_key);
        crate::files::bytes(&self.read(), &key).map(std::sync::Arc::unwrap_or_clone)
    }

    /// A signed URL of a key, as rendered now.
    pub fn signed_url(&self, key: &str) -> String {
        crate::files::signed_url(self.base_url(), &self.token, key, self.now())
    }

    /// A new hosted file `{id}/{name}` of `size` generated bytes; returns its key.
    fn new_hosted(&self, ws: &mut Workspace, name: &str, size: usize) -> String {
        let key = format!("{}/{name}", lock(&self.rng).id());
        ws.files
            .insert(key.clone(), crate::files::Blob::Generated(size));
        key
    }

    /// Appends a hosted file of `size` bytes to a page's `files` property; returns its key.
    pub fn add_hosted_file(
        &self,
        page: &str,
        property: &str,
        name: &str,
        size: usize,
    ) -> Option<String> {
        let now = self.stamp();
        let mut ws = self.write();
        let p = ws.pages.get(page)?;
        let ds = ws.source_of(p)?;
        let prop = ds
            .props
            .iter()
            .find(|x| x.name == property && x.kind == "files")?
            .name
            .clone();
        let by = self.random_person(&ws);
        let key = self.new_hosted(&mut ws, name, size);
        let p = ws.pages.get_mut(page)?;
        let mut list = p
            .values
            .get(&prop)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        list.push(json!({"name": name, "type": "file", "file": crate::files::hosted_ref(&key)}));
        p.values.insert(prop, Value::Array(list));
        p.edited = now;
        p.edited_by = by;
        Some(key)
    }

    /// Appends a media block (`image`, `pdf`, `file`, `video`, `audio`) holding a hosted file of
    /// `size` bytes at the end of a page; returns the block id.
    pub fn add_hosted_media_block(
        &self,
        page: &str,
        kind: &str,
        name: &str,
        size: usize,
    ) -> Option<String> {
        if !matches!(kind, "image" | "pdf" | "file" | "video" | "audio") {
            return None;
        }
        let at = self.stamp();
        let mut ws = self.write();
        if ws.pages.get(page).is_none_or(|p| p.in_trash) {
            return None;
        }
        let by = self.random_person(&ws);
        let key = self.new_hosted(&mut ws, name, size);
        let mut payload =
            json!({"caption": [], "type": "file", "file": crate::files::hosted_ref(&key)});
        if kind == "file" {
            payload["name"] = json!(name);
        }
        let id = lock(&self.rng).id();
        let stamp = Stamp { at, by: &by };
        content::attach(
            &mut ws,
            content::new_block(id.clone(), page, kind, payload, stamp),
            None,
        );
        content::touch_page(&mut ws, page, stamp);
        Some(id)
    }
}

/// Page content and comments, changed as a person in the workspace would.
impl Shared {
    /// A content change by a random person, now: runs `change` on the workspace.
    fn content_edit<T>(&self, change: impl FnOnce(&mut Workspace, &mut Rng, Stamp) -> T) -> T {
        let at = self.stamp();
        let mut ws = self.write();
        let by = self.random_person(&ws);
        let mut rng = lock(&self.rng);
        change(&mut ws, &mut rng, Stamp { at, by: &by })
    }

    /// Appends `n` paragraphs at the end of a page or block.
    pub fn append_blocks(&self, parent: &str, n: usize) -> Vec<String> {
        self.content_edit(|ws, rng, stamp| content::append_paragraphs(ws, rng, parent, n, stamp))
    }

    /// Changes a block's text.
    pub fn edit_block(&self, id: &str) -> bool {
        let label = self.edits.fetch_add(1, Ordering::SeqCst).to_string();
        self.content_edit(|ws, _, stamp| content::edit_block(ws, id, &label, stamp))
    }

    /// Moves a block to the trash.
    pub fn delete_block(&self, id: &str) -> bool {
        self.content_edit(|ws, _, stamp| content::trash_block(ws, id, stamp))
    }

    /// Moves a block under a parent of the same page, at `position` among its children.
    pub fn move_block(&self, id: &str, parent: &str, position: usize) -> bool {
        self.content_edit(|ws, _, stamp| content::move_block(ws, id, parent, position, stamp))
    }

    /// Starts a discussion on a page or block, or replies to one; `None` when the target is unknown.
    pub fn add_comment(&self, target: Target<'_>, text: &str) -> Option<String> {
        self.content_edit(|ws, rng, stamp| content::add_comment(ws, rng, target, text, stamp))
    }

    /// Gives a page a generated tree of `blocks` blocks nested up to `depth` levels; returns how many
    /// were made.
    pub fn generate_content(&self, page: &str, blocks: usize, depth: usize) -> usize {
        self.content_edit(|ws, rng, stamp| {
            crate::generate::content::bulk(ws, rng, page, blocks, depth, stamp)
        })
    }
}
