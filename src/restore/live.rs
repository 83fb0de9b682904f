//! What Notion holds now, as the planner compares it with a snapshot: each data source's pages (both
//! partitions, truncated properties completed), the pages a query no longer lists (fetched one by one:
//! trashed, moved or gone), and the content of the pages whose edits may have touched it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::bronze::{BlockRecord, DatabaseRecord};
use crate::config::DatabaseConfig;
use crate::extract::content::{ContentOptions, read_page_content};
use crate::extract::convert::RowContext;
use crate::extract::hydrate::hydrate_page;
use crate::extract::resolve::resolve_sources;
use crate::notion::model::ListPage;
use crate::notion::{Client, NotionError, RequestStats};

/// A page as Notion serves it now.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePage {
    /// Page id.
    pub page_id: String,
    /// The data source it is in (`None`: it is no longer in a data source of this database).
    pub data_source_id: Option<String>,
    /// In the trash.
    pub in_trash: bool,
    /// Its `last_edited_time`.
    pub last_edited_time: Option<DateTime<Utc>>,
    /// The page object, truncated properties completed.
    pub page: Value,
}

impl LivePage {
    /// A page object as read.
    pub fn of(page: Value) -> LivePage {
        let parent = &page["parent"];
        let data_source_id = parent["data_source_id"]
            .as_str()
            .or(parent["database_id"].as_str())
            .map(str::to_string);
        LivePage {
            page_id: page["id"].as_str().unwrap_or_default().to_string(),
            data_source_id,
            in_trash: page["in_trash"].as_bool().unwrap_or(false)
                || page["archived"].as_bool().unwrap_or(false),
            last_edited_time: page["last_edited_time"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc()),
            page,
        }
    }
}

/// One database now.
#[derive(Debug, Clone, Default)]
pub struct LiveDatabase {
    /// Its data sources' schemas now.
    pub sources: Vec<DatabaseRecord>,
    /// Every page its data sources list, by page id.
    pub pages: BTreeMap<String, LivePage>,
    /// Notion's clock (its `Date` header) at the last answer of the read.
    pub clock: Option<DateTime<Utc>>,
}

/// Resolves the database and lists every page of its data sources.
pub async fn read_database(
    client: &Client,
    db: &DatabaseConfig,
    stats: &RequestStats,
) -> Result<LiveDatabase, NotionError> {
    let sources = resolve_sources(client, db, None, "restore", Utc::now(), stats).await?;
    let mut pages = BTreeMap::new();
    let mut clock = None;
    for s in &sources {
        for archived in [false, true] {
            for page in
                query_all_from(client, &s.data_source_id, archived, None, &mut clock, stats).await?
            {
                let live = complete(client, page, stats).await?;
                pages.insert(live.page_id.clone(), live);
            }
        }
    }
    Ok(LiveDatabase {
        sources: sources.into_iter().map(|s| s.snapshot).collect(),
        pages,
        clock,
    })
}

/// `GET /v1/pages/{id}`: `None` when Notion has no such page (purged, or no longer shared).
pub async fn read_page(
    client: &Client,
    page_id: &str,
    stats: &RequestStats,
) -> Result<Option<LivePage>, NotionError> {
    match client
        .get::<Box<RawValue>>(&format!("/v1/pages/{page_id}"), &[], Some(page_id), stats)
        .await
    {
        Ok(raw) => Ok(Some(complete(client, raw, stats).await?)),
        Err(e) if e.status == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A page with its truncated properties completed.
async fn complete(
    client: &Client,
    raw: Box<RawValue>,
    stats: &RequestStats,
) -> Result<LivePage, NotionError> {
    let text = raw.get();
    let id = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let text = match hydrate_page(client, &id, text, stats).await? {
        Some(h) => h.payload,
        None => text.to_string(),
    };
    Ok(LivePage::of(
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
}

/// Every page of one partition of a data source. Sorted by creation, so a query stopped at Notion's
/// result cap continues from the last creation minute it reached.
async fn query_all_from(
    client: &Client,
    data_source_id: &str,
    archived: bool,
    mut from: Option<String>,
    clock: &mut Option<DateTime<Utc>>,
    stats: &RequestStats,
) -> Result<Vec<Box<RawValue>>, NotionError> {
    let path = if client.api_version().has_data_sources() {
        format!("/v1/data_sources/{data_source_id}/query")
    } else {
        format!("/v1/databases/{data_source_id}/query")
    };
    let mut seen: HashMap<String, Box<RawValue>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    loop {
        let mut cursor: Option<String> = None;
        let mut capped = false;
        let mut newest: Option<String> = None;
        loop {
            let mut body = json!({"page_size": 100,
                "sorts": [{"timestamp": "created_time", "direction": "ascending"}]});
            if let Some(f) = &from {
                body["filter"] =
                    json!({"timestamp": "created_time", "created_time": {"on_or_after": f}});
            }
            if archived {
                body["is_archived"] = json!(true);
            }
            if let Some(c) = &cursor {
                body["start_cursor"] = json!(c);
            }
            let (page, date): (ListPage, _) = client
                .post_read(&path, &[], &body, Some(data_source_id), stats)
                .await?;
            *clock = (*clock).max(date);
            capped |= page.is_capped();
            for raw in page.results {
                let head: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
                if head["object"] != "page" {
                    continue;
                }
                newest = head["created_time"].as_str().map(str::to_string).or(newest);
                let id = head["id"].as_str().unwrap_or_default().to_string();
                if seen.insert(id.clone(), raw).is_none() {
                    order.push(id);
                }
            }
            match (page.has_more, page.next_cursor) {
                (true, Some(next)) => cursor = Some(next),
                _ => break,
            }
        }
        if !capped {
            break;
        }
        // Continue from the newest creation time reached; a minute holding more than the cap cannot.
        if newest.is_none() || newest == from {
            return Err(NotionError {
                status: None,
                code: "result_cap".into(),
                message: format!(
                    "data source {data_source_id} holds more pages created in one minute than a query returns"
                ),
                request_id: None,
                endpoint: format!("POST {path}"),
                object_id: Some(data_source_id.to_string()),
                hint: None,
                class: crate::notion::ErrorClass::Internal,
                committed_id: None,
                committed_children: Vec::new(),
            });
        }
        from = newest;
    }
    Ok(order
        .into_iter()
        .filter_map(|id| seen.remove(&id))
        .collect())
}

/// A page's blocks now, in document order.
pub async fn read_content(
    client: &Client,
    db: &DatabaseConfig,
    page_id: &str,
    stats: &RequestStats,
) -> Result<Vec<BlockRecord>, crate::extract::SyncError> {
    let ctx = RowContext {
        database_id: db.id.clone(),
        data_source_id: db.id.clone(),
        database_name: db.name.clone(),
        api_version: client.api_version(),
        run_id: "restore".into(),
        synced_at: Utc::now(),
    };
    let read = read_page_content(client, &ctx, page_id, ContentOptions::default(), stats).await?;
    Ok(read.content.blocks)
}

/// The ids of a block's children, in order.
pub async fn children_ids(
    client: &Client,
    block_id: &str,
    stats: &RequestStats,
) -> Result<Vec<String>, NotionError> {
    let counter = std::sync::atomic::AtomicU64::new(0);
    let items = client
        .get_all(
            &format!("/v1/blocks/{block_id}/children"),
            Some(block_id),
            stats,
            &counter,
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect())
}

/// The plain title of a page object.
pub fn page_title(page: &Value) -> String {
    page["properties"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .find(|p| p["type"] == "title")
        .map(|p| crate::notion::model::plain_text(&p["title"]))
        .unwrap_or_default()
}

/// The page of `data_source_id` titled `title`, created at or after `since` and not in `taken`: the
/// page a create whose answer was lost made, if it made one.
pub async fn find_created(
    client: &Client,
    data_source_id: &str,
    since: DateTime<Utc>,
    title: &str,
    taken: &std::collections::HashSet<String>,
    stats: &RequestStats,
) -> Result<Option<String>, NotionError> {
    Ok(created_since(client, data_source_id, since, stats)
        .await?
        .into_iter()
        .find(|p| page_title(&p.page) == title && !taken.contains(&p.page_id))
        .map(|p| p.page_id))
}

/// The pages of a data source created at or after `since`.
pub async fn created_since(
    client: &Client,
    data_source_id: &str,
    since: DateTime<Utc>,
    stats: &RequestStats,
) -> Result<Vec<LivePage>, NotionError> {
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let raw = query_all_from(client, data_source_id, false, Some(since), &mut None, stats).await?;
    Ok(raw
        .iter()
        .filter_map(|r| serde_json::from_str(r.get()).ok())
        .map(LivePage::of)
        .collect())
}
