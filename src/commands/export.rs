//! `notion-sync export` and `notion-sync verify`: backups of bronze, and their check.

use std::collections::HashMap;

use super::{open_sink, report_config, report_sink};
use crate::cli::{Cli, ExportArgs, VerifyArgs};
use crate::config::{ConfigError, Settings, StorageSettings, remember_secret, scrub_secrets};
use crate::exit;
use crate::restore::archive::{ExportSource, Manifest, is_remote};
use crate::restore::export::{self, ExportError, Target};
use crate::restore::{AsOf, snapshot, verify};

/// Writes the export `args` describe; prints what it holds.
pub async fn run(cli: &Cli, settings: &Settings, args: &ExportArgs) -> u8 {
    let databases = match settings.select_databases(&args.databases) {
        Ok(d) if d.is_empty() => {
            return report_config(&ConfigError::new(
                "NOTION_<NAME>_DB_ID",
                "no databases configured; set e.g. NOTION_PROJECTS_DB_ID or list them in notion-sync.toml",
            ));
        }
        Ok(d) => d,
        Err(e) => return report_config(&e),
    };
    let recipient = match args.encrypt_to.as_deref().map(export::parse_recipient) {
        Some(Err(e)) => return report(&e),
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let target = match Target::check(&args.to, args.format, recipient.is_some()) {
        Ok(t) => t,
        Err(e) => return report(&e),
    };
    let storage = match storage_for(cli, &args.to) {
        Ok(s) => s,
        Err(e) => return report_config(&e),
    };
    let sink = match open_sink(settings) {
        Ok(s) => s,
        Err(e) => return report_sink(&e),
    };
    let as_of = args.as_of.unwrap_or(AsOf::Latest);
    let snapshot = match snapshot::from_lake(&sink, &databases, as_of).await {
        Ok(s) => s,
        Err(e) => return report(&ExportError::Restore(e)),
    };
    let source = ExportSource {
        lake: export::shown_uri(&settings.lakehouse_uri),
        schema: settings.bronze_schema.clone(),
    };
    let written = match export::build(&snapshot, source, chrono::Utc::now()) {
        Ok(built) => export::write(&built, &target, args.format, recipient.as_ref(), &storage)
            .await
            .map(|()| built.manifest),
        Err(e) => Err(e),
    };
    match written {
        Ok(manifest) => {
            let to = export::shown_uri(&args.to);
            println!("exported {} to {to}", summary(&manifest));
            if let Some(gap) = &manifest.content_gap {
                println!("note: {gap}");
            }
            tracing::info!(%to, format = ?args.format, encrypted = recipient.is_some(), "export written");
            exit::OK
        }
        Err(e) => report(&e),
    }
}

/// Checks the export at `args.path`; exits 2 naming every file or count that differs.
pub async fn verify(cli: &Cli, args: &VerifyArgs) -> u8 {
    let storage = match storage_for(cli, &args.path) {
        Ok(s) => s,
        Err(e) => return report_config(&e),
    };
    match verify::verify(&args.path, args.identity.as_deref(), &storage).await {
        Ok(v) if v.problems.is_empty() => {
            println!("{} verifies: {}", v.shown, summary(&v.manifest));
            exit::OK
        }
        Ok(v) => {
            let mut text = format!("error: {} does not verify:", v.shown);
            for p in &v.problems {
                text.push_str(&format!("\n  {p}"));
            }
            eprintln!("{}", scrub_secrets(text));
            tracing::error!(export = %v.shown, problems = v.problems.len(), "export does not verify");
            exit::USAGE
        }
        Err(e) => report(&ExportError::Restore(e)),
    }
}

/// What an export holds and the point it was taken at, in one line.
fn summary(m: &Manifest) -> String {
    let sum = |f: fn(&crate::restore::archive::Counts) -> u64| -> u64 {
        m.databases.iter().map(|d| f(&d.counts)).sum()
    };
    let point = match (m.point.pages_version, m.point.at) {
        (Some(v), _) => format!("version {v}"),
        (None, Some(t)) => AsOf::Time(t).to_string(),
        (None, None) => "an empty lake".into(),
    };
    format!(
        "{} databases, {} pages, {} blocks, {} comments, {} users at {point}",
        m.databases.len(),
        sum(|c| c.pages),
        sum(|c| c.blocks),
        sum(|c| c.comments),
        m.users
    )
}

/// The object-store settings (from the environment) for an export on an object store; none for a path.
fn storage_for(cli: &Cli, location: &str) -> Result<HashMap<String, String>, ConfigError> {
    if !is_remote(location) {
        return Ok(HashMap::new());
    }
    let env = super::load_env(cli)?;
    let storage = StorageSettings::from_env(&env, location)?;
    storage.secrets().iter().for_each(remember_secret);
    Ok(storage.options().clone())
}

fn report(e: &ExportError) -> u8 {
    let text = scrub_secrets(e.to_string());
    eprintln!("error: {text}");
    tracing::error!(error = %text, "export failed");
    exit::for_class(e.class())
}
