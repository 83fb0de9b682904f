//! The restore path: a snapshot of bronze (a version, a point in time, or an export) brought back into
//! Notion.
//!
//! Stages, each importing only those before it: [`point`] (what `--as-of` names) → [`snapshot`] (the
//! state to bring back, from the lake or an export) → the planner (the snapshot against live Notion: one
//! action per page) → the executor (the plan's writes, journaled in `notion_restore_log` so a rerun with
//! `--resume` finishes without creating anything twice).

pub mod apply;
pub mod archive;
pub mod content;
pub mod export;
pub mod journal;
pub mod live;
pub mod plan;
pub mod point;
pub mod rebuild;
pub mod snapshot;
pub mod upload;
pub mod verify;
pub mod write;

pub use point::AsOf;
pub use snapshot::{DatabaseSnapshot, Snapshot, SnapshotPage};

use crate::notion::{ErrorClass, NotionError};
use crate::sink::SinkError;

/// Why a restore (or its plan) stopped.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The restore point cannot be used (no such version, nothing observed before the time).
    #[error("{0}")]
    Point(String),
    /// The snapshot's source cannot be read (an export that does not verify, a missing file).
    #[error("{0}")]
    Source(String),
    /// Reading or writing the lake failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A Notion request failed.
    #[error(transparent)]
    Notion(#[from] NotionError),
}

impl RestoreError {
    /// Who must act.
    pub fn class(&self) -> ErrorClass {
        match self {
            RestoreError::Point(_) | RestoreError::Source(_) => ErrorClass::Config,
            RestoreError::Sink(e) => e.class(),
            RestoreError::Notion(e) => e.class,
        }
    }
}
