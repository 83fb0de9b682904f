//! The page phase of a rebuild: what each new page is created with, and the writes that wait until
//! every page exists (relations, and values that mention pages of the snapshot).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::schema::{SchemaPlan, SourcePlan, Target};
use crate::restore::plan::RECREATED;
use crate::restore::snapshot::{Snapshot, SnapshotPage};
use crate::restore::write::{self, MAX_ITEMS, Writable};

/// A page's property writes, by property name (request members).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageWrites {
    /// Sent with the create.
    pub create: Map<String, Value>,
    /// Sent once every page exists (they refer to pages of the snapshot, marked with [`RECREATED`]).
    pub later: Map<String, Value>,
}

/// The writes of one snapshot page; what cannot be written goes to `notes`.
pub fn page_writes(
    page: &SnapshotPage,
    source: &SourcePlan,
    snapshot_pages: &HashSet<&str>,
    copies: &dyn Fn(&str) -> bool,
    notes: &mut BTreeSet<String>,
) -> PageWrites {
    let payload: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
    let marked = |id: &str| {
        let copied = id.strip_prefix("upload:").is_some_and(copies);
        if snapshot_pages.contains(id) || copied {
            format!("{RECREATED}{id}")
        } else {
            id.to_string()
        }
    };
    let mut out = PageWrites::default();
    for (name, p) in payload["properties"].as_object().into_iter().flatten() {
        let kind = p["type"].as_str().unwrap_or_default();
        if kind == "relation" || !source.creates(name) {
            continue;
        }
        let mut value = match write::property(p, &marked) {
            Writable::Value(v) => v,
            Writable::ReadOnly => continue,
            Writable::Unsupported(why) => {
                notes.insert(format!("{}: property '{name}': {why}", source.title));
                continue;
            }
        };
        if kind == "files"
            && let Some(files) = value.as_array_mut()
        {
            let mut lost = Vec::new();
            let sent = crate::restore::upload::files_value(
                &Value::Array(std::mem::take(files)),
                &HashSet::new(),
                &marked,
                &mut lost,
            );
            value = sent;
            if !lost.is_empty() {
                notes.insert(format!(
                    "{}: property '{name}': Notion-hosted files are not uploaded again without a copy in \
                     bronze (sync with NOTION_SYNC_INCLUDE=files, rebuild with --upload-files); external \
                     ones are kept",
                    source.title
                ));
            }
        }
        if let Some(n) = write::over_limit(kind, &value)
            && let Some(items) = value.as_array_mut()
        {
            items.truncate(MAX_ITEMS);
            notes.insert(format!(
                "{}: property '{name}' of page {} holds {n} items; the first {MAX_ITEMS} are written",
                source.title, page.page_id
            ));
        }
        let member = write::request(kind, &value);
        if member.to_string().contains(RECREATED) {
            out.later.insert(name.clone(), member);
        } else {
            out.create.insert(name.clone(), member);
        }
    }
    out
}

/// Which property of a new page a relation value goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelationKey {
    /// A property of the snapshot's schema, by name.
    Name(String),
    /// The back-relation Notion made for relation `relation` of data source `data_source_id` (its id is
    /// known once the relation is created).
    BackOf {
        /// The snapshot's data source of the relation.
        data_source_id: String,
        /// The relation's name.
        relation: String,
    },
}

/// A relation's targets: the snapshot's pages (mapped to the new ones) or pages outside it (as they are).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    /// Target page ids of the snapshot.
    pub ids: BTreeSet<String>,
    /// The targets are pages of the snapshot (remapped; those not recreated are dropped).
    pub rebuilt: bool,
}

/// Every relation value to write once all pages exist: snapshot page → property → targets.
pub fn relation_writes(
    snapshot: &Snapshot,
    plan: &SchemaPlan,
) -> BTreeMap<String, BTreeMap<RelationKey, Targets>> {
    let mut out: BTreeMap<String, BTreeMap<RelationKey, Targets>> = BTreeMap::new();
    for page in snapshot
        .databases
        .iter()
        .flat_map(|d| &d.pages)
        .filter(|p| !p.in_trash)
    {
        let Some(source) = plan.source(&page.data_source_id) else {
            continue;
        };
        let payload: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
        for r in &source.relations {
            let ids: BTreeSet<String> = payload["properties"][&r.name]["relation"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect();
            let rebuilt = matches!(r.target, Target::Rebuilt { .. });
            if !r.from_back {
                let entry = out.entry(page.page_id.clone()).or_default();
                entry.insert(RelationKey::Name(r.name.clone()), Targets { ids, rebuilt });
                continue;
            }
            let key = match &r.back {
                Some(back) => RelationKey::Name(back.clone()),
                None => RelationKey::BackOf {
                    data_source_id: source.data_source_id.clone(),
                    relation: r.name.clone(),
                },
            };
            for t in ids {
                let targets = out.entry(t).or_default().entry(key.clone()).or_default();
                targets.rebuilt = true;
                targets.ids.insert(page.page_id.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mentions_of_snapshot_pages_wait_and_hosted_files_are_left_out() {
        let page = SnapshotPage {
            page_id: "p".into(),
            data_source_id: "ds".into(),
            last_edited_time: chrono::Utc::now(),
            in_trash: false,
            payload: json!({"properties": {
                "Name": {"type": "title", "title": [{"type": "text", "text": {"content": "Hi"}, "plain_text": "Hi"}]},
                "Text": {"type": "rich_text", "rich_text": [{"type": "mention", "plain_text": "x",
                    "mention": {"type": "page", "page": {"id": "q"}}}]},
                "Files": {"type": "files", "files": [
                    {"name": "a", "type": "file", "file": {"url": "https://s3/a?sig"}},
                    {"name": "b", "type": "external", "external": {"url": "https://e/b"}}]},
                "Pressed": {"type": "button", "button": {}},
                "ROI": {"type": "formula", "formula": {"type": "number", "number": 1}},
            }})
            .to_string(),
        };
        let source = SourcePlan {
            title: "Tasks".into(),
            skipped: [("Pressed".to_string(), "no".to_string())].into(),
            ..SourcePlan::default()
        };
        let mut notes = BTreeSet::new();
        let w = page_writes(&page, &source, &["p", "q"].into(), &|_| false, &mut notes);
        assert_eq!(
            w.create.keys().collect::<Vec<_>>(),
            [&"Files".to_string(), &"Name".to_string()]
        );
        assert_eq!(w.create["Files"]["files"].as_array().unwrap().len(), 1);
        assert!(w.later["Text"].to_string().contains("recreated:q"));
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
