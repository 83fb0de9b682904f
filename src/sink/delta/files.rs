//! Copies of Notion-hosted files: the bytes as objects under `<schema>/_files/`, one row per file in
//! `notion_raw_files`. A file's object is named by the SHA-256 of its key (the URL path Notion keeps
//! while the file exists), so copying it again overwrites the same object and never makes a second one.

use std::collections::HashSet;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use url::Url;

use super::cells::Cell;
use super::schema;
use super::travel::TableAt;
use super::{DeltaSink, Root};
use crate::bronze::FileRecord;
use crate::sink::{FileWriter, SinkError};

/// The folder of copied files under the schema folder.
pub const FILES_DIR: &str = "_files";

/// Where the copy of the file `key` lives, relative to the schema folder.
pub fn object_path(key: &str) -> String {
    format!(
        "{FILES_DIR}/{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

impl DeltaSink {
    /// The object store rooted at the schema folder (local lakes too).
    fn file_store(&self) -> Result<Arc<dyn ObjectStore>, SinkError> {
        if let Some(remote) = &self.remote {
            return Ok(remote.clone());
        }
        let location = |reason: String| SinkError::Location {
            uri: self.uri.clone(),
            reason,
        };
        let url = match &self.root {
            Root::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| location(format!("cannot create {}: {e}", dir.display())))?;
                Url::from_directory_path(dir)
                    .map_err(|_| location(format!("bad path {}", dir.display())))?
            }
            Root::Remote(root) => Url::parse(root).map_err(|e| location(e.to_string()))?,
        };
        super::super::remote::open(&url, &self.storage_options)
            .map_err(|e| location(format!("cannot open the object store: {e}")))
    }

    /// A writer of the copy of file `key` (the object is complete once the writer is shut down).
    pub(super) fn open_file_writer(&self, key: &str) -> Result<FileWriter, SinkError> {
        let store = self.file_store()?;
        let object_path = object_path(key);
        let writer =
            object_store::buffered::BufWriter::new(store, Path::from(object_path.as_str()));
        Ok(FileWriter {
            writer: Box::new(writer),
            object_path,
        })
    }

    /// The bytes of a copied file, `range` of them when given.
    pub async fn read_file(
        &self,
        object_path: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<bytes::Bytes, SinkError> {
        use object_store::ObjectStoreExt;
        let store = self.file_store()?;
        let path = Path::from(object_path);
        let read = match range {
            Some(r) => store.get_range(&path, r).await,
            None => match store.get(&path).await {
                Ok(got) => got.bytes().await,
                Err(e) => Err(e),
            },
        };
        read.map_err(|e| SinkError::Transient {
            table: schema::FILES.name.to_string(),
            reason: format!("cannot read the copy {object_path}: {e}"),
        })
    }

    /// Appends file rows.
    pub(super) async fn append_files(&self, rows: &[FileRecord]) -> Result<(), SinkError> {
        if rows.is_empty() {
            return Ok(());
        }
        let cells: Vec<Vec<Cell>> = rows.iter().map(file_cells).collect();
        self.append(&schema::FILES, &cells, "notion-sync.files")
            .await
            .map(|_| ())
    }

    /// Every copied file (none when the table does not exist yet); the newest row of each key.
    pub async fn read_files(&self) -> Result<Vec<FileRecord>, SinkError> {
        if self
            .table_version(schema::FILES.name)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Ok(Vec::new());
        }
        let mut rows: Vec<FileRecord> = self
            .rows_at(&schema::FILES, TableAt::Latest)
            .await?
            .iter()
            .map(|r| file_from(r))
            .collect();
        rows.sort_by(|a, b| (&a.file_key, b.copied_at).cmp(&(&b.file_key, a.copied_at)));
        rows.dedup_by(|a, b| a.file_key == b.file_key);
        Ok(rows)
    }

    /// The keys of every copied file.
    pub(super) async fn copied_keys(&self) -> Result<HashSet<String>, SinkError> {
        Ok(self
            .read_files()
            .await?
            .into_iter()
            .map(|f| f.file_key)
            .collect())
    }
}

fn file_cells(r: &FileRecord) -> Vec<Cell> {
    let s = |v: &str| Cell::Str(Some(v.to_string()));
    vec![
        s(&r.file_key),
        s(&r.database_id),
        s(&r.page_id),
        Cell::Str(r.block_id.clone()),
        Cell::Str(r.property_id.clone()),
        s(&r.name),
        Cell::Str(r.content_type.clone()),
        Cell::I64(Some(r.size_bytes)),
        s(&r.sha256),
        s(&r.object_path),
        Cell::Ts(Some(r.copied_at)),
        s(&r.sync_run_id),
    ]
}

fn file_from(c: &[Cell]) -> FileRecord {
    FileRecord {
        file_key: c[0].text(),
        database_id: c[1].text(),
        page_id: c[2].text(),
        block_id: c[3].opt_text(),
        property_id: c[4].opt_text(),
        name: c[5].text(),
        content_type: c[6].opt_text(),
        size_bytes: c[7].int(),
        sha256: c[8].text(),
        object_path: c[9].text(),
        copied_at: c[10].ts().unwrap_or_default(),
        sync_run_id: c[11].text(),
    }
}
