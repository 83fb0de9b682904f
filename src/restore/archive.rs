//! The export format, and an export read back into the [`Snapshot`] it was written from.
//!
//! An export is a set of named files: `manifest.json`, `users.jsonl` and, per database,
//! `databases/<id>/{data_sources,pages,blocks,comments}.jsonl` with one record per line. `dir` keeps them
//! as files, `zip` as entries, and `sqlite` as the rows of one table per kind (a row is a line, `seq` its
//! place), so one manifest, holding the SHA-256 and the row count of every file, checks all three. Any
//! single-file export may be encrypted as a whole to an age recipient; it is decrypted in memory, never to
//! a file.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::point::AsOf;
use super::snapshot::{DatabaseSnapshot, Snapshot, SnapshotPage};
use super::{RestoreError, verify};
use crate::config::Store;

/// The manifest's file name (and its row in the `manifest` table of an SQLite export).
pub const MANIFEST: &str = "manifest.json";
/// What `format` says in every manifest.
pub const FORMAT: &str = "notion-sync-export";
/// The version of the layout described here; readers refuse newer ones.
pub const FORMAT_VERSION: u32 = 1;

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// What a file of an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Schema snapshots of a database's data sources (`DatabaseRecord`).
    DataSources,
    /// Pages: ids, edit time, trash flag and the raw payload.
    Pages,
    /// Page content, each page's blocks in document order (`BlockRecord`).
    Blocks,
    /// Comments (`CommentRecord`).
    Comments,
    /// Workspace users (`UserRecord`), one file for the export.
    Users,
}

impl Kind {
    /// Every kind, in the order files are written.
    pub const ALL: [Kind; 5] = [
        Kind::DataSources,
        Kind::Pages,
        Kind::Blocks,
        Kind::Comments,
        Kind::Users,
    ];

    /// The name of the file (without `.jsonl`) and of the SQLite table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::DataSources => "data_sources",
            Kind::Pages => "pages",
            Kind::Blocks => "blocks",
            Kind::Comments => "comments",
            Kind::Users => "users",
        }
    }

    /// The path of this kind's file for `database_id` (users have none).
    pub fn path(self, database_id: Option<&str>) -> String {
        match database_id {
            Some(id) => format!("databases/{id}/{}.jsonl", self.name()),
            None => format!("{}.jsonl", self.name()),
        }
    }
}

/// `manifest.json`: what the export holds and how to check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// When the export was written.
    pub created_at: DateTime<Utc>,
    /// The notion-sync version that wrote it.
    pub notion_sync_version: String,
    /// What it was taken from.
    pub source: ExportSource,
    /// The point in time it holds.
    pub point: ExportPoint,
    /// Why content is missing, when bronze could not give it for this point.
    pub content_gap: Option<String>,
    /// Users in `users.jsonl`.
    pub users: u64,
    /// The databases, in the snapshot's order.
    pub databases: Vec<DatabaseEntry>,
    /// Every file but the manifest, with its size, rows and hash.
    pub files: Vec<FileEntry>,
}

/// The lake an export was taken from: its URI without credentials, and the bronze schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportSource {
    /// `LAKEHOUSE_URI`, without user info, query or fragment.
    pub lake: String,
    /// `BRONZE_SCHEMA`.
    pub schema: String,
}

/// The resolved point in time of an export (the snapshot's `as_of`, `pages_version` and `at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportPoint {
    /// The point asked for.
    pub as_of: Option<AsOf>,
    /// The version of `notion_raw_pages` read.
    pub pages_version: Option<u64>,
    /// The time of the state.
    pub at: Option<DateTime<Utc>>,
}

/// One database of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// Database id.
    pub database_id: String,
    /// Configured name.
    pub name: String,
    /// Its data sources' ids.
    pub data_sources: Vec<String>,
    /// Rows per kind.
    pub counts: Counts,
}

/// Rows of each kind of one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Data-source schemas.
    pub data_sources: u64,
    /// Pages.
    pub pages: u64,
    /// Blocks.
    pub blocks: u64,
    /// Comments.
    pub comments: u64,
}

impl Counts {
    /// The count of `kind` (users are counted for the whole export, not here).
    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::DataSources => self.data_sources,
            Kind::Pages => self.pages,
            Kind::Blocks => self.blocks,
            Kind::Comments => self.comments,
            Kind::Users => 0,
        }
    }
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the export, `/`-separated.
    pub path: String,
    /// What it holds.
    pub kind: Kind,
    /// The database it belongs to (none for users).
    pub database_id: Option<String>,
    /// Lines (records).
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// A line of `pages.jsonl`: the page's keys, then its payload as JSON (a JSON string when the payload
/// cannot be embedded verbatim on one line).
#[derive(Serialize, Deserialize)]
struct PageLine {
    page_id: String,
    data_source_id: String,
    last_edited_time: DateTime<Utc>,
    in_trash: bool,
    payload: Box<RawValue>,
}

/// The bytes of a JSON Lines file of `rows` (each line ended by `\n`).
pub fn encode_lines<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The bytes of `pages.jsonl`: payloads embedded as JSON, so `jq .payload.properties` works on a line.
pub fn encode_pages(pages: &[SnapshotPage]) -> Result<Vec<u8>, serde_json::Error> {
    let lines = pages
        .iter()
        .map(|p| {
            let verbatim =
                p.payload.starts_with('{') && p.payload.ends_with('}') && !p.payload.contains('\n');
            let payload = match verbatim {
                true => RawValue::from_string(p.payload.clone()),
                false => serde_json::to_string(&p.payload).and_then(RawValue::from_string),
            };
            payload
                .or_else(|_| serde_json::to_string(&p.payload).and_then(RawValue::from_string))
                .map(|payload| PageLine {
                    page_id: p.page_id.clone(),
                    data_source_id: p.data_source_id.clone(),
                    last_edited_time: p.last_edited_time,
                    in_trash: p.in_trash,
                    payload,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    encode_lines(&lines)
}

fn decode_lines<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

fn decode_pages(bytes: &[u8]) -> Result<Vec<SnapshotPage>, String> {
    decode_lines::<PageLine>(bytes)?
        .into_iter()
        .map(|l| {
            let raw = l.payload.get();
            let payload = match raw.starts_with('{') {
                true => raw.to_string(),
                false => serde_json::from_str(raw).map_err(|e| format!("payload: {e}"))?,
            };
            Ok(SnapshotPage {
                page_id: l.page_id,
                data_source_id: l.data_source_id,
                last_edited_time: l.last_edited_time,
                in_trash: l.in_trash,
                payload,
            })
        })
        .collect()
}

/// Where an export's files are read from.
enum Container {
    Dir(PathBuf),
    Zip(zip::ZipArchive<Cursor<Vec<u8>>>),
    Sqlite(rusqlite::Connection),
}

/// An export opened (decrypted when it was encrypted), with its manifest and every file it lists.
pub struct Loaded {
    /// How messages name the export (its path or URI).
    pub shown: String,
    /// The manifest.
    pub manifest: Manifest,
    /// Each listed file's bytes (`None` when it is missing).
    pub files: Vec<(FileEntry, Option<Vec<u8>>)>,
    /// Files the export holds that the manifest does not list.
    pub unlisted: Vec<String>,
}

impl Loaded {
    /// The bytes of the file at `path`, when listed and present.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(f, _)| f.path == path)
            .and_then(|(_, b)| b.as_deref())
    }
}

fn source_err(shown: &str, what: impl std::fmt::Display) -> RestoreError {
    RestoreError::Source(format!("{shown}: {what}"))
}

/// Whether `location` names an object store (`s3://`, `az://`, `gs://`...) rather than a local path.
pub fn is_remote(location: &str) -> bool {
    matches!(
        Store::of(location),
        Some(Store::S3 | Store::Azure | Store::Gcs | Store::Memory)
    )
}

/// Opens the local export at `path` (a directory, or a zip, SQLite or age-encrypted file).
pub fn load(path: &Path, identity: Option<&Path>) -> Result<Loaded, RestoreError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        if !path.join(MANIFEST).is_file() {
            return Err(source_err(
                &shown,
                "the directory holds no manifest.json: not an export",
            ));
        }
        return read_all(shown, Container::Dir(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => source_err(&shown, "no such file or directory"),
        _ => source_err(&shown, e),
    })?;
    load_bytes(shown, bytes, identity)
}

/// Opens a single-file export held in `bytes`; `shown` names it in messages.
pub fn load_bytes(
    shown: String,
    bytes: Vec<u8>,
    identity: Option<&Path>,
) -> Result<Loaded, RestoreError> {
    let bytes = match bytes.starts_with(AGE_MAGIC) {
        true => decrypt(&shown, &bytes, identity)?,
        false => bytes,
    };
    let container = if bytes.starts_with(ZIP_MAGIC) {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            source_err(
                &shown,
                format!("the zip archive cannot be read (truncated or damaged): {e}"),
            )
        })?;
        Container::Zip(zip)
    } else if bytes.starts_with(SQLITE_MAGIC) {
        let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| source_err(&shown, e))?;
        let len = bytes.len();
        conn.deserialize_read_exact("main", &bytes[..], len, true)
            .map_err(|e| source_err(&shown, format!("the SQLite file cannot be read: {e}")))?;
        Container::Sqlite(conn)
    } else {
        return Err(source_err(
            &shown,
            "not an export (expected a directory with manifest.json, a zip, an SQLite file, or one \
             of these encrypted with age)",
        ));
    };
    read_all(shown, container)
}

/// Decrypts an age file with the identities in `identity`.
fn decrypt(shown: &str, bytes: &[u8], identity: Option<&Path>) -> Result<Vec<u8>, RestoreError> {
    let Some(identity) = identity else {
        return Err(source_err(
            shown,
            "the export is encrypted: give --identity FILE (an age identity file holding the key of \
             the recipient it was encrypted to)",
        ));
    };
    let id_shown = identity.display();
    let fail = |e: &dyn std::fmt::Display| {
        RestoreError::Source(format!("cannot decrypt {shown} with {id_shown}: {e}"))
    };
    let file = age::IdentityFile::from_file(identity.display().to_string())
        .map_err(|e| fail(&format!("cannot read the identity file: {e}")))?;
    let identities = file.into_identities().map_err(|e| fail(&e))?;
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|e| fail(&e))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(|e| fail(&e))?;
    Ok(out)
}

fn read_all(shown: String, mut container: Container) -> Result<Loaded, RestoreError> {
    let text = container
        .manifest()
        .map_err(|e| source_err(&shown, format!("{MANIFEST}: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| source_err(&shown, format!("{MANIFEST} cannot be read: {e}")))?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
        return Err(source_err(
            &shown,
            format!(
                "{MANIFEST}: format {} version {} (this build reads {FORMAT} up to version \
                 {FORMAT_VERSION}; use a newer notion-sync)",
                manifest.format, manifest.format_version
            ),
        ));
    }
    let mut files = Vec::new();
    for entry in &manifest.files {
        let bytes = container
            .file(entry)
            .map_err(|e| source_err(&shown, format!("{}: {e}", entry.path)))?;
        files.push((entry.clone(), bytes));
    }
    let unlisted = container
        .listing()
        .map_err(|e| source_err(&shown, e))?
        .into_iter()
        .filter(|p| p != MANIFEST && !manifest.files.iter().any(|f| &f.path == p))
        .collect();
    Ok(Loaded {
        shown,
        manifest,
        files,
        unlisted,
    })
}

impl Container {
    fn manifest(&mut self) -> Result<Vec<u8>, String> {
        match self {
            Container::Sqlite(conn) => conn
                .query_row(
                    "SELECT json FROM manifest WHERE name = ?1",
                    [MANIFEST],
                    |r| r.get::<_, String>(0),
                )
                .map(String::into_bytes)
                .map_err(|e| e.to_string()),
            _ => self.named(MANIFEST)?.ok_or_else(|| "missing".to_string()),
        }
    }

    /// The bytes of a listed file (`None` when missing); in SQLite, its rows in order.
    fn file(&mut self, entry: &FileEntry) -> Result<Option<Vec<u8>>, String> {
        let Container::Sqlite(conn) = self else {
            return self.named(&entry.path);
        };
        let sql = format!(
            "SELECT record FROM {} WHERE database_id IS ?1 ORDER BY seq",
            entry.kind.name()
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([&entry.database_id], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for row in rows {
            out.extend_from_slice(row.map_err(|e| e.to_string())?.as_bytes());
            out.push(b'\n');
        }
        Ok(Some(out))
    }

    /// The file at `path` of a directory or zip archive.
    fn named(&mut self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Container::Dir(root) => match std::fs::read(root.join(path)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Container::Zip(zip) => {
                let mut file = match zip.by_name(path) {
                    Ok(f) => f,
                    Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                let mut out = Vec::new();
                file.read_to_end(&mut out).map_err(|e| e.to_string())?;
                Ok(Some(out))
            }
            Container::Sqlite(_) => Ok(None),
        }
    }

    /// The paths the export holds.
    fn listing(&mut self) -> Result<Vec<String>, String> {
        match self {
            Container::Dir(root) => {
                let mut out = Vec::new();
                list_dir(root, root, &mut out).map_err(|e| e.to_string())?;
                Ok(out)
            }
            Container::Zip(zip) => zip
                .file_names()
                .map(|n| n.map(|n| n.into_owned()).map_err(|e| e.to_string()))
                .collect(),
            Container::Sqlite(conn) => {
                let mut out = Vec::new();
                for kind in Kind::ALL {
                    let sql = format!("SELECT DISTINCT database_id FROM {}", kind.name());
                    let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
                    let ids = stmt
                        .query_map([], |r| r.get::<_, Option<String>>(0))
                        .map_err(|e| e.to_string())?;
                    for id in ids {
                        out.push(kind.path(id.map_err(|e| e.to_string())?.as_deref()));
                    }
                }
                Ok(out)
            }
        }
    }
}

fn list_dir(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            list_dir(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Reads the export at `path` (verifying every hash and count first) back into the snapshot it holds.
pub fn from_export(path: &Path, identity: Option<&Path>) -> Result<Snapshot, RestoreError> {
    snapshot_of(&load(path, identity)?)
}

/// [`from_export`] for a path or an object-store URI (`s3://`, `az://`, `gs://`), read with the
/// lake's object-store settings.
pub async fn from_export_at(
    location: &str,
    identity: Option<&Path>,
    storage: &std::collections::HashMap<String, String>,
) -> Result<Snapshot, RestoreError> {
    snapshot_of(&load_at(location, identity, storage).await?)
}

/// [`load`] for a path or an object-store URI.
pub async fn load_at(
    location: &str,
    identity: Option<&Path>,
    storage: &std::collections::HashMap<String, String>,
) -> Result<Loaded, RestoreError> {
    if !is_remote(location) {
        return load(
            Path::new(location.strip_prefix("file://").unwrap_or(location)),
            identity,
        );
    }
    let bytes = fetch(location, storage).await?;
    load_bytes(location.to_string(), bytes, identity)
}

/// The object at `location` on its object store.
async fn fetch(
    location: &str,
    storage: &std::collections::HashMap<String, String>,
) -> Result<Vec<u8>, RestoreError> {
    use object_store::ObjectStoreExt;
    let (root, name) = split_object(location).map_err(RestoreError::Source)?;
    let store = crate::sink::remote::open(&root, storage)
        .map_err(|e| source_err(location, format!("cannot open the object store: {e}")))?;
    let got = store.get(&name).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => source_err(location, "no such object"),
        e => source_err(location, e),
    })?;
    let bytes = got.bytes().await.map_err(|e| source_err(location, e))?;
    Ok(bytes.to_vec())
}

/// An object URI split into the store's root (its parent "directory") and the object's name under it.
pub fn split_object(location: &str) -> Result<(url::Url, object_store::path::Path), String> {
    let url = url::Url::parse(location).map_err(|e| format!("{location}: not a URI: {e}"))?;
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            format!("{location}: names no object (give a file name, e.g. s3://bucket/backup.zip)")
        })?
        .to_string();
    let root = url.join("./").map_err(|e| format!("{location}: {e}"))?;
    Ok((root, object_store::path::Path::from(name)))
}

/// The records of one file of a loaded export (none when the export has no such file).
fn decode<T>(
    loaded: &Loaded,
    kind: Kind,
    db: Option<&str>,
    lines: fn(&[u8]) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, RestoreError> {
    let path = kind.path(db);
    lines(loaded.file(&path).unwrap_or_default())
        .map_err(|e| source_err(&loaded.shown, format!("{path}: {e}")))
}

/// The snapshot a verified export holds; an export that does not verify is refused with what is wrong.
fn snapshot_of(loaded: &Loaded) -> Result<Snapshot, RestoreError> {
    let problems = verify::check(loaded);
    if !problems.is_empty() {
        return Err(RestoreError::Source(format!(
            "{} does not verify ({}); run `notion-sync verify {}` for the details",
            loaded.shown,
            problems.join("; "),
            loaded.shown
        )));
    }
    let m = &loaded.manifest;
    let mut databases = Vec::new();
    for d in &m.databases {
        let id = Some(d.database_id.as_str());
        databases.push(DatabaseSnapshot {
            database_id: d.database_id.clone(),
            name: d.name.clone(),
            sources: decode(loaded, Kind::DataSources, id, decode_lines)?,
            pages: decode(loaded, Kind::Pages, id, decode_pages)?,
            blocks: decode(loaded, Kind::Blocks, id, decode_lines)?,
            comments: decode(loaded, Kind::Comments, id, decode_lines)?,
        });
    }
    let users = decode(loaded, Kind::Users, None, decode_lines)?;
    Ok(Snapshot {
        as_of: m.point.as_of,
        pages_version: m.point.pages_version,
        at: m.point.at,
        databases,
        users,
        content_gap: m.content_gap.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(payload: &str) -> SnapshotPage {
        SnapshotPage {
            page_id: "p".into(),
            data_source_id: "d".into(),
            last_edited_time: Utc::now(),
            in_trash: false,
            payload: payload.into(),
        }
    }

    #[test]
    fn page_payloads_round_trip_byte_for_byte() {
        let pages = vec![
            page(r#"{"object":"page","properties":{"Name":{"title":[]}}}"#),
            page("{\n  \"pretty\": true\n}"),
            page("not json"),
            page(r#"{"spaced" :  1 }"#),
            page(r#"{"trailing": 1} "#),
        ];
        let bytes = encode_pages(&pages).unwrap();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), pages.len());
        let first = std::str::from_utf8(&bytes).unwrap().lines().next().unwrap();
        let line: serde_json::Value = serde_json::from_str(first).unwrap();
        assert_eq!(line["payload"]["object"], "page", "embedded as JSON");
        assert_eq!(decode_pages(&bytes).unwrap(), pages);
    }

    #[test]
    fn object_uris_split_into_a_root_and_a_name() {
        let (root, name) = split_object("s3://bucket/backups/x.zip").unwrap();
        assert_eq!(
            (root.as_str(), name.as_ref()),
            ("s3://bucket/backups/", "x.zip")
        );
        assert!(split_object("s3://bucket/").is_err());
        assert!(is_remote("gs://b/x") && !is_remote("/tmp/x") && !is_remote("file:///tmp/x"));
    }
}
