//! Shared fixtures: a simulator, a temporary lake, and the binary wired to both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use notion_sim::{DatabaseInfo, SimConfig, SimHandle, Simulator, WorkspaceKind};
use notion_sync::config::{EnvVars, WarehouseSettings};
use notion_sync::sink::Sink;
use notion_sync::sink::delta::{DeltaSink, StoredPage};
use notion_sync::sink::warehouse::WarehouseSink;
use tempfile::TempDir;

/// How long a test waits for something that must happen before it calls it a hang. Only a guard: no
/// test asserts speed, and a loaded or slow machine must not fail one.
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(600);

/// A simulator, a lake directory and the environment that points the binary at both.
pub struct World {
    pub sim: SimHandle,
    pub lake: TempDir,
    pub env: BTreeMap<String, String>,
}

/// Configured name of a simulator database title (`Documentation` → `documentation`).
pub fn db_name(title: &str) -> String {
    title
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl World {
    pub async fn start(workspace: WorkspaceKind) -> World {
        Self::with_config(SimConfig {
            workspace,
            ..SimConfig::default()
        })
        .await
    }

    /// The simulated database titled `title`.
    pub fn database(&self, title: &str) -> DatabaseInfo {
        self.sim
            .databases()
            .into_iter()
            .find(|d| d.title == title)
            .unwrap_or_else(|| panic!("no database {title}"))
    }

    /// Data sources in the simulated workspace.
    pub fn data_source_count(&self) -> u64 {
        self.sim
            .databases()
            .iter()
            .map(|d| d.data_sources.len() as u64)
            .sum()
    }

    /// Runs an incremental sync and asserts it cost at most two requests per data source.
    pub async fn assert_idle_run(&self) {
        let sources = self.data_source_count();
        self.sim.reset_counters();
        assert_exit(&self.run(&["sync"]).await, 0);
        let c = self.sim.counters();
        assert!(
            c.total_requests <= 2 * sources,
            "{} requests for {sources} data sources: {:?}",
            c.total_requests,
            c.by_endpoint
        );
    }

    /// One data source of `pages` rows.
    pub async fn large(pages: usize) -> World {
        Self::with_config(SimConfig {
            workspace: WorkspaceKind::Large,
            pages,
            ..SimConfig::default()
        })
        .await
    }

    pub async fn with_config(cfg: SimConfig) -> World {
        let sim = Simulator::start(cfg).await.expect("simulator starts");
        let lake = tempfile::tempdir().expect("temp dir");
        let mut env = BTreeMap::new();
        env.insert("NOTION_API_KEY".into(), sim.token());
        env.insert("NOTION_API_BASE_URL".into(), sim.base_url());
        env.insert(
            "LAKEHOUSE_URI".into(),
            lake.path().join("lake").display().to_string(),
        );
        env.insert("NOTION_REQUESTS_PER_MINUTE".into(), "100000".into());
        env.insert("NOTION_MAX_RETRIES".into(), "4".into());
        env.insert("NOTION_TIMEOUT_SECONDS".into(), "10".into());
        for db in sim.databases() {
            env.insert(
                format!("NOTION_{}_DB_ID", db_name(&db.title).to_ascii_uppercase()),
                db.id.clone(),
            );
        }
        World { sim, lake, env }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.env.insert(key.into(), value.into());
    }

    pub fn lake_uri(&self) -> String {
        self.env["LAKEHOUSE_URI"].clone()
    }

    /// The binary with a clean environment: only what this world sets (plus PATH/HOME).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-sync"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.lake.path())
            .current_dir(self.lake.path())
            .envs(&self.env)
            .kill_on_drop(true);
        cmd
    }

    /// Runs the binary to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.expect("binary runs")
    }

    pub fn sink(&self) -> DeltaSink {
        DeltaSink::new(&self.lake_uri(), "bronze")
            .and_then(|s| s.with_storage_options(self.storage_options()))
            .expect("sink opens")
    }

    /// Bronze as the binary sees it: the warehouse when this world syncs into one, else the lake.
    pub fn bronze(&self) -> Sink {
        if self.env.get("NOTION_SYNC_SINK").map(String::as_str) == Some("warehouse") {
            let vars = EnvVars::from_pairs(self.env.clone()).expect("the world's variables decode");
            let schema = &self.env["BRONZE_SCHEMA"];
            let settings = WarehouseSettings::from_env(&vars, schema, &|_| {
                Err(std::io::Error::other("no files"))
            })
            .expect("the world's warehouse settings are valid");
            Sink::Warehouse(WarehouseSink::new(settings))
        } else {
            Sink::Delta(self.sink())
        }
    }

    /// Moves this world's bronze into a new schema of the PostgreSQL the test command started, reached
    /// through psqlODBC like the binary does (`NOTION_SYNC_SINK=warehouse`, dialect postgres).
    pub fn on_postgres(&mut self) {
        let connection = service("NOTION_SYNC_TEST_POSTGRES");
        let schema = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        postgres_exec(&format!("CREATE SCHEMA {schema}"));
        self.set("NOTION_SYNC_SINK", "warehouse");
        self.set("WAREHOUSE_DIALECT", "postgres");
        self.set("WAREHOUSE_ODBC_CONNECTION_STRING", &connection);
        self.set("BRONZE_SCHEMA", &schema);
        self.set("ODBCSYSINI", &service("ODBCSYSINI"));
    }

    /// The object-store settings this world gives the binary, as delta-rs options.
    pub fn storage_options(&self) -> std::collections::HashMap<String, String> {
        self.env
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("AZURE_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Keys of the objects under `prefix` of this world's object-store lake (relative to the lake's root),
    /// read through delta-rs' object store.
    pub async fn lake_keys(&self, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let root = url::Url::parse(&self.lake_uri()).unwrap();
        let store = notion_sync::sink::remote::open(&root, &self.storage_options()).unwrap();
        let prefix = object_store::path::Path::from(prefix);
        let mut keys: Vec<String> = store
            .list(Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("the bucket lists");
        keys.sort();
        keys
    }

    /// Where this world's lake lives.
    pub async fn on(&mut self, lake: Lake) {
        match lake {
            Lake::Local => {}
            Lake::S3 => {
                self.on_s3().await;
            }
            Lake::Azure => self.on_azure(),
            Lake::Postgres => self.on_postgres(),
        }
    }

    /// Moves this world's lake to a new folder of the Azurite container the test command made.
    pub fn on_azure(&mut self) {
        let endpoint = service("NOTION_SYNC_TEST_AZURE");
        let folder = uuid::Uuid::new_v4().simple().to_string();
        self.set(
            "LAKEHOUSE_URI",
            &format!("az://{AZURE_CONTAINER}/{folder}/lake"),
        );
        self.set("AZURE_STORAGE_USE_EMULATOR", "true");
        self.set("AZURE_ALLOW_HTTP", "true");
        self.set("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1");
        self.set("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY);
        // Read by the Azure object store itself when the emulator is on.
        self.set("AZURITE_BLOB_STORAGE_URL", &endpoint);
    }

    /// The store of this world's lease documents (the one the binary uses).
    pub fn lease_store(&self) -> std::sync::Arc<dyn notion_sync::sink::lease::LeaseStore> {
        self.sink().lease_store().expect("the lake takes leases")
    }

    /// Run ids named by the newest lease document of each database.
    pub async fn lease_holders(&self) -> Vec<String> {
        let store = self.lease_store();
        let mut out = Vec::new();
        for db in self.sim.databases() {
            let epochs = store.epochs(&db.id).await.unwrap();
            let Some(epoch) = epochs.last() else { continue };
            if let Some(doc) = store.read(&db.id, *epoch).await.unwrap()
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&doc.text)
            {
                out.push(v["run_id"].as_str().unwrap_or_default().to_string());
            }
        }
        out
    }

    /// Moves this world's lake into a new bucket of the test S3 server; returns the bucket's name.
    pub async fn on_s3(&mut self) -> String {
        let endpoint = s3_endpoint();
        let bucket = format!("nsync-{}", uuid::Uuid::new_v4().simple());
        create_bucket(&endpoint, &bucket).await;
        self.set("LAKEHOUSE_URI", &format!("s3://{bucket}/lake"));
        self.set("AWS_ENDPOINT_URL", &endpoint);
        self.set("AWS_ALLOW_HTTP", "true");
        self.set("AWS_REGION", "us-east-1");
        self.set("AWS_ACCESS_KEY_ID", S3_KEY_ID);
        self.set("AWS_SECRET_ACCESS_KEY", S3_SECRET);
        bucket
    }

    pub async fn pages(&self) -> Vec<StoredPage> {
        self.bronze().read_pages().await.expect("pages table reads")
    }

    /// Database id → configured name.
    pub fn names(&self) -> BTreeMap<String, String> {
        self.sim
            .databases()
            .into_iter()
            .map(|d| (d.id, db_name(&d.title)))
            .collect()
    }

    /// The directory of bronze table `table`.
    pub fn table_dir(&self, table: &str) -> PathBuf {
        Path::new(&self.lake_uri()).join("bronze").join(table)
    }

    /// The data files of bronze table `table`, from its latest Delta snapshot and from disk.
    pub async fn data_files(&self, table: &str) -> DataFiles {
        let dir = self.table_dir(table);
        let url = url::Url::from_directory_path(&dir).expect("an absolute table path");
        let delta = deltalake::open_table(url)
            .await
            .unwrap_or_else(|e| panic!("{table} opens: {e}"));
        // Local tables name their files by absolute path.
        let active = delta
            .get_file_uris()
            .unwrap_or_else(|e| panic!("{table} has a snapshot: {e}"))
            .map(PathBuf::from)
            .collect();
        let on_disk = files_under(&dir)
            .into_iter()
            .filter(|p| !p.starts_with(dir.join("_delta_log")))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        DataFiles { active, on_disk }
    }

    /// Query requests the simulator served (either API generation).
    pub fn query_requests(&self) -> u64 {
        let c = self.sim.counters();
        c.by_endpoint.get("query_data_source").copied().unwrap_or(0)
            + c.by_endpoint.get("query_database").copied().unwrap_or(0)
    }
}

/// Where the lake of a test lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lake {
    /// A local directory.
    Local,
    /// A bucket of the test S3 server.
    S3,
    /// A folder of a container of the Azurite emulator (Azure Blob Storage).
    Azure,
    /// Not a lake: a schema of the test PostgreSQL, through the warehouse sink (ODBC).
    Postgres,
}

/// Runs one statement on the test PostgreSQL (as its superuser), through ODBC.
pub fn postgres_exec(sql: &str) {
    postgres_query(sql);
}

/// Runs a query on the test PostgreSQL through ODBC; every row as text.
pub fn postgres_query(sql: &str) -> Vec<Vec<Option<String>>> {
    use odbc_api::{ConnectionOptions, Cursor, ResultSetMetadata};
    let env = odbc_api::environment().expect("ODBC environment");
    let conn = env
        .connect_with_connection_string(
            &service("NOTION_SYNC_TEST_POSTGRES"),
            ConnectionOptions::default(),
        )
        .expect("the test PostgreSQL accepts a connection");
    let Some(mut cursor) = conn.execute(sql, (), None).expect("statement runs") else {
        return Vec::new();
    };
    let width = cursor.num_result_cols().unwrap() as u16;
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row().unwrap() {
        let mut out = Vec::new();
        for col in 1..=width {
            let present = row.get_text(col, &mut buf).unwrap();
            out.push(present.then(|| String::from_utf8(buf.clone()).unwrap()));
        }
        rows.push(out);
    }
    rows
}

/// The container `scripts/services.sh` creates in Azurite.
pub const AZURE_CONTAINER: &str = "nsync";

/// Azurite's documented development account key (public: it opens only the local emulator).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Credentials the tests give the S3 server (it accepts any); they must never show in any output.
pub const S3_KEY_ID: &str = "AKIANSYNCTESTKEYID01";
pub const S3_SECRET: &str = "nsync-test-secret-Zq8v1Lk3Pw9e";

/// The S3-compatible server the test command started (`scripts/services.sh`: moto on loopback).
pub fn s3_endpoint() -> String {
    service("NOTION_SYNC_TEST_S3")
}

/// A second S3-compatible server that checks credentials (moto with its IAM authentication on).
pub fn s3_auth_endpoint() -> String {
    service("NOTION_SYNC_TEST_S3_AUTH")
}

fn service(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: the object-store and warehouse tests need the local services; run \
             them with `bash scripts/services.sh cargo test ...` (scripts/test.sh does)"
        )
    })
}

/// Creates `bucket` on the S3 server at `endpoint` (moto accepts unsigned requests).
pub async fn create_bucket(endpoint: &str, bucket: &str) {
    let status = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers")
        .status();
    assert!(status.is_success(), "creating bucket {bucket}: {status}");
}

/// Exit code, with the output printed on mismatch.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Page `id` of a simulator state dump (panics when the dump has no such page).
pub fn dump_page<'a>(dump: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("page {id} is in the dump"))
}

/// The pages of a simulator state dump, by id.
pub fn dump_pages(dump: &serde_json::Value) -> std::collections::HashMap<&str, &serde_json::Value> {
    dump["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a first sync under `version` left one succeeded run row per database, everything it fetched
/// inserted, and a watermark per data source.
pub async fn assert_first_runs(w: &World, version: &str) {
    use notion_sync::sink::BronzeSink;
    let sink = w.bronze();
    let runs = sink.recent_runs(100).await.unwrap();
    assert_eq!(
        runs.len(),
        w.sim.databases().len(),
        "one run row per database"
    );
    for r in &runs {
        assert_eq!(r.status.as_str(), "succeeded");
        assert_eq!(r.api_version, version);
        assert_eq!(r.inserted, r.fetched);
    }
    let marks = sink.load_watermarks().await.unwrap();
    assert_eq!(marks.len(), w.data_source_count() as usize);
    assert!(marks.iter().all(|m| m.watermark.is_some()));
}

/// Asserts bronze holds the simulator's live pages (of the given databases) exactly as an incremental
/// sync promises (see [`crate::oracle`]).
pub async fn assert_bronze_matches(world: &World, api_version: &str, only: Option<&[&str]>) {
    crate::oracle::check(
        world,
        api_version,
        only,
        crate::oracle::Promise::Incremental,
        &mut crate::oracle::Memory::default(),
    )
    .await;
}

/// A Delta table's data files, by absolute path.
#[derive(Debug)]
pub struct DataFiles {
    /// Files the latest snapshot references.
    pub active: BTreeSet<PathBuf>,
    /// Parquet files under the table directory, outside `_delta_log`.
    pub on_disk: BTreeSet<PathBuf>,
}

impl DataFiles {
    /// Active files per partition directory.
    pub fn per_partition(&self) -> BTreeMap<&Path, usize> {
        let mut counts = BTreeMap::new();
        for file in &self.active {
            *counts.entry(file.parent().unwrap_or(file)).or_default() += 1;
        }
        counts
    }
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(p) = pending.pop() {
        if p.is_dir() {
            pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.exists() {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// What `optimize` printed for one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Optimized {
    /// Files compacted away.
    pub removed: usize,
    /// Files the compaction wrote.
    pub added: usize,
    /// Files the vacuum deleted.
    pub vacuumed: usize,
}

/// Table → what `optimize` printed for it, from lines like
/// `notion_raw_pages: 5 files compacted into 1, 9 files vacuumed, version 12`.
pub fn optimize_report(out: &Output) -> BTreeMap<String, Optimized> {
    let text = String::from_utf8_lossy(&out.stdout);
    let number = |word: Option<&str>, line: &str| -> usize {
        word.and_then(|w| w.trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("unexpected optimize line: {line}"))
    };
    text.lines()
        .filter_map(|line| {
            let (table, rest) = line.split_once(": ")?;
            let words: Vec<&str> = rest.split(' ').collect();
            let report = Optimized {
                removed: number(words.first().copied(), line),
                added: number(words.get(4).copied(), line),
                vacuumed: number(words.get(5).copied(), line),
            };
            Some((table.to_string(), report))
        })
        .collect()
}

/// Every value of a parquet file (data or checkpoint) as text, one per line, so a search of it does not
/// depend on how the file's pages are encoded or compressed.
pub fn parquet_values(path: &Path) -> String {
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("{} reads as parquet: {e}", path.display()));
    let mut text = String::new();
    for batch in reader {
        let batch = batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for column in batch.columns() {
            let values = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for row in 0..column.len() {
                text.push_str(&values.value(row).to_string());
                text.push('\n');
            }
        }
    }
    text
}
