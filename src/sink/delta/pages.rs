//! The MERGE of a planned page change into `notion_raw_pages` (see [`crate::sink::plan::pages`] for the
//! planning).

use std::collections::HashSet;

use deltalake::arrow::array::RecordBatch;

use super::cells::Cell;
use super::records;
use super::schema;
use crate::sink::plan::pages::PageChange;

/// The MERGE source: full rows, then flag rows (their payload columns are placeholders, never written),
/// plus the flag column.
pub(super) fn merge_source(change: &PageChange) -> Result<RecordBatch, String> {
    let rows: Vec<Vec<Cell>> = change.rows.iter().map(records::page_cells).collect();
    let flags: Vec<Vec<Cell>> = change
        .flags
        .iter()
        .map(|f| records::page_cells(&f.placeholder()))
        .collect();
    super::entities::flagged_batch(&schema::PAGES, &rows, &flags)
}

/// The MERGE join, restricted to the partitions the change touches so other databases' files are pruned.
pub(super) fn merge_on(change: &PageChange) -> String {
    let databases: HashSet<&str> = change
        .rows
        .iter()
        .map(|r| r.database_id.as_str())
        .chain(change.flags.iter().map(|f| f.database_id.as_str()))
        .collect();
    let mut list: Vec<String> = databases.into_iter().map(crate::sink::sql_str).collect();
    list.sort();
    format!(
        "t.database_id = s.database_id AND t.page_id = s.page_id AND t.database_id IN ({})",
        list.join(", ")
    )
}
