//! `export`: a snapshot written as a self-contained, verifiable backup, as a directory, a zip archive or an
//! SQLite file (the layout is [`super::archive`]'s), optionally encrypted to an age recipient, locally or
//! to an object store.
//!
//! The export is built in memory (the snapshot already is) and written in one step: a single file lands
//! through a temporary file renamed into place, or one conditional put that never overwrites an object;
//! a directory gets its manifest last, so an interrupted one reads as "not an export".

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::RestoreError;
use super::archive::{
    Counts, DatabaseEntry, ExportPoint, ExportSource, FORMAT, FORMAT_VERSION, FileEntry, Kind,
    MANIFEST, Manifest, encode_lines, encode_pages, is_remote, split_object,
};
use super::snapshot::Snapshot;
use super::verify::sha256;
use crate::notion::ErrorClass;

/// How an export is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A directory of JSON Lines files and `manifest.json`.
    Dir,
    /// The same files in one zip archive (deflate).
    Zip,
    /// One SQLite file with a table per kind.
    Sqlite,
}

/// Why an export was not written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The target, format or recipient cannot be used: the message names the flag to fix.
    #[error("{0}")]
    Usage(String),
    /// Writing a local file failed: the message names the path.
    #[error("{0}")]
    Write(String),
    /// The object store refused or failed the upload.
    #[error("{0}")]
    Upload(String),
    /// Reading the snapshot from the lake failed.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// A record could not be encoded.
    #[error("{0}")]
    Internal(String),
}

impl ExportError {
    /// Who must act.
    pub fn class(&self) -> ErrorClass {
        match self {
            ExportError::Usage(_) | ExportError::Write(_) => ErrorClass::Config,
            ExportError::Upload(_) => ErrorClass::Transient,
            ExportError::Restore(e) => e.class(),
            ExportError::Internal(_) => ErrorClass::Internal,
        }
    }
}

/// Where an export goes, checked before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local directory, absent or empty.
    Dir(PathBuf),
    /// A local file that does not exist yet.
    File(PathBuf),
    /// An object on an object store (`s3://`, `az://`, `gs://`).
    Object(String),
}

impl Target {
    /// Checks `--to` for `format`: a directory must be absent or empty, a file absent, an object URI
    /// only for single-file exports (a directory is not encrypted as one file either).
    pub fn check(to: &str, format: Format, encrypted: bool) -> Result<Target, ExportError> {
        let usage = |m: String| Err(ExportError::Usage(m));
        if to.trim().is_empty() {
            return usage("--to must not be empty".into());
        }
        if format == Format::Dir && encrypted {
            return usage(
                "--encrypt-to encrypts one file: add --format zip or --format sqlite".into(),
            );
        }
        if is_remote(to) {
            if format == Format::Dir {
                return usage(format!(
                    "--to {to}: --format dir writes a local directory; use --format zip or sqlite for \
                     an object store"
                ));
            }
            split_object(to).map_err(ExportError::Usage)?;
            return Ok(Target::Object(to.to_string()));
        }
        let path = PathBuf::from(to.strip_prefix("file://").unwrap_or(to));
        match format {
            Format::Dir if path.is_file() => usage(format!(
                "--to {to} is a file; --format dir writes a directory (give a new or empty one)"
            )),
            Format::Dir if path.is_dir() => match std::fs::read_dir(&path).map(|mut e| e.next()) {
                Ok(None) => Ok(Target::Dir(path)),
                Ok(Some(_)) => usage(format!(
                    "--to {to} exists and is not empty: give a new or empty directory"
                )),
                Err(e) => usage(format!("--to {to}: {e}")),
            },
            Format::Dir => Ok(Target::Dir(path)),
            _ if path.exists() => usage(format!(
                "--to {to} exists: remove it or give a new file name"
            )),
            _ => Ok(Target::File(path)),
        }
    }
}

/// Parses `--encrypt-to` (an age X25519 recipient, `age1...`).
pub fn parse_recipient(raw: &str) -> Result<age::x25519::Recipient, ExportError> {
    raw.trim().parse().map_err(|e| {
        ExportError::Usage(format!(
            "--encrypt-to {raw}: not an age X25519 recipient ({e}); give a public key such as \
             age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
        ))
    })
}

/// The lake URI as a manifest may show it: no password (nor the user name given with it), query or
/// fragment, which may hold keys. A user name alone stays: in `abfss://container@account...` it is the
/// container.
pub fn shown_uri(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) if url.scheme().len() > 1 => {
            if url.password().is_some() {
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        _ => uri.to_string(),
    }
}

/// An export's files, built in memory.
#[derive(Debug, Clone)]
pub struct Export {
    /// The manifest.
    pub manifest: Manifest,
    /// Every other file with its bytes, in the manifest's order.
    pub files: Vec<Vec<u8>>,
}

fn internal(e: impl std::fmt::Display) -> ExportError {
    ExportError::Internal(format!("the export cannot be encoded: {e}"))
}

/// Lays `snapshot` out as an export taken from `source` at `created_at`. Files of content, comments and
/// users are written when the snapshot has any; schemas and pages always.
pub fn build(
    snapshot: &Snapshot,
    source: ExportSource,
    created_at: DateTime<Utc>,
) -> Result<Export, ExportError> {
    let mut entries = Vec::new();
    let mut files = Vec::new();
    let mut add = |kind: Kind, db: Option<&str>, rows: usize, bytes: Vec<u8>| {
        if rows == 0 && matches!(kind, Kind::Blocks | Kind::Comments | Kind::Users) {
            return;
        }
        entries.push(FileEntry {
            path: kind.path(db),
            kind,
            database_id: db.map(str::to_string),
            rows: rows as u64,
            bytes: bytes.len() as u64,
            sha256: sha256(&bytes),
        });
        files.push(bytes);
    };
    let mut databases = Vec::new();
    for d in &snapshot.databases {
        let id = Some(d.database_id.as_str());
        add(
            Kind::DataSources,
            id,
            d.sources.len(),
            encode_lines(&d.sources).map_err(internal)?,
        );
        add(
            Kind::Pages,
            id,
            d.pages.len(),
            encode_pages(&d.pages).map_err(internal)?,
        );
        add(
            Kind::Blocks,
            id,
            d.blocks.len(),
            encode_lines(&d.blocks).map_err(internal)?,
        );
        add(
            Kind::Comments,
            id,
            d.comments.len(),
            encode_lines(&d.comments).map_err(internal)?,
        );
        databases.push(DatabaseEntry {
            database_id: d.database_id.clone(),
            name: d.name.clone(),
            data_sources: d.sources.iter().map(|s| s.data_source_id.clone()).collect(),
            counts: Counts {
                data_sources: d.sources.len() as u64,
                pages: d.pages.len() as u64,
                blocks: d.blocks.len() as u64,
                comments: d.comments.len() as u64,
            },
        });
    }
    let users = &snapshot.users;
    add(
        Kind::Users,
        None,
        users.len(),
        encode_lines(users).map_err(internal)?,
    );
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created_at,
        notion_sync_version: env!("CARGO_PKG_VERSION").into(),
        source,
        point: ExportPoint {
            as_of: snapshot.as_of,
            pages_version: snapshot.pages_version,
            at: snapshot.at,
        },
        content_gap: snapshot.content_gap.clone(),
        users: users.len() as u64,
        databases,
        files: entries,
    };
    Ok(Export { manifest, files })
}

impl Export {
    fn manifest_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let mut out = serde_json::to_vec_pretty(&self.manifest).map_err(internal)?;
        out.push(b'\n');
        Ok(out)
    }

    fn each(&self) -> impl Iterator<Item = (&FileEntry, &[u8])> {
        self.manifest
            .files
            .iter()
            .zip(self.files.iter().map(Vec::as_slice))
    }

    /// The export as one zip archive (deflate), the manifest first.
    pub fn zip(&self) -> Result<Vec<u8>, ExportError> {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = |len: usize| {
            SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(len as u64 > u64::from(u32::MAX))
        };
        let manifest = self.manifest_bytes()?;
        let all = std::iter::once((MANIFEST, manifest.as_slice()))
            .chain(self.each().map(|(f, b)| (f.path.as_str(), b)));
        for (path, bytes) in all {
            zip.start_file(path, options(bytes.len()))
                .map_err(internal)?;
            zip.write_all(bytes).map_err(internal)?;
        }
        Ok(zip.finish().map_err(internal)?.into_inner())
    }

    /// The export as one SQLite database: `manifest`, `databases`, and a table per kind whose rows are the
    /// lines of its files (`record` is the line, `seq` its place).
    pub fn sqlite(&self) -> Result<Vec<u8>, ExportError> {
        let mut conn = rusqlite::Connection::open_in_memory().map_err(internal)?;
        let tx = conn.transaction().map_err(internal)?;
        let mut ddl = String::from(
            "CREATE TABLE manifest (name TEXT PRIMARY KEY, json TEXT NOT NULL);\n\
             CREATE TABLE databases (database_id TEXT PRIMARY KEY, name TEXT NOT NULL, \
             data_sources INTEGER NOT NULL, pages INTEGER NOT NULL, blocks INTEGER NOT NULL, \
             comments INTEGER NOT NULL);\n",
        );
        for kind in Kind::ALL {
            let t = kind.name();
            ddl.push_str(&format!(
                "CREATE TABLE {t} (database_id TEXT, seq INTEGER NOT NULL, id TEXT, page_id TEXT, \
                 record TEXT NOT NULL);\nCREATE INDEX {t}_by_database ON {t} (database_id, seq);\n"
            ));
        }
        tx.execute_batch(&ddl).map_err(internal)?;
        let manifest = String::from_utf8(self.manifest_bytes()?).map_err(internal)?;
        tx.execute(
            "INSERT INTO manifest (name, json) VALUES (?1, ?2)",
            (MANIFEST, manifest),
        )
        .map_err(internal)?;
        for d in &self.manifest.databases {
            let c = &d.counts;
            tx.execute(
                "INSERT INTO databases VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    &d.database_id,
                    &d.name,
                    c.data_sources as i64,
                    c.pages as i64,
                    c.blocks as i64,
                    c.comments as i64,
                ),
            )
            .map_err(internal)?;
        }
        for (f, bytes) in self.each() {
            let sql = format!(
                "INSERT INTO {} (database_id, seq, id, page_id, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                f.kind.name()
            );
            let mut stmt = tx.prepare(&sql).map_err(internal)?;
            let text = std::str::from_utf8(bytes).map_err(internal)?;
            for (seq, line) in text.lines().enumerate() {
                let keys: LineKeys = serde_json::from_str(line).map_err(internal)?;
                stmt.execute((
                    &f.database_id,
                    seq as i64,
                    keys.id(f.kind),
                    &keys.page_id,
                    line,
                ))
                .map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)?;
        let data = conn.serialize("main").map_err(internal)?;
        Ok(data.to_vec())
    }

    /// The bytes of a single-file export in `format`, encrypted when a recipient is given.
    pub fn single_file(
        &self,
        format: Format,
        recipient: Option<&age::x25519::Recipient>,
    ) -> Result<Vec<u8>, ExportError> {
        let plain = match format {
            Format::Zip => self.zip()?,
            Format::Sqlite => self.sqlite()?,
            Format::Dir => return Err(internal("a directory is not one file")),
        };
        match recipient {
            Some(r) => encrypt(&plain, r),
            None => Ok(plain),
        }
    }
}

/// The key columns of a line, for the SQLite tables.
#[derive(serde::Deserialize)]
struct LineKeys {
    page_id: Option<String>,
    data_source_id: Option<String>,
    block_id: Option<String>,
    comment_id: Option<String>,
    user_id: Option<String>,
}

impl LineKeys {
    fn id(&self, kind: Kind) -> &Option<String> {
        match kind {
            Kind::DataSources => &self.data_source_id,
            Kind::Pages => &self.page_id,
            Kind::Blocks => &self.block_id,
            Kind::Comments => &self.comment_id,
            Kind::Users => &self.user_id,
        }
    }
}

/// `plain` encrypted to `recipient` (binary age format).
pub fn encrypt(plain: &[u8], recipient: &age::x25519::Recipient) -> Result<Vec<u8>, ExportError> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(internal)?;
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut writer = encryptor.wrap_output(&mut out).map_err(internal)?;
    writer.write_all(plain).map_err(internal)?;
    writer.finish().map_err(internal)?;
    Ok(out)
}

/// Writes `export` to `target` in `format`; object stores get the lake's object-store settings.
pub async fn write(
    export: &Export,
    target: &Target,
    format: Format,
    recipient: Option<&age::x25519::Recipient>,
    storage: &HashMap<String, String>,
) -> Result<(), ExportError> {
    match target {
        Target::Dir(path) => write_dir(export, path),
        Target::File(path) => write_file(path, &export.single_file(format, recipient)?),
        Target::Object(uri) => put(uri, export.single_file(format, recipient)?, storage).await,
    }
}

fn write_dir(export: &Export, root: &Path) -> Result<(), ExportError> {
    let fail = |p: &Path, e: std::io::Error| {
        ExportError::Write(format!(
            "--to {}: cannot write {}: {e}",
            root.display(),
            p.display()
        ))
    };
    let manifest = export.manifest_bytes()?;
    let all = export
        .each()
        .map(|(f, b)| (f.path.as_str(), b))
        .chain(std::iter::once((MANIFEST, manifest.as_slice())));
    for (rel, bytes) in all {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let fail = |e: &dyn std::fmt::Display| {
        ExportError::Write(format!("--to {}: cannot write: {e}", path.display()))
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| fail(&e))?;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist_noclobber(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

async fn put(
    uri: &str,
    bytes: Vec<u8>,
    storage: &HashMap<String, String>,
) -> Result<(), ExportError> {
    use object_store::{PutMode, PutOptions, PutPayload};
    let (root, name) = split_object(uri).map_err(ExportError::Usage)?;
    let store = crate::sink::remote::open(&root, storage).map_err(|e| {
        ExportError::Usage(format!("--to {uri}: cannot open the object store: {e}"))
    })?;
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store
        .put_opts(&name, PutPayload::from(bytes), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => Err(ExportError::Usage(format!(
            "--to {uri} exists: remove it or give a new object name"
        ))),
        Err(e) => Err(ExportError::Upload(format!(
            "--to {uri}: the upload failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_show_the_lake_without_credentials() {
        assert_eq!(
            shown_uri("s3://AKIA:secret@bucket/lake?sig=abc#x"),
            "s3://bucket/lake"
        );
        assert_eq!(shown_uri("/data/lake"), "/data/lake");
        assert_eq!(
            shown_uri("abfss://c@acct.dfs.core.windows.net/l"),
            "abfss://c@acct.dfs.core.windows.net/l"
        );
    }

    #[test]
    fn targets_are_checked_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        let s = p.to_str().unwrap();
        assert_eq!(
            Target::check(s, Format::Dir, false).unwrap(),
            Target::Dir(p.clone())
        );
        assert!(
            Target::check(s, Format::Dir, true).is_err(),
            "a directory is not encrypted"
        );
        assert!(Target::check("s3://b/out", Format::Dir, false).is_err());
        assert!(
            Target::check("s3://b/", Format::Zip, false).is_err(),
            "no object name"
        );
        assert_eq!(
            Target::check("s3://b/x/out.zip", Format::Zip, true).unwrap(),
            Target::Object("s3://b/x/out.zip".into())
        );
        std::fs::write(&p, b"x").unwrap();
        let err = Target::check(s, Format::Zip, false).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        assert!(parse_recipient("age1nope").is_err());
    }
}
