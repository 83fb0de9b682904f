//! The schema phases of a rebuild, planned from the snapshot alone: what each new data source is
//! created with, then its relations, rollups and formulas (in that order, since each names the ones
//! before), and how each relation's values are written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::formula;
use crate::restore::snapshot::{DatabaseSnapshot, Snapshot};
use crate::restore::write::MAX_ITEMS;

/// The options `status: {}` creates.
pub const STATUS_DEFAULTS: [&str; 3] = ["Not started", "In progress", "Done"];

/// Where a relation points.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A data source of the snapshot (its old id): the relation points at the one made for it.
    Rebuilt {
        /// The snapshot's data source id.
        data_source_id: String,
    },
    /// A data source outside the snapshot: the relation keeps pointing at it.
    Outside {
        /// Its data source id.
        data_source_id: String,
        /// Its database id (2022-06-28 names relations by database).
        database_id: String,
    },
}

/// A relation property to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relation {
    /// Its name.
    pub name: String,
    /// What it points at.
    pub target: Target,
    /// Created two-way (Notion makes the back-relation on the target).
    pub dual: bool,
    /// The snapshot's name of the back-relation, which Notion names by default.
    pub back: Option<String>,
    /// Values are written from the back-relation's side: each target page lists the pages pointing at
    /// it (a page of this side points at more pages than one request carries).
    pub from_back: bool,
    /// One-way in the snapshot: made one-way again once its values are written.
    pub one_way_after: bool,
}

/// One data source to create.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SourcePlan {
    /// The snapshot's data source id.
    pub data_source_id: String,
    /// Its title.
    pub title: String,
    /// The properties it is created with (by name: the request's config).
    pub plain: Map<String, Value>,
    /// Status properties whose options go beyond Notion's defaults: the options list to send.
    pub status: Vec<(String, Vec<Value>)>,
    /// Relations this side creates.
    pub relations: Vec<Relation>,
    /// Back-relations Notion makes (from the other side's create); their values follow by themselves.
    pub back_relations: BTreeSet<String>,
    /// Rollups (name → config), created after the relations.
    pub rollups: Map<String, Value>,
    /// Formulas (name, expression), each after the formulas it uses.
    pub formulas: Vec<(String, String)>,
    /// Rollups of formulas, created after the formulas.
    pub late_rollups: Map<String, Value>,
    /// Properties not created, each with the reason.
    pub skipped: BTreeMap<String, String>,
}

impl SourcePlan {
    /// Whether the property `name` exists in the new data source once the schema phases are done.
    pub fn creates(&self, name: &str) -> bool {
        !self.skipped.contains_key(name)
    }
}

/// One database to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabasePlan {
    /// The snapshot's database id.
    pub database_id: String,
    /// Configured name.
    pub name: String,
    /// The new database's title.
    pub title: String,
    /// Its data sources, the first created with the database.
    pub sources: Vec<SourcePlan>,
    /// What is not kept.
    pub notes: Vec<String>,
}

/// The schema phases of a rebuild.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaPlan {
    /// Per database, in snapshot order.
    pub databases: Vec<DatabasePlan>,
}

impl SchemaPlan {
    /// Every data source to create with its database, in plan order.
    pub fn sources(&self) -> impl Iterator<Item = (&DatabasePlan, &SourcePlan)> {
        self.databases
            .iter()
            .flat_map(|d| d.sources.iter().map(move |s| (d, s)))
    }

    /// The plan of the snapshot's data source `id`.
    pub fn source(&self, id: &str) -> Option<&SourcePlan> {
        self.databases
            .iter()
            .flat_map(|d| &d.sources)
            .find(|s| s.data_source_id == id)
    }
}

/// A snapshot data source's schema, by property name.
struct Schema {
    props: Map<String, Value>,
}

impl Schema {
    fn by_id(&self, id: &str) -> Option<(&String, &Value)> {
        let id = formula::decode(id);
        self.props
            .iter()
            .find(|(_, p)| p["id"].as_str().is_some_and(|x| formula::decode(x) == id))
    }
}

/// Every data source of the snapshot, by id.
fn schemas(snapshot: &Snapshot) -> HashMap<&str, Schema> {
    snapshot
        .databases
        .iter()
        .flat_map(|d| &d.sources)
        .map(|s| {
            let props = serde_json::from_str(&s.schema).unwrap_or_default();
            (s.data_source_id.as_str(), Schema { props })
        })
        .collect()
}

/// Plans the schema phases of rebuilding every database of `snapshot`.
pub fn plan(snapshot: &Snapshot) -> SchemaPlan {
    let all = schemas(snapshot);
    let counts = relation_counts(snapshot);
    let databases = snapshot
        .databases
        .iter()
        .map(|db| database(db, &all, &counts))
        .collect();
    SchemaPlan { databases }
}

fn database(db: &DatabaseSnapshot, all: &HashMap<&str, Schema>, counts: &Counts) -> DatabasePlan {
    let mut notes = Vec::new();
    let title = match db.sources.as_slice() {
        [one] => one.title.clone(),
        _ => {
            notes.push(format!(
                "the database's own title is not in the snapshot (it has {} data sources): named '{}'",
                db.sources.len(),
                db.name
            ));
            db.name.clone()
        }
    };
    let sources = db
        .sources
        .iter()
        .map(|s| source(&s.data_source_id, &s.title, all, counts))
        .collect();
    DatabasePlan {
        database_id: db.database_id.clone(),
        name: db.name.clone(),
        title,
        sources,
        notes,
    }
}

fn source(id: &str, title: &str, all: &HashMap<&str, Schema>, counts: &Counts) -> SourcePlan {
    let mut out = SourcePlan {
        data_source_id: id.to_string(),
        title: title.to_string(),
        ..SourcePlan::default()
    };
    let Some(schema) = all.get(id) else {
        return out;
    };
    let mut formulas = BTreeMap::new();
    for (name, p) in &schema.props {
        let kind = p["type"].as_str().unwrap_or_default();
        let cfg = &p[kind];
        match kind {
            "relation" => relation(id, name, p, all, counts, &mut out),
            "rollup" => {
                let request = json!({"rollup": {
                    "relation_property_name": cfg["relation_property_name"],
                    "rollup_property_name": cfg["rollup_property_name"],
                    "function": cfg["function"],
                }});
                out.rollups.insert(name.clone(), request);
            }
            "formula" => {
                let expr = cfg["expression"].as_str().unwrap_or_default();
                let names = |ds: Option<&str>, prop: &str| {
                    let s = all.get(ds.unwrap_or(id))?;
                    s.by_id(prop).map(|(n, _)| n.clone())
                };
                match formula::rewrite(expr, &names) {
                    Ok(e) => {
                        formulas.insert(name.clone(), e);
                    }
                    Err(why) => {
                        out.skipped
                            .insert(name.clone(), format!("formula not created: {why}"));
                    }
                }
            }
            _ => match plain(kind, cfg) {
                Ok(request) => {
                    out.plain.insert(name.clone(), request);
                    if kind == "status" {
                        status(name, cfg, &mut out);
                    }
                }
                Err(why) => {
                    out.skipped.insert(name.clone(), why);
                }
            },
        }
    }
    rollups_and_formulas(id, all, formulas, &mut out);
    out
}

/// The create config of a property that names no other property.
fn plain(kind: &str, cfg: &Value) -> Result<Value, String> {
    Ok(match kind {
        "number" => json!({"number": {"format": cfg["format"].as_str().unwrap_or("number")}}),
        "select" | "multi_select" => {
            let all = cfg["options"].as_array().cloned().unwrap_or_default();
            let options: Vec<Value> = all.iter().take(MAX_ITEMS).map(option).collect();
            json!({ kind: {"options": options} })
        }
        "status" => json!({"status": {}}),
        "unique_id" => json!({"unique_id": {"prefix": cfg["prefix"]}}),
        "title" | "rich_text" | "date" | "people" | "files" | "checkbox" | "url" | "email"
        | "phone_number" | "created_time" | "created_by" | "last_edited_time"
        | "last_edited_by" | "place" => json!({ kind: {} }),
        "button" | "verification" => {
            return Err(format!(
                "a {kind} property cannot be created through the API (Notion adds verification to wikis itself)"
            ));
        }
        other => return Err(format!("a property of type `{other}` cannot be created")),
    })
}

/// An option of a select-like config as a request sends it.
fn option(o: &Value) -> Value {
    let mut out = json!({"name": o["name"]});
    for k in ["color", "description"] {
        if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    out
}

/// Status options beyond Notion's defaults are added by a schema update after the create.
fn status(name: &str, cfg: &Value, out: &mut SourcePlan) {
    let options = cfg["options"].as_array().cloned().unwrap_or_default();
    let extra: Vec<Value> = options
        .iter()
        .filter(|o| !STATUS_DEFAULTS.contains(&o["name"].as_str().unwrap_or_default()))
        .map(option)
        .collect();
    if extra.is_empty() {
        return;
    }
    let mut all: Vec<Value> = STATUS_DEFAULTS.iter().map(|n| json!({"name": n})).collect();
    all.extend(extra);
    out.status.push((name.to_string(), all));
}

/// Relation value sizes: (data source, property) → the most targets one page holds, and target page →
/// how many pages of that property point at it.
#[derive(Default)]
struct Counts {
    most: HashMap<(String, String), usize>,
    most_reverse: HashMap<(String, String), usize>,
}

fn relation_counts(snapshot: &Snapshot) -> Counts {
    let mut out = Counts::default();
    let mut reverse: HashMap<(String, String, String), usize> = HashMap::new();
    for page in snapshot.databases.iter().flat_map(|d| &d.pages) {
        let payload: Value = serde_json::from_str(&page.payload).unwrap_or(Value::Null);
        for (name, p) in payload["properties"].as_object().into_iter().flatten() {
            let Some(targets) = p["relation"].as_array() else {
                continue;
            };
            let key = (page.data_source_id.clone(), name.clone());
            let most = out.most.entry(key).or_default();
            *most = (*most).max(targets.len());
            for t in targets.iter().filter_map(|t| t["id"].as_str()) {
                let k = (page.data_source_id.clone(), name.clone(), t.to_string());
                *reverse.entry(k).or_default() += 1;
            }
        }
    }
    for ((ds, name, _), n) in reverse {
        let most = out.most_reverse.entry((ds, name)).or_default();
        *most = (*most).max(n);
    }
    out
}

/// The snapshot's data source a relation config points at, if the snapshot has it (2022-06-28 names
/// the target by database, whose only data source has the database's id in bronze).
fn rebuilt_target<'c>(cfg: &'c Value, all: &HashMap<&str, Schema>) -> Option<&'c str> {
    let named_db = cfg["database_id"].as_str();
    cfg["data_source_id"]
        .as_str()
        .filter(|d| all.contains_key(d))
        .or_else(|| named_db.filter(|d| all.contains_key(d)))
}

fn relation(
    id: &str,
    name: &str,
    p: &Value,
    all: &HashMap<&str, Schema>,
    counts: &Counts,
    out: &mut SourcePlan,
) {
    let cfg = &p["relation"];
    let named_ds = cfg["data_source_id"].as_str();
    let named_db = cfg["database_id"].as_str().unwrap_or_default();
    let Some(target_ds) = rebuilt_target(cfg, all) else {
        out.relations.push(Relation {
            name: name.to_string(),
            target: Target::Outside {
                data_source_id: named_ds.unwrap_or(named_db).to_string(),
                database_id: named_db.to_string(),
            },
            dual: false,
            back: None,
            from_back: false,
            one_way_after: false,
        });
        return;
    };
    let key = (id.to_string(), name.to_string());
    let most = counts.most.get(&key).copied().unwrap_or(0);
    let reverse = counts.most_reverse.get(&key).copied().unwrap_or(0);
    let self_relation = target_ds == id;
    let from_back = most > MAX_ITEMS && reverse <= MAX_ITEMS && !self_relation;
    let two_way = cfg["type"] == "dual_property" && !self_relation;
    if two_way {
        let synced = cfg["dual_property"]["synced_property_id"]
            .as_str()
            .unwrap_or_default();
        let back = all.get(target_ds).and_then(|s| s.by_id(synced));
        if let Some((back_name, back_prop)) = back {
            let mine = p["id"].as_str().unwrap_or_default();
            let theirs = back_prop["id"].as_str().unwrap_or_default();
            // One side of a pair creates it; the other is Notion's back-relation, renamed.
            if (target_ds, theirs) < (id, mine) {
                out.back_relations.insert(name.to_string());
                return;
            }
            out.relations.push(Relation {
                name: name.to_string(),
                target: Target::Rebuilt {
                    data_source_id: target_ds.to_string(),
                },
                dual: true,
                back: Some(back_name.clone()),
                from_back,
                one_way_after: false,
            });
            return;
        }
    }
    out.relations.push(Relation {
        name: name.to_string(),
        target: Target::Rebuilt {
            data_source_id: target_ds.to_string(),
        },
        dual: two_way || from_back,
        back: None,
        from_back,
        one_way_after: from_back && !two_way,
    });
}

/// Rollups whose relation and rolled-up property are created; formulas whose properties are, in
/// dependency order; rollups of formulas last.
fn rollups_and_formulas(
    id: &str,
    all: &HashMap<&str, Schema>,
    mut formulas: BTreeMap<String, String>,
    out: &mut SourcePlan,
) {
    let target_of = |relation: &str| {
        all.get(id)
            .and_then(|s| s.props.get(relation))
            .and_then(|p| rebuilt_target(&p["relation"], all))
            .and_then(|t| all.get(t))
    };
    let rollups = std::mem::take(&mut out.rollups);
    for (name, request) in rollups {
        let cfg = &request["rollup"];
        let relation = cfg["relation_property_name"].as_str().unwrap_or_default();
        let rolled = cfg["rollup_property_name"].as_str().unwrap_or_default();
        let target = target_of(relation).and_then(|t| t.props.get(rolled));
        match target.and_then(|t| t["type"].as_str()) {
            Some("formula") => {
                out.late_rollups.insert(name, request);
            }
            Some("button" | "verification") | None => {
                out.skipped.insert(
                    name,
                    format!("rollup not created: it rolls up '{relation}' → '{rolled}', which is not created"),
                );
            }
            Some(_) => {
                out.rollups.insert(name, request);
            }
        }
    }
    // A formula using a property that is not created would be rejected; so would those using it.
    loop {
        let bad: Vec<(String, String)> = formulas
            .iter()
            .filter_map(|(n, e)| {
                let missing = formula::uses(e)
                    .into_iter()
                    .find(|u| out.skipped.contains_key(u) || !all[id].props.contains_key(u))?;
                Some((n.clone(), missing))
            })
            .collect();
        if bad.is_empty() {
            break;
        }
        for (n, missing) in bad {
            formulas.remove(&n);
            out.skipped.insert(
                n,
                format!("formula not created: it uses '{missing}', which is not created"),
            );
        }
    }
    let (ordered, cyclic) = formula::order(&formulas);
    out.formulas = ordered;
    for n in cyclic {
        out.skipped.insert(
            n,
            "formula not created: it uses itself through other formulas".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bronze::DatabaseRecord;
    use crate::restore::snapshot::SnapshotPage;

    fn source(db: &str, ds: &str, title: &str, schema: Value) -> DatabaseRecord {
        DatabaseRecord {
            database_id: db.into(),
            data_source_id: ds.into(),
            database_name: title.to_lowercase(),
            title: title.into(),
            schema: schema.to_string(),
            payload: "{}".into(),
            schema_sha256: String::new(),
            api_version: "2026-03-11".into(),
            observed_at: chrono::Utc::now(),
            sync_run_id: String::new(),
        }
    }

    fn page(ds: &str, id: &str, props: Value) -> SnapshotPage {
        SnapshotPage {
            page_id: id.into(),
            data_source_id: ds.into(),
            last_edited_time: chrono::Utc::now(),
            in_trash: false,
            payload: json!({"id": id, "properties": props}).to_string(),
        }
    }

    fn snapshot() -> Snapshot {
        let tasks = json!({
            "Name": {"id": "title", "type": "title", "title": {}},
            "Status": {"id": "s", "type": "status", "status": {"options": [{"name": "Todo", "color": "red"}, {"name": "Done"}]}},
            "Value": {"id": "v%3A1", "type": "number", "number": {"format": "dollar"}},
            "ROI": {"id": "r", "type": "formula", "formula": {"expression": "{{notion:block_property:v%3A1:00000000-0000-0000-0000-000000000000:t}} * 2"}},
            "ROI twice": {"id": "r2", "type": "formula", "formula": {"expression": "{{notion:block_property:r:00000000-0000-0000-0000-000000000000:t}} * 2"}},
            "Pressed": {"id": "b", "type": "button", "button": {}},
            "Broken": {"id": "x", "type": "formula", "formula": {"expression": "{{notion:block_property:b:00000000-0000-0000-0000-000000000000:t}}"}},
            "Sprint": {"id": "sp", "type": "relation", "relation": {"data_source_id": "ds-s", "database_id": "db-s", "type": "dual_property", "dual_property": {"synced_property_id": "tk", "synced_property_name": "Tasks"}}},
            "Parts": {"id": "pa", "type": "relation", "relation": {"data_source_id": "ds-s", "database_id": "db-s", "type": "single_property", "single_property": {}}},
            "Elsewhere": {"id": "el", "type": "relation", "relation": {"data_source_id": "ds-x", "database_id": "db-x", "type": "single_property", "single_property": {}}},
        });
        let sprints = json!({
            "Name": {"id": "title", "type": "title", "title": {}},
            "Tasks": {"id": "tk", "type": "relation", "relation": {"data_source_id": "ds-t", "database_id": "db-t", "type": "dual_property", "dual_property": {"synced_property_id": "sp", "synced_property_name": "Sprint"}}},
            "Total": {"id": "to", "type": "rollup", "rollup": {"relation_property_name": "Tasks", "rollup_property_name": "Value", "function": "sum"}},
            "Total ROI": {"id": "tr", "type": "rollup", "rollup": {"relation_property_name": "Tasks", "rollup_property_name": "ROI", "function": "sum"}},
        });
        let many: Vec<Value> = (0..120).map(|i| json!({"id": format!("s{i}")})).collect();
        Snapshot {
            databases: vec![
                DatabaseSnapshot {
                    database_id: "db-t".into(),
                    name: "tasks".into(),
                    sources: vec![source("db-t", "ds-t", "Tasks", tasks)],
                    pages: vec![page(
                        "ds-t",
                        "t1",
                        json!({"Parts": {"type": "relation", "relation": many}}),
                    )],
                    ..DatabaseSnapshot::default()
                },
                DatabaseSnapshot {
                    database_id: "db-s".into(),
                    name: "sprints".into(),
                    sources: vec![source("db-s", "ds-s", "Sprints", sprints)],
                    ..DatabaseSnapshot::default()
                },
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn phases_of_a_schema() {
        let plan = plan(&snapshot());
        let tasks = plan.source("ds-t").unwrap();
        let sprints = plan.source("ds-s").unwrap();
        assert_eq!(plan.databases[0].title, "Tasks");
        assert_eq!(
            tasks.plain["Value"],
            json!({"number": {"format": "dollar"}})
        );
        assert_eq!(tasks.plain["Status"], json!({"status": {}}));
        let (name, options) = &tasks.status[0];
        assert_eq!(name, "Status");
        assert_eq!(options.len(), 4, "the defaults and Todo: {options:?}");
        assert!(tasks.skipped.contains_key("Pressed"));
        assert!(tasks.skipped["Broken"].contains("Pressed"));
        let formulas: Vec<(&str, &str)> = tasks
            .formulas
            .iter()
            .map(|(n, e)| (n.as_str(), e.as_str()))
            .collect();
        assert_eq!(
            formulas,
            [
                ("ROI", r#"prop("Value") * 2"#),
                ("ROI twice", r#"prop("ROI") * 2"#)
            ]
        );
        // The dual pair is created once, from the side that sorts first; the other is its back.
        let sprint = tasks.relations.iter().find(|r| r.name == "Sprint");
        assert!(sprint.is_none());
        assert!(tasks.back_relations.contains("Sprint"));
        let made = &sprints.relations[0];
        assert_eq!((made.name.as_str(), made.dual), ("Tasks", true));
        assert_eq!(made.back.as_deref(), Some("Sprint"));
        // Over 100 targets: two-way while its values are written from the back, then one-way.
        let parts = tasks.relations.iter().find(|r| r.name == "Parts").unwrap();
        assert!(parts.dual && parts.from_back && parts.one_way_after);
        let elsewhere = tasks
            .relations
            .iter()
            .find(|r| r.name == "Elsewhere")
            .unwrap();
        assert!(matches!(elsewhere.target, Target::Outside { .. }));
        assert!(sprints.rollups.contains_key("Total"));
        assert!(sprints.late_rollups.contains_key("Total ROI"));
    }
}
