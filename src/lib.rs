//! notion-sync lands Notion workspaces in a Delta Lake bronze layer.
//!
//! Pipeline: [`config`] → [`notion`] client (one rate limiter per token, retries) → [`extract`] (watermarks,
//! data sources, query restarts) → [`bronze`] rows → [`sink`] (Delta MERGE on `(page_id, database_id)`) →
//! watermarks and run rows, saved only after the sink confirmed each batch.
#![warn(missing_docs)]

pub mod bronze;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod extract;
pub mod lineage;
pub mod logging;
pub mod metrics;
pub mod notion;
pub mod pause;
pub mod progress;
pub mod query;
pub mod restore;
pub mod retry;
pub mod serve;
pub mod sink;
pub mod views;
