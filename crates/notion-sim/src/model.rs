//! The in-memory workspace: users, databases, data sources (schemas) and pages.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A workspace user (person or bot).
#[derive(Debug, Clone)]
pub struct User {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email for people, `None` for the bot.
    pub email: Option<String>,
}

/// How a computed property is evaluated.
#[derive(Debug, Clone)]
pub enum Computed {
    /// `round(Value/(Effort*400)*10)/10`.
    Roi {
        /// Numerator property.
        value: String,
        /// Denominator property.
        effort: String,
    },
    /// A formula with a fixed result of the given JSON form (`{"type":"string","string":"x"}`).
    Fixed(Value),
    /// A rollup over a relation: `count` of targets, or `sum` of a number property of the targets.
    Rollup {
        /// Relation property on this page.
        relation: String,
        /// Number property on the targets (for sum).
        target: String,
        /// `count` or `sum`.
        function: String,
    },
}

/// One schema entry.
#[derive(Debug, Clone)]
pub struct PropSchema {
    /// Stable property id (URL-encoded short string; `title` for the title).
    pub id: String,
    /// Name.
    pub name: String,
    /// Type name (may be a type no client knows).
    pub kind: String,
    /// Type configuration as rendered in the schema.
    pub config: Value,
    /// Evaluation of formula/rollup properties.
    pub computed: Option<Computed>,
}

/// A data source: a schema and rows.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owning database id.
    pub database_id: String,
    /// Schema in display order.
    pub props: Vec<PropSchema>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last schema edit.
    pub edited: DateTime<Utc>,
}

/// A database: a container of data sources.
#[derive(Debug, Clone)]
pub struct Database {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Data source ids in order.
    pub sources: Vec<String>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

/// A page (row).
#[derive(Debug, Clone)]
pub struct Page {
    /// Id.
    pub id: String,
    /// Data source holding it.
    pub data_source_id: String,
    /// Creation time (minute-floored).
    pub created: DateTime<Utc>,
    /// Last edit time (minute-floored).
    pub edited: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub edited_by: String,
    /// In trash.
    pub in_trash: bool,
    /// Archived.
    pub is_archived: bool,
    /// Stored property values by property name: the type-specific inner value (`title` → rich-text
    /// array or a bare string for plain text, `relation` → array of `{id}`, `number` → number, ...).
    /// Computed ones are absent unless a test stores a result for them.
    pub values: BTreeMap<String, Value>,
}

impl Page {
    /// Plain text of the title value.
    pub fn title(&self, ds: &DataSource) -> String {
        ds.props
            .iter()
            .find(|p| p.kind == "title")
            .map(|p| plain_text(self.values.get(&p.name)))
            .unwrap_or_default()
    }
}

/// Plain text of a stored text value: a rich-text array, or a bare string (compact storage of one
/// unannotated text item, expanded when rendered).
pub fn plain_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().filter_map(|t| t["plain_text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// Floors a time to the minute (Notion's timestamp precision).
pub fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap_or(t)
}

/// The format Notion uses for timestamps: `2026-01-05T09:00:00.000Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A content block (page content); pages are block parents too.
#[derive(Debug, Clone)]
pub struct Block {
    /// Id.
    pub id: String,
    /// Parent page or block id.
    pub parent: String,
    /// Whether the parent is a page (else a block).
    pub parent_is_page: bool,
    /// Block type (`paragraph`, `toggle`, ...) under its newest name.
    pub kind: String,
    /// The type-specific payload (without `children`).
    pub payload: Value,
    /// Creation time (minute-floored).
    pub created: DateTime<Utc>,
    /// Last edit time (minute-floored).
    pub edited: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
    /// Last editor.
    pub edited_by: String,
    /// In the trash: no longer among its parent's children.
    pub in_trash: bool,
}

/// A comment on a page or on a block of a page.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Id.
    pub id: String,
    /// The page commented on, or the page holding the block commented on.
    pub page: String,
    /// The page or block commented on.
    pub parent: String,
    /// Whether `parent` is the page (else a block).
    pub parent_is_page: bool,
    /// Discussion id (the first comment of a discussion starts it).
    pub discussion: String,
    /// Plain text.
    pub text: String,
    /// Author.
    pub by: String,
    /// Creation time (minute-floored).
    pub created: DateTime<Utc>,
    /// Last edit time (minute-floored).
    pub edited: DateTime<Utc>,
    /// Resolved discussions are not listed by the API.
    pub resolved: bool,
}

/// Whole workspace state.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Users (people first, the bot last).
    pub users: Vec<User>,
    /// Databases by id.
    pub databases: BTreeMap<String, Database>,
    /// Data sources by id.
    pub sources: BTreeMap<String, DataSource>,
    /// Pages by id.
    pub pages: BTreeMap<String, Page>,
    /// Ids of purged pages.
    pub purged: Vec<String>,
    /// Blocks by id.
    pub blocks: BTreeMap<String, Block>,
    /// Live child block ids by parent (page or block) id, in order.
    pub children: BTreeMap<String, Vec<String>>,
    /// Comments in creation order.
    pub comments: Vec<Comment>,
    /// Next `unique_id` number per data source.
    pub next_unique: BTreeMap<String, u64>,
    /// Raw top-level fields forced onto a page's rendering (`null` removes the field), to serve the
    /// malformed payloads a connector must survive.
    pub overrides: BTreeMap<String, serde_json::Map<String, Value>>,
    /// The integration lacks the user-information capability with email addresses: user objects
    /// carry `person: {}`.
    pub hide_emails: bool,
}

impl Workspace {
    /// The bot user id.
    pub fn bot_id(&self) -> String {
        self.users.last().map(|u| u.id.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_the_minute_in_notion_format() {
        let t = DateTime::parse_from_rfc3339("2026-01-05T09:07:59.999Z")
            .map(|t| t.to_utc())
            .expect("time");
        assert_eq!(iso(floor_minute(t)), "2026-01-05T09:07:00.000Z");
    }
}
