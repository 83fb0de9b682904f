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
    /// A formula evaluated from its (tokenised) expression on every read (see [`crate::formula`]).
    Formula,
    /// A rollup over a relation, by property ids (stable across renames).
    Rollup {
        /// Id of the relation property on this data source.
        relation: String,
        /// Id of the property rolled up on the related data source.
        target: String,
        /// Notion's rollup function name (`count`, `sum`, ...).
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
    /// Parent, description, icon, cover and layout.
    pub meta: DatabaseMeta,
}

/// What a database has besides its data sources.
#[derive(Debug, Clone, Default)]
pub struct DatabaseMeta {
    /// The page holding the database (`None`: the workspace).
    pub parent_page: Option<String>,
    /// Description rich text as served (`None`: empty).
    pub description: Option<Value>,
    /// Icon object as served (`null` when none).
    pub icon: Value,
    /// Cover object as served (`null` when none).
    pub cover: Value,
    /// Shown inline in its parent page.
    pub is_inline: bool,
    /// Last edit of the database itself (its data sources' edits count too).
    pub edited: DateTime<Utc>,
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
    /// Parent page, icon and cover.
    pub meta: PageMeta,
}

/// What a page has besides its row values.
#[derive(Debug, Clone, Default)]
pub struct PageMeta {
    /// The parent page of a page created under a page (its `data_source_id` is then empty and its
    /// only property is `title`).
    pub parent_page: Option<String>,
    /// Icon object as served (`null` when none).
    pub icon: Value,
    /// Cover object as served (`null` when none).
    pub cover: Value,
}

/// The schema of a page whose parent is a page: only a `title` property.
pub fn page_schema() -> &'static DataSource {
    static SCHEMA: std::sync::OnceLock<DataSource> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| DataSource {
        id: String::new(),
        name: String::new(),
        database_id: String::new(),
        props: vec![PropSchema {
            id: "title".into(),
            name: "title".into(),
            kind: "title".into(),
            config: Value::Object(Default::default()),
            computed: None,
        }],
        created: DateTime::<Utc>::UNIX_EPOCH,
        edited: DateTime::<Utc>::UNIX_EPOCH,
    })
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
    /// For a trashed block: the live sibling it followed when trashed (`None`: it was first), where
    /// restoring it puts it back.
    pub restore_after: Option<String>,
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
    /// The rich text as written through the API (`None`: one plain text item of `text`).
    pub rich: Option<Value>,
    /// A custom display name given through the API (`display_name.custom.name`).
    pub display_name: Option<String>,
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
    /// Notion-hosted files by key (`{id}/{name}`): generated ones and uploaded ones.
    pub files: BTreeMap<String, crate::files::Blob>,
    /// File uploads by id.
    pub uploads: BTreeMap<String, Upload>,
    /// The simulated time of the request holding the workspace lock (set when it is taken).
    pub now: DateTime<Utc>,
}

/// How a file upload sends its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// One `send` of at most 20 MB.
    SinglePart,
    /// `number_of_parts` sends (each but the last 5–20 MB), then `complete`.
    MultiPart,
}

/// A file upload (File Upload API).
#[derive(Debug, Clone)]
pub struct Upload {
    /// Id.
    pub id: String,
    /// Mode.
    pub mode: UploadMode,
    /// Creation time (minute-floored).
    pub created: DateTime<Utc>,
    /// Last change (minute-floored).
    pub edited: DateTime<Utc>,
    /// Until when it can be sent to and attached (created + 1 hour).
    pub expiry: DateTime<Utc>,
    /// File name (from the create request, else from the sent file).
    pub filename: Option<String>,
    /// Content type (from the create request, else from the sent file or the name).
    pub content_type: Option<String>,
    /// Parts expected (multi-part).
    pub total_parts: Option<u32>,
    /// Parts received by number (multi-part).
    pub parts: BTreeMap<u32, std::sync::Arc<Vec<u8>>>,
    /// Key of the hosted file once uploaded.
    pub key: Option<String>,
    /// Bytes once uploaded.
    pub content_length: Option<usize>,
}

impl Workspace {
    /// The bot user id.
    pub fn bot_id(&self) -> String {
        self.users.last().map(|u| u.id.clone()).unwrap_or_default()
    }

    /// The schema a page's properties follow: its data source's, or the title-only schema of a page
    /// under a page.
    pub fn source_of(&self, page: &Page) -> Option<&DataSource> {
        match page.meta.parent_page {
            Some(_) => Some(page_schema()),
            None => self.sources.get(&page.data_source_id),
        }
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
