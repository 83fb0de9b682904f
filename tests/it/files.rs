//! Notion-hosted files: copied into the lake by `sync` (`NOTION_SYNC_INCLUDE=files`) while their signed
//! URLs are fresh, read back and compared byte for byte with what the simulator serves, and uploaded
//! again by `restore --upload-files` (one part, and parts for a file over 20 MB).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use notion_sim::{SimConfig, WorkspaceKind};
use notion_sync::extract::files::{HostedFile, in_block, in_page};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{World, assert_exit, stdout};

/// Every hosted file the simulator's pages and blocks hold now, by key.
fn hosted_now(w: &World, version: &str) -> BTreeMap<String, HostedFile> {
    let dump = w.sim.state_dump(version);
    let mut out = BTreeMap::new();
    for p in dump["pages"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        for f in in_page(id, &p["page_full"]) {
            out.insert(f.key.clone(), f);
        }
        for b in p["blocks"].as_array().into_iter().flatten() {
            if let Some(f) = in_block(id, &b["block"]) {
                out.insert(f.key.clone(), f);
            }
        }
    }
    out
}

/// The bytes of the hosted files of page `id` (its files properties and media blocks), by name.
fn files_of(w: &World, version: &str, id: &str) -> BTreeMap<String, Vec<u8>> {
    hosted_now(w, version)
        .into_values()
        .filter(|f| f.page_id == id)
        .map(|f| (f.name.clone(), w.sim.file_bytes(&f.url).expect("served")))
        .collect()
}

fn downloads(w: &World) -> usize {
    w.sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == "download_file")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_files_are_copied_into_the_lake_and_uploaded_again_by_a_restore() {
    let version = "2026-03-11";
    let mut w = World::with_config(SimConfig {
        seed: 11,
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await;
    w.set("NOTION_VERSION", version);
    w.set("NOTION_SYNC_INCLUDE", "content,files");
    let every = w.database("Everything").data_sources[0].id.clone();
    let dump = w.sim.state_dump(version);
    let pages: Vec<String> = dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["data_source_id"] == every.as_str() && p["in_trash"] != true)
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let (purged, edited) = (pages[1].clone(), pages[2].clone());
    // Over Notion's 20 MB single-part limit: uploaded in parts.
    w.sim
        .add_hosted_file(&purged, "Files", "scan.pdf", 21 * 1024 * 1024)
        .expect("a files property");
    w.sim
        .add_hosted_media_block(&purged, "image", "photo.png", 40_000)
        .expect("a page");
    w.sim
        .add_hosted_file(&edited, "Files", "notes.txt", 3_000)
        .expect("a files property");
    assert_exit(&w.run(&["sync"]).await, 0);
    let version_synced = w
        .sink()
        .table_version("notion_raw_pages")
        .await
        .unwrap()
        .unwrap();

    // Every hosted file is in the lake, byte for byte, under its key.
    let want = hosted_now(&w, version);
    assert!(
        want.len() >= 4,
        "hosted files in the workspace: {}",
        want.len()
    );
    let sink = w.sink();
    let rows = sink.read_files().await.unwrap();
    let copied: HashMap<&str, _> = rows.iter().map(|r| (r.file_key.as_str(), r)).collect();
    for (key, f) in &want {
        let row = copied
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} copied"));
        let served = w.sim.file_bytes(&f.url).unwrap();
        let stored = sink.read_file(&row.object_path, None).await.unwrap();
        assert!(stored.as_ref() == served.as_slice(), "bytes of {key}");
        assert_eq!(row.size_bytes as usize, served.len());
        assert_eq!(row.sha256, hex::encode(Sha256::digest(&served)));
        assert_eq!(row.page_id, f.page_id);
        assert_eq!(row.block_id, f.block_id);
        assert_eq!(row.name, f.name);
    }
    // The URL's signature is a credential: it is kept nowhere in the lake.
    assert!(rows.iter().all(|r| !r.file_key.contains("Signature")));

    // A run with nothing new downloads nothing.
    let before = downloads(&w);
    assert_exit(&w.run(&["sync"]).await, 0);
    assert_eq!(downloads(&w), before, "copied files are not copied again");
    assert_eq!(sink.read_files().await.unwrap().len(), rows.len());

    // The purged page comes back with its files, the edited one gets its file back.
    let originals = files_of(&w, version, &purged);
    let edited_files = files_of(&w, version, &edited);
    assert!(originals.contains_key("scan.pdf") && originals.contains_key("photo.png"));
    assert!(w.sim.purge_page(&purged));
    assert!(w.sim.set_page_value(&edited, "Files", json!([])));
    let as_of = version_synced.to_string();
    let dry = w
        .run(&["restore", "--as-of", &as_of, "-d", "everything"])
        .await;
    assert_exit(&dry, 0);
    assert!(
        stdout(&dry).contains("--upload-files"),
        "without the flag hosted files are reported: {}",
        stdout(&dry)
    );
    let apply = [
        "restore",
        "--as-of",
        &as_of,
        "-d",
        "everything",
        "--upload-files",
        "--apply",
    ];
    w.sim.clear_request_log();
    assert_exit(&w.run(&apply).await, 0);
    let made: HashMap<String, String> = sink
        .read_restore_log_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "recreate" && r.new_id.is_some())
        .map(|r| (r.old_id, r.new_id.unwrap()))
        .collect();
    let new = made.get(&purged).expect("the purged page was recreated");
    assert_eq!(
        files_of(&w, version, new),
        originals,
        "files of the recreated page"
    );
    assert_eq!(
        files_of(&w, version, &edited),
        edited_files,
        "files of the edited page"
    );
    let endpoints: BTreeSet<String> = w
        .sim
        .write_requests()
        .iter()
        .map(|r| r.endpoint.clone())
        .collect();
    for e in [
        "create_file_upload",
        "send_file_upload",
        "complete_file_upload",
    ] {
        assert!(endpoints.contains(e), "{e}: {endpoints:?}");
    }
    // A second restore of the same point finds nothing to write.
    w.sim.clear_request_log();
    assert_exit(&w.run(&apply).await, 0);
    let writes: Vec<Value> = w
        .sim
        .write_requests()
        .iter()
        .map(|r| json!([r.endpoint, r.path]))
        .collect();
    assert!(writes.is_empty(), "nothing left to write: {writes:?}");
}
