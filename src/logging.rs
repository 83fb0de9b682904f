//! Log setup: text on a terminal, JSON otherwise (or as asked).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Dependency log targets capped below the chosen level unless named explicitly.
const QUIET_TARGETS: [&str; 5] = [
    "buoyant_kernel=warn",
    // Warns each time databases synced together commit to a shared table at once and the commit is
    // retried; a commit that fails for good comes back as an error.
    "deltalake_core::kernel::transaction=error",
    // Logs an error for every table it is asked to open that does not exist yet (each one on a first
    // `init-tables`); real failures come back to this crate as errors and are reported there.
    "buoyant_kernel::snapshot::builder=off",
    "deltalake_core=warn",
    "deltalake_core::operations::merge=error",
];

/// Installs the global subscriber writing to stderr. `RUST_LOG` overrides `level`.
pub fn init(format: Option<LogFormat>, level: &str) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The Delta engine logs every snapshot and commit at info and a missing MERGE metric at warn, on every
    // commit; those say nothing to an operator (a commit that fails surfaces as this crate's error). A directive naming one of these targets overrides this.
    let explicit = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    for quiet in QUIET_TARGETS {
        if !explicit.contains(quiet.split('=').next().unwrap_or_default())
            && let Ok(directive) = quiet.parse()
        {
            filter = filter.add_directive(directive);
        }
    }
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Scrubbed(std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Stderr with every remembered secret replaced (see [`crate::config::scrub_secrets`]): a dependency may
/// log an error that quotes a signed URL or a key. The formatter writes each event in one call.
struct Scrubbed(std::io::Stderr);

impl std::io::Write for Scrubbed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf).into_owned();
        self.0
            .write_all(crate::config::scrub_secrets(text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
