//! Read caches: pre-sorted row indexes per (data source, partition, sorts) and rendered page JSON.
//!
//! Both are valid for one data generation (bumped by every workspace change) and are rebuilt lazily.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Version;
use crate::model::Workspace;
use crate::query::{self, Key, Sort};
use crate::render;

/// Most rendered pages kept before the page cache is emptied.
const MAX_RENDERED: usize = 20_000;

/// Rows of one data source in query order: (sort key, page id).
pub type Index = Arc<Vec<(Vec<Key>, String)>>;

/// Caches for one data generation.
#[derive(Debug, Default)]
pub struct Caches {
    generation: u64,
    indexes: HashMap<String, Index>,
    rendered: HashMap<(String, Version), Arc<str>>,
}

impl Caches {
    fn sync(&mut self, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.indexes.clear();
            self.rendered.clear();
        }
    }

    /// The sorted rows of a data source's live (or archived) partition.
    pub fn index(
        &mut self,
        generation: u64,
        ws: &Workspace,
        ds_id: &str,
        archived: bool,
        sorts: &[Sort],
        sorts_key: &str,
    ) -> Index {
        self.sync(generation);
        let key = format!("{ds_id}|{archived}|{sorts_key}");
        if let Some(ix) = self.indexes.get(&key) {
            return ix.clone();
        }
        let Some(ds) = ws.sources.get(ds_id) else {
            return Arc::new(Vec::new());
        };
        let mut rows: Vec<(Vec<Key>, String)> = ws
            .pages
            .values()
            .filter(|p| p.data_source_id == ds_id && !p.in_trash && p.is_archived == archived)
            .map(|p| (query::sort_key(p, ds, sorts), p.id.clone()))
            .collect();
        rows.sort_by(|a, b| query::compare((&a.0, &a.1), (&b.0, &b.1), sorts));
        let ix = Arc::new(rows);
        self.indexes.insert(key, ix.clone());
        ix
    }

    /// A page rendered (truncated) under `version`, as JSON text.
    pub fn page(
        &mut self,
        generation: u64,
        ws: &Workspace,
        id: &str,
        version: Version,
    ) -> Option<Arc<str>> {
        self.sync(generation);
        let key = (id.to_string(), version);
        if let Some(s) = self.rendered.get(&key) {
            return Some(s.clone());
        }
        let page = ws.pages.get(id)?;
        let text: Arc<str> = render::page(ws, page, version, false).to_string().into();
        if self.rendered.len() >= MAX_RENDERED {
            self.rendered.clear();
        }
        self.rendered.insert(key, text.clone());
        Some(text)
    }
}
