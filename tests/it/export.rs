//! `export` and `verify`: backups of a synced lake in each format, read back against the lake itself.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use notion_sim::WorkspaceKind;
use notion_sync::config::{DatabaseConfig, Include};
use notion_sync::restore::archive::from_export;
use notion_sync::restore::snapshot::from_lake;
use notion_sync::restore::{AsOf, Snapshot};
use notion_sync::sink::tables;
use serde_json::Value;

use crate::support::{World, assert_exit, stderr};

const FORMATS: [(&str, &str); 3] = [("dir", "out"), ("zip", "out.zip"), ("sqlite", "out.sqlite")];

/// A demo workspace synced with content, comments and users.
async fn synced() -> World {
    let w = World::start(WorkspaceKind::Demo).await;
    assert_exit(
        &w.run(&["sync", "--include", "content,comments,users"])
            .await,
        0,
    );
    w
}

fn configured(w: &World) -> Vec<DatabaseConfig> {
    w.names()
        .into_iter()
        .map(|(id, name)| DatabaseConfig {
            name,
            id,
            include: Include::default(),
        })
        .collect()
}

/// The lake's snapshot at `as_of`.
async fn lake_snapshot(w: &World, as_of: AsOf) -> Snapshot {
    let s = from_lake(&w.bronze(), &configured(w), as_of)
        .await
        .expect("the lake's snapshot");
    same_order(s)
}

/// Users in a stable order: the lake lists them in scan order, which two reads need not share (every
/// other part of a snapshot is sorted).
fn same_order(mut s: Snapshot) -> Snapshot {
    s.users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    s
}

fn path_in(w: &World, name: &str) -> PathBuf {
    w.lake.path().join(name)
}

async fn export(w: &World, args: &[&str]) -> std::process::Output {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    w.run(&all).await
}

fn manifest_of(path: &Path) -> Value {
    let text = std::fs::read(path.join("manifest.json")).expect("manifest.json");
    serde_json::from_slice(&text).expect("manifest JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_in_each_format_verifies_and_reads_back_as_the_lake_snapshot() {
    let w = synced().await;
    let lake = lake_snapshot(&w, AsOf::Latest).await;
    let db = &lake.databases;
    assert!(db.iter().any(|d| !d.blocks.is_empty()), "content synced");
    assert!(db.iter().any(|d| !d.comments.is_empty()), "comments synced");
    assert!(!lake.users.is_empty(), "users synced");
    for (format, name) in FORMATS {
        let to = path_in(&w, name);
        let out = export(&w, &["--to", to.to_str().unwrap(), "--format", format]).await;
        assert_exit(&out, 0);
        let out = w.run(&["verify", to.to_str().unwrap()]).await;
        assert_exit(&out, 0);
        let back = same_order(from_export(&to, None).expect("the export reads back"));
        assert_eq!(back, lake, "{format}: the export holds the lake's snapshot");
    }

    // The manifest: the source without secrets, the point, and per database what the lake holds.
    let manifest = manifest_of(&path_in(&w, "out"));
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["source"]["lake"], w.lake_uri());
    assert_eq!(manifest["source"]["schema"], "bronze");
    let latest = w.sink().table_version(tables::PAGES).await.unwrap();
    assert_eq!(manifest["point"]["pages_version"].as_u64(), latest);
    let stored = w.pages().await;
    for d in manifest["databases"].as_array().unwrap() {
        let id = d["database_id"].as_str().unwrap();
        let live = stored
            .iter()
            .filter(|p| p.record.database_id == id && !p.record.is_deleted)
            .count();
        assert_eq!(d["counts"]["pages"].as_u64(), Some(live as u64), "{id}");
        let snap = lake.databases.iter().find(|s| s.database_id == id).unwrap();
        assert_eq!(
            d["counts"]["blocks"].as_u64(),
            Some(snap.blocks.len() as u64)
        );
        assert_eq!(
            d["counts"]["comments"].as_u64(),
            Some(snap.comments.len() as u64)
        );
        assert_eq!(d["name"].as_str(), Some(snap.name.as_str()));
    }
    for f in manifest["files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64, "{f}");
    }

    // The target must be absent or empty, the format known.
    let out = export(&w, &["--to", path_in(&w, "out").to_str().unwrap()]).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    let out = export(&w, &["--to", "x", "--format", "tar"]).await;
    assert_exit(&out, 2);
    let out = w
        .run(&["verify", path_in(&w, "nothing").to_str().unwrap()])
        .await;
    assert_exit(&out, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_export_fails_verify_naming_what_differs() {
    let w = synced().await;
    for (format, name) in FORMATS {
        let to = path_in(&w, name);
        assert_exit(
            &export(&w, &["--to", to.to_str().unwrap(), "--format", format]).await,
            0,
        );
    }

    // dir: one flipped byte in a pages file.
    let dir = path_in(&w, "out");
    let manifest = manifest_of(&dir);
    let pages = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .find(|p| p.ends_with("pages.jsonl"))
        .expect("a pages file");
    let file = dir.join(&pages);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let out = w.run(&["verify", dir.to_str().unwrap()]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&pages) && stderr(&out).contains("sha256"),
        "{}",
        stderr(&out)
    );
    assert!(
        from_export(&dir, None).is_err(),
        "a damaged export is not read"
    );

    // zip: truncated.
    let zip = path_in(&w, "out.zip");
    let bytes = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = w.run(&["verify", zip.to_str().unwrap()]).await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("out.zip"), "{}", stderr(&out));

    // sqlite: one page row deleted.
    let db = path_in(&w, "out.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let deleted = conn
        .execute(
            "DELETE FROM pages WHERE rowid = (SELECT MIN(rowid) FROM pages)",
            [],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    drop(conn);
    let out = w.run(&["verify", db.to_str().unwrap()]).await;
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("pages") && err.contains("rows"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_as_of_an_older_version_holds_that_versions_pages() {
    let w = synced().await;
    let first = lake_snapshot(&w, AsOf::Latest).await;
    let v1 = first.pages_version.expect("a version");
    w.sim.advance_clock(chrono::Duration::minutes(3));
    let ds = w.sim.databases()[0].data_sources[0].id.clone();
    w.sim.edit_pages(&ds, 4);
    assert_exit(
        &w.run(&["sync", "--include", "content,comments,users"])
            .await,
        0,
    );
    let now = lake_snapshot(&w, AsOf::Latest).await;
    assert_ne!(
        now.databases, first.databases,
        "the second sync changed pages"
    );

    let to = path_in(&w, "old.zip");
    let v = v1.to_string();
    let out = export(
        &w,
        &[
            "--to",
            to.to_str().unwrap(),
            "--format",
            "zip",
            "--as-of",
            &v,
        ],
    )
    .await;
    assert_exit(&out, 0);
    let back = same_order(from_export(&to, None).unwrap());
    assert_eq!(back.pages_version, Some(v1));
    assert_eq!(back.as_of, Some(AsOf::Version(v1)));
    for (old, got) in first.databases.iter().zip(&back.databases) {
        assert_eq!(
            got.pages, old.pages,
            "{}: the first sync's payloads",
            old.name
        );
    }
    assert_eq!(back, lake_snapshot(&w, AsOf::Version(v1)).await);

    // A timestamp reads the history table: the state bronze knew then.
    let at = first.at.expect("a commit time");
    let to = path_in(&w, "at");
    let t = at.to_rfc3339();
    assert_exit(
        &export(&w, &["--to", to.to_str().unwrap(), "--as-of", &t]).await,
        0,
    );
    let back = same_order(from_export(&to, None).unwrap());
    assert_eq!(back.as_of, Some(AsOf::Time(at)));
    assert_eq!(back, lake_snapshot(&w, AsOf::Time(at)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_export_verifies_only_with_its_identity() {
    let w = synced().await;
    let lake = lake_snapshot(&w, AsOf::Latest).await;
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let identity = path_in(&w, "key.txt");
    std::fs::write(&identity, format!("{}\n", key.to_string().expose_secret())).unwrap();
    let other = path_in(&w, "other.txt");
    let wrong = age::x25519::Identity::generate();
    std::fs::write(&other, format!("{}\n", wrong.to_string().expose_secret())).unwrap();
    let title = w
        .pages()
        .await
        .into_iter()
        .map(|p| p.record.title)
        .find(|t| t.len() >= 8)
        .expect("a page with a title");

    for (format, name) in [("zip", "secret.zip.age"), ("sqlite", "secret.sqlite.age")] {
        let to = path_in(&w, name);
        let to_s = to.to_str().unwrap();
        let out = export(
            &w,
            &["--to", to_s, "--format", format, "--encrypt-to", &recipient],
        )
        .await;
        assert_exit(&out, 0);
        let bytes = std::fs::read(&to).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1"), "{format}");
        assert!(
            !bytes.windows(title.len()).any(|w| w == title.as_bytes()),
            "{format}: a page title in clear"
        );

        let id = identity.to_str().unwrap();
        assert_exit(&w.run(&["verify", to_s, "--identity", id]).await, 0);
        let out = w.run(&["verify", to_s]).await;
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
        let out = w
            .run(&["verify", to_s, "--identity", other.to_str().unwrap()])
            .await;
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(&format!("cannot decrypt {to_s} with {}", other.display())),
            "{}",
            stderr(&out)
        );
        let back = same_order(from_export(&to, Some(&identity)).unwrap());
        assert_eq!(back, lake, "{format}");
    }

    // A directory cannot be encrypted as one file; a bad recipient is named.
    let out = export(
        &w,
        &[
            "--to",
            path_in(&w, "d").to_str().unwrap(),
            "--encrypt-to",
            &recipient,
        ],
    )
    .await;
    assert_exit(&out, 2);
    let out = export(
        &w,
        &[
            "--to",
            path_in(&w, "x.zip").to_str().unwrap(),
            "--format",
            "zip",
            "--encrypt-to",
            "age1nope",
        ],
    )
    .await;
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--encrypt-to"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_to_s3_verifies_and_reads_back_with_no_credential_in_any_output() {
    let mut w = World::start(WorkspaceKind::Demo).await;
    let bucket = w.on_s3().await;
    assert_exit(
        &w.run(&["sync", "--include", "content,comments,users"])
            .await,
        0,
    );
    let lake = lake_snapshot(&w, AsOf::Latest).await;
    let to = format!("s3://{bucket}/backups/notion.sqlite");
    let outputs = [
        export(&w, &["--to", &to, "--format", "sqlite"]).await,
        w.run(&["verify", &to]).await,
    ];
    for out in &outputs {
        assert_exit(out, 0);
    }
    let again = export(&w, &["--to", &to, "--format", "sqlite"]).await;
    assert_exit(&again, 2);
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    for out in outputs.iter().chain([&again]) {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains(crate::support::S3_SECRET), "{text}");
        }
    }
    let back = notion_sync::restore::archive::from_export_at(&to, None, &w.storage_options())
        .await
        .map(same_order)
        .expect("the export reads back from S3");
    assert_eq!(back, lake);
    let manifest = notion_sync::restore::verify::verify(&to, None, &w.storage_options())
        .await
        .unwrap()
        .manifest;
    assert_eq!(manifest.source.lake, format!("s3://{bucket}/lake"));
}
