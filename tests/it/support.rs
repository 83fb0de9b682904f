//! Shared fixtures: a simulator, a temporary lake, and the binary wired to both.

use std::collections::BTreeMap;
use std::process::Output;

use notion_sim::{DatabaseInfo, SimConfig, SimHandle, Simulator, WorkspaceKind};
use notion_sync::sink::delta::{DeltaSink, StoredPage};
use tempfile::TempDir;

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
        DeltaSink::new(&self.lake_uri(), "bronze").expect("sink opens")
    }

    pub async fn pages(&self) -> Vec<StoredPage> {
        self.sink()
            .read_pages(None)
            .await
            .expect("pages table reads")
    }

    /// Database id → configured name.
    pub fn names(&self) -> BTreeMap<String, String> {
        self.sim
            .databases()
            .into_iter()
            .map(|d| (d.id, db_name(&d.title)))
            .collect()
    }

    /// Query requests the simulator served (either API generation).
    pub fn query_requests(&self) -> u64 {
        let c = self.sim.counters();
        c.by_endpoint.get("query_data_source").copied().unwrap_or(0)
            + c.by_endpoint.get("query_database").copied().unwrap_or(0)
    }
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

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
