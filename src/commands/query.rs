//! `notion-sync query "SQL"`: DataFusion over the Delta lake, every bronze table and typed view registered.

use super::{open_lake, report_sink};
use crate::cli::QueryArgs;
use crate::config::Settings;
use crate::exit;
use crate::query::{self, QueryError};
use crate::restore::AsOf;

/// Runs `query`.
pub async fn run(settings: &Settings, args: &QueryArgs) -> u8 {
    let at = match args.as_of.as_deref().map(AsOf::parse) {
        None => AsOf::Latest,
        Some(Ok(at)) => at,
        Some(Err(message)) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let lake = match open_lake(settings) {
        Ok(l) => l,
        Err(e) => return report_sink(&e),
    };
    match execute(&lake, at, args).await {
        Ok(rows) => {
            eprintln!("({rows} row{})", if rows == 1 { "" } else { "s" });
            exit::OK
        }
        Err(e) => {
            match &e {
                QueryError::Sql(m) => eprintln!("error: query: {m}"),
                other => eprintln!("error: {other}"),
            }
            tracing::error!(error = %e, "query failed");
            e.exit_code()
        }
    }
}

async fn execute(
    lake: &crate::sink::delta::DeltaSink,
    at: AsOf,
    args: &QueryArgs,
) -> Result<u64, QueryError> {
    let (ctx, _) = query::session(lake, at).await?;
    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| QueryError::Sql(format!("--output {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    query::run_sql(&ctx, &args.sql, args.format, out).await
}
