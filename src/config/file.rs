//! `notion-sync.toml`: which databases to sync. Secrets never go here.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;

/// The file's contents.
///
/// ```toml
/// [databases.projects]
/// id = "195de9221179449fab8075a27c979105"
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Databases by short name.
    #[serde(default)]
    pub databases: BTreeMap<String, FileDatabase>,
}

/// One `[databases.<name>]` table.
///
/// ```toml
/// [databases.projects]
/// id = "195de9221179449fab8075a27c979105"
/// content = true    # page content (blocks)
/// comments = true   # comments of the pages and their blocks
/// users = true      # the workspace's users
/// files = true      # copies of Notion-hosted files (into the lake)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDatabase {
    /// The database id (with or without dashes).
    pub id: String,
    /// Sync page content.
    #[serde(default)]
    pub content: bool,
    /// Sync comments.
    #[serde(default)]
    pub comments: bool,
    /// Sync the workspace's users.
    #[serde(default)]
    pub users: bool,
    /// Copy Notion-hosted files into the lake.
    #[serde(default)]
    pub files: bool,
}

impl FileConfig {
    /// Parses the file text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::new(path, format!("invalid configuration file: {e}")))
    }
}
