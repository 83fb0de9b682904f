//! Bronze rows: what one sync writes for a page, a data-source schema, a watermark and a run.
//!
//! These plain structs are the contract between extraction (which fills them from Notion payloads) and the
//! sinks (which turn them into Arrow record batches and Delta commits, or SQL rows). They carry no Arrow
//! or Delta types so that every sink can share them.

pub mod content;
pub mod record;

pub use content::{BlockRecord, CommentRecord, PageContent, UserRecord};

pub use record::{
    ContentCounts, DatabaseRecord, DeletedReason, FileRecord, PageRecord, RejectRecord,
    RestoreLogRecord, RunRecord, RunStatus, SyncMode, WatermarkRecord,
};
