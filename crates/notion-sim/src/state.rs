//! Shared simulator state: the workspace, the clock, limits, faults and counters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::faults::FaultState;
use crate::model::{PropSchema, Workspace, floor_minute};
use crate::render::{self, text};
use crate::rng::Rng;
use crate::{ClockMode, Counters, DataSourceInfo, DatabaseInfo, SimConfig, Version};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
}

/// Everything the server and the handle share.
#[derive(Debug)]
pub struct Shared {
    /// The workspace.
    pub ws: Mutex<Workspace>,
    clock: Mutex<Clock>,
    /// Accepted token.
    pub token: String,
    rng: Mutex<Rng>,
    /// Fault plan.
    pub faults: Mutex<FaultState>,
    rate: Mutex<RateState>,
    counts: Mutex<CounterState>,
    /// Bumped to invalidate cursors.
    pub cursor_generation: AtomicU64,
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
        let ws = crate::generate::workspace(cfg.workspace, cfg.seed, cfg.pages, floor_minute(now));
        let mut rng = Rng::new(cfg.seed.wrapping_mul(31).wrapping_add(7));
        let token = cfg
            .token
            .clone()
            .unwrap_or_else(|| format!("ntn_{:016x}{:016x}", rng.next_u64(), rng.next_u64()));
        Shared {
            ws: Mutex::new(ws),
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
            cursor_generation: AtomicU64::new(0),
            cap: cfg.query_result_cap.max(1),
            edits: AtomicU64::new(0),
        }
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
        let ws = lock(&self.ws);
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
        let mut ws = lock(&self.ws);
        let Some(source) = ws.sources.get(ds).cloned() else {
            return Vec::new();
        };
        let title_prop = source
            .props
            .iter()
            .find(|p| p.kind == "title")
            .map(|p| p.name.clone());
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = lock(&self.rng).id();
            let by = self.random_person(&ws);
            let mut values = BTreeMap::new();
            if let Some(t) = &title_prop {
                let k = self.edits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                values.insert(t.clone(), text(&format!("New page {k}")));
            }
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
                },
            );
            ids.push(id);
        }
        ids
    }

    /// Edits k random live pages.
    pub fn edit_pages(&self, ds: &str, k: usize) -> Vec<String> {
        let mut live: Vec<String> = {
            let ws = lock(&self.ws);
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
        let k = self.edits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut ws = lock(&self.ws);
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
            let old: String = page
                .values
                .get(&t)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x["plain_text"].as_str()).collect())
                .unwrap_or_default();
            let base = old.split(" · edit ").next().unwrap_or("").to_string();
            page.values.insert(t, text(&format!("{base} · edit {k}")));
        }
        page.edited = now;
        page.edited_by = by;
        true
    }

    /// Sets trash/archive flags.
    pub fn set_flags(&self, id: &str, trash: Option<bool>, archive: Option<bool>) -> bool {
        let now = self.stamp();
        let bot = lock(&self.ws).bot_id();
        let mut ws = lock(&self.ws);
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

    /// Deletes a page for good.
    pub fn purge(&self, id: &str) -> bool {
        let mut ws = lock(&self.ws);
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
        let mut ws = lock(&self.ws);
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
        true
    }

    fn with_source(
        &self,
        ds: &str,
        f: impl FnOnce(&mut crate::model::DataSource, &mut Rng) -> bool,
    ) -> bool {
        let now = self.stamp();
        let mut ws = lock(&self.ws);
        let Some(source) = ws.sources.get_mut(ds) else {
            return false;
        };
        let changed = f(source, &mut lock(&self.rng));
        if changed {
            source.edited = now;
        }
        changed
    }

    /// Adds a property.
    pub fn add_property(&self, ds: &str, name: &str, schema: Value) -> bool {
        let kind = schema["type"].as_str().unwrap_or("rich_text").to_string();
        let config = schema.get(&kind).cloned().unwrap_or(json!({}));
        self.with_source(ds, |s, rng| {
            if s.props.iter().any(|p| p.name == name) {
                return false;
            }
            let id = format!("n%3A{}", &rng.id()[..6]);
            s.props.push(PropSchema {
                id,
                name: name.into(),
                kind,
                config,
                computed: None,
            });
            true
        })
    }

    /// Renames a property; page values follow.
    pub fn rename_property(&self, ds: &str, old: &str, new: &str) -> bool {
        let ok = self.with_source(ds, |s, _| {
            match s.props.iter_mut().find(|p| p.name == old) {
                Some(p) if !new.is_empty() => {
                    p.name = new.into();
                    true
                }
                _ => false,
            }
        });
        if ok {
            let mut ws = lock(&self.ws);
            for p in ws.pages.values_mut().filter(|p| p.data_source_id == ds) {
                if let Some(v) = p.values.remove(old) {
                    p.values.insert(new.into(), v);
                }
            }
        }
        ok
    }

    /// Removes a property and its values.
    pub fn remove_property(&self, ds: &str, name: &str) -> bool {
        let ok = self.with_source(ds, |s, _| {
            let before = s.props.len();
            s.props.retain(|p| p.name != name || p.kind == "title");
            s.props.len() != before
        });
        if ok {
            let mut ws = lock(&self.ws);
            for p in ws.pages.values_mut().filter(|p| p.data_source_id == ds) {
                p.values.remove(name);
            }
        }
        ok
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
        let window = lock(&self.rate).window;
        let mut c = lock(&self.counts);
        let now = Instant::now();
        c.recent.push_back(now);
        while c
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window.max(Duration::from_secs(1)))
        {
            c.recent.pop_front();
        }
        let in_window = c
            .recent
            .iter()
            .filter(|t| now.duration_since(**t) <= window)
            .count() as u64;
        let in_second = c
            .recent
            .iter()
            .rev()
            .take_while(|t| now.duration_since(**t) <= Duration::from_secs(1))
            .count() as u64;
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
        let ws = lock(&self.ws);
        let databases: Vec<Value> = ws
            .databases
            .values()
            .map(|db| {
                let sources: Vec<Value> = db
                    .sources
                    .iter()
                    .filter_map(|s| ws.sources.get(s))
                    .map(|s| json!({"id": s.id, "name": s.name, "data_source": render::data_source(&ws, s, version)}))
                    .collect();
                json!({"id": db.id, "title": db.title, "database": render::database(&ws, db, version), "data_sources": sources})
            })
            .collect();
        let pages: Vec<Value> = ws
            .pages
            .values()
            .map(|p| {
                let db = ws
                    .sources
                    .get(&p.data_source_id)
                    .map(|s| s.database_id.clone())
                    .unwrap_or_default();
                json!({
                    "id": p.id, "database_id": db, "data_source_id": p.data_source_id,
                    "in_trash": p.in_trash, "is_archived": p.is_archived, "purged": false,
                    "page": render::page(&ws, p, version, false),
                    "page_full": render::page(&ws, p, version, true),
                })
            })
            .collect();
        json!({
            "now": crate::model::iso(self.now()),
            "databases": databases,
            "pages": pages,
            "purged_page_ids": ws.purged,
        })
    }
}
