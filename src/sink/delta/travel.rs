//! Reading tables as they were: at a Delta version, or at a point in time.
//!
//! A point in time resolves to the newest version whose commit time is not after it (commit times are the
//! commits' own, read from the log). Reading a version whose data files `optimize` vacuumed fails with a
//! storage error; the history table, which is append-only, answers for pages instead.

use chrono::{DateTime, Utc};

use super::cells::Cell;
use super::schema::{self, TableSpec};
use super::{DeltaSink, StoredPage, content_records, records};
use crate::bronze::{BlockRecord, CommentRecord, RestoreLogRecord, UserRecord};
use crate::sink::SinkError;

/// Which state of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAt {
    /// The latest version.
    Latest,
    /// A Delta version.
    Version(u64),
    /// The newest version committed at or before this time.
    Time(DateTime<Utc>),
}

impl DeltaSink {
    /// The version of `table` in effect at `t`: the newest whose commit time is not after it (`None` when
    /// the table had no commit yet).
    pub async fn version_at(
        &self,
        table: &str,
        t: DateTime<Utc>,
    ) -> Result<Option<u64>, SinkError> {
        Ok(self
            .commits(table)
            .await?
            .iter()
            .filter(|c| c.committed_at.is_some_and(|at| at <= t))
            .map(|c| c.version)
            .max())
    }

    /// The commit time of `version` of `table` (`None` when its commit file is gone).
    pub async fn committed_at(
        &self,
        table: &str,
        version: u64,
    ) -> Result<Option<DateTime<Utc>>, SinkError> {
        Ok(self
            .commits(table)
            .await?
            .into_iter()
            .find(|c| c.version == version)
            .and_then(|c| c.committed_at))
    }

    /// Table `name` at `at`, to read through DataFusion (`notion-sync query`); `None` when the table does
    /// not exist, or did not yet at `at`.
    pub async fn table_at(
        &self,
        name: &str,
        at: TableAt,
    ) -> Result<Option<deltalake::DeltaTable>, SinkError> {
        // A read creates nothing: a local table without a log does not exist.
        if let super::Root::Local(dir) = &self.root
            && !dir.join(name).join("_delta_log").exists()
        {
            return Ok(None);
        }
        let mut table = self.handle(name).await?;
        if table.version().is_none() {
            return Ok(None);
        }
        let version = match at {
            TableAt::Latest => None,
            TableAt::Version(v) => Some(v),
            TableAt::Time(t) => match self.version_at(name, t).await? {
                Some(v) => Some(v),
                None => return Ok(None),
            },
        };
        if let Some(v) = version {
            table
                .load_version(v)
                .await
                .map_err(|e| self.fail(name, e))?;
        }
        Ok(Some(table))
    }

    /// Every row of `spec`'s table at `at` (empty when the table did not exist yet).
    pub(super) async fn rows_at(
        &self,
        spec: &TableSpec,
        at: TableAt,
    ) -> Result<Vec<Vec<Cell>>, SinkError> {
        let version = match at {
            TableAt::Latest => None,
            TableAt::Version(v) => Some(v),
            TableAt::Time(t) => match self.version_at(spec.name, t).await? {
                Some(v) => Some(v),
                None => return Ok(Vec::new()),
            },
        };
        let mut table = self.open(spec).await?;
        if let Some(v) = version {
            table
                .load_version(v)
                .await
                .map_err(|e| self.fail(spec.name, e))?;
        }
        self.scan_table(table, spec, None).await
    }

    /// Page rows at `at`.
    pub async fn pages_at(&self, at: TableAt) -> Result<Vec<StoredPage>, SinkError> {
        let rows = self.rows_at(&schema::PAGES, at).await?;
        Ok(rows.iter().map(|r| records::page_from(r)).collect())
    }

    /// Block rows at `at`.
    pub async fn blocks_at(&self, at: TableAt) -> Result<Vec<BlockRecord>, SinkError> {
        let rows = self.rows_at(&schema::BLOCKS, at).await?;
        Ok(rows
            .iter()
            .map(|r| content_records::block_from(r))
            .collect())
    }

    /// Comment rows at `at`.
    pub async fn comments_at(&self, at: TableAt) -> Result<Vec<CommentRecord>, SinkError> {
        let rows = self.rows_at(&schema::COMMENTS, at).await?;
        Ok(rows
            .iter()
            .map(|r| content_records::comment_from(r))
            .collect())
    }

    /// User rows at `at`.
    pub async fn users_at(&self, at: TableAt) -> Result<Vec<UserRecord>, SinkError> {
        let rows = self.rows_at(&schema::USERS, at).await?;
        Ok(rows.iter().map(|r| content_records::user_from(r)).collect())
    }
}

impl DeltaSink {
    /// Appends journal rows of a restore (one commit).
    pub async fn append_restore_log(&self, rows: &[RestoreLogRecord]) -> Result<(), SinkError> {
        if rows.is_empty() {
            return Ok(());
        }
        let cells: Vec<Vec<Cell>> = rows.iter().map(records::restore_log_cells).collect();
        self.append(&schema::RESTORE_LOG, &cells, "notion-sync.restore_log")
            .await
            .map(|_| ())
    }

    /// Every journal row of `restore_id`, in step order.
    pub async fn read_restore_log(
        &self,
        restore_id: &str,
    ) -> Result<Vec<RestoreLogRecord>, SinkError> {
        let mut out: Vec<RestoreLogRecord> = self
            .read_restore_log_all()
            .await?
            .into_iter()
            .filter(|r| r.restore_id == restore_id)
            .collect();
        out.sort_by_key(|r| r.step);
        Ok(out)
    }

    /// Every journal row of every restore (none when the table does not exist yet).
    pub async fn read_restore_log_all(&self) -> Result<Vec<RestoreLogRecord>, SinkError> {
        if self
            .table_version(schema::RESTORE_LOG.name)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Ok(Vec::new());
        }
        let rows = self.rows_at(&schema::RESTORE_LOG, TableAt::Latest).await?;
        Ok(rows.iter().map(|r| records::restore_log_from(r)).collect())
    }
}
