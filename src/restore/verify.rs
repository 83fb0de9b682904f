//! `verify`: an export checked against its manifest, every file's size, rows and SHA-256, and every
//! database's counts.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::RestoreError;
use super::archive::{Kind, Loaded, Manifest, load_at};

/// An export that was opened and checked.
#[derive(Debug)]
pub struct Verified {
    /// How messages name the export.
    pub shown: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// What is wrong, each naming the file or database (empty when the export is good).
    pub problems: Vec<String>,
}

/// Opens the export at `location` (a path or an object-store URI) and checks it.
pub async fn verify(
    location: &str,
    identity: Option<&Path>,
    storage: &HashMap<String, String>,
) -> Result<Verified, RestoreError> {
    let loaded = load_at(location, identity, storage).await?;
    let problems = check(&loaded);
    Ok(Verified {
        shown: loaded.shown,
        manifest: loaded.manifest,
        problems,
    })
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What is wrong with a loaded export: missing, unlisted or changed files, and counts that differ.
pub fn check(loaded: &Loaded) -> Vec<String> {
    let m = &loaded.manifest;
    let mut problems = Vec::new();
    for (f, bytes) in &loaded.files {
        let Some(bytes) = bytes else {
            problems.push(format!("{}: missing", f.path));
            continue;
        };
        let rows = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        if rows != f.rows {
            problems.push(format!(
                "{}: holds {rows} rows, the manifest says {}",
                f.path, f.rows
            ));
        }
        if bytes.len() as u64 != f.bytes {
            problems.push(format!(
                "{}: is {} bytes, the manifest says {}",
                f.path,
                bytes.len(),
                f.bytes
            ));
        }
        let hash = sha256(bytes);
        if hash != f.sha256 {
            problems.push(format!(
                "{}: sha256 is {hash}, the manifest says {}",
                f.path, f.sha256
            ));
        }
        if f.path != f.kind.path(f.database_id.as_deref()) {
            problems.push(format!("{}: listed as {:?}", f.path, f.kind.name()));
        }
        if let Some(db) = &f.database_id
            && !m.databases.iter().any(|d| &d.database_id == db)
        {
            problems.push(format!(
                "{}: belongs to no database of the manifest",
                f.path
            ));
        }
    }
    let listed = |kind: Kind, db: Option<&str>| -> u64 {
        m.files
            .iter()
            .filter(|f| f.kind == kind && f.database_id.as_deref() == db)
            .map(|f| f.rows)
            .sum()
    };
    for d in &m.databases {
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Users) {
            let (counted, held) = (d.counts.get(kind), listed(kind, Some(&d.database_id)));
            if counted != held {
                problems.push(format!(
                    "database {} ({}): the manifest counts {counted} {}, its files list {held}",
                    d.name,
                    d.database_id,
                    kind.name()
                ));
            }
        }
    }
    if m.users != listed(Kind::Users, None) {
        problems.push(format!(
            "users: the manifest counts {}, its files list {}",
            m.users,
            listed(Kind::Users, None)
        ));
    }
    for path in &loaded.unlisted {
        problems.push(format!("{path}: not listed in the manifest"));
    }
    problems
}
