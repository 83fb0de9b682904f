//! Typed views: `NOTION_SYNC_VIEWS`, `NOTION_SYNC_VIEWS_SCHEMA`, `NOTION_SYNC_VIEWS_DIR`.

use std::path::PathBuf;

use super::{ConfigError, EnvVars};

/// Where typed views go, and whether `sync` keeps them current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewsSettings {
    /// `sync` regenerates a database's views when its schema changed (`NOTION_SYNC_VIEWS=1`).
    pub on_sync: bool,
    /// Schema of the views in the warehouse (`NOTION_SYNC_VIEWS_SCHEMA`, default `silver`).
    pub schema: String,
    /// Folder the SQL files are written under, one sub-folder per dialect (`NOTION_SYNC_VIEWS_DIR`,
    /// default `sql/generated`).
    pub dir: PathBuf,
}

impl ViewsSettings {
    /// Reads the view settings.
    pub fn from_env(env: &EnvVars) -> Result<ViewsSettings, ConfigError> {
        let on_sync = match env.notion_sync_views.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(v) if super::storage::truthy(v) => true,
            Some(v) if matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no") => false,
            Some(v) => {
                return Err(ConfigError::new(
                    "NOTION_SYNC_VIEWS",
                    format!(
                        "{v:?} is not a flag; use 1 to regenerate views after a schema change, or 0"
                    ),
                ));
            }
        };
        let schema = match env.notion_sync_views_schema.as_deref().map(str::trim) {
            None | Some("") => "silver".to_string(),
            Some(s) if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => s.to_string(),
            Some(s) => {
                return Err(ConfigError::new(
                    "NOTION_SYNC_VIEWS_SCHEMA",
                    format!("{s:?} must be letters, digits and underscores"),
                ));
            }
        };
        let dir = PathBuf::from(
            env.notion_sync_views_dir
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .unwrap_or("sql/generated"),
        );
        Ok(ViewsSettings {
            on_sync,
            schema,
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let env = EnvVars::default();
        let v = ViewsSettings::from_env(&env).unwrap();
        assert_eq!((v.on_sync, v.schema.as_str()), (false, "silver"));
        assert_eq!(v.dir, PathBuf::from("sql/generated"));
        let env = EnvVars {
            notion_sync_views: Some("1".into()),
            notion_sync_views_schema: Some("analytics".into()),
            ..EnvVars::default()
        };
        let v = ViewsSettings::from_env(&env).unwrap();
        assert_eq!((v.on_sync, v.schema.as_str()), (true, "analytics"));
        let env = EnvVars {
            notion_sync_views_schema: Some("a.b".into()),
            ..EnvVars::default()
        };
        let e = ViewsSettings::from_env(&env).unwrap_err();
        assert_eq!(e.setting, "NOTION_SYNC_VIEWS_SCHEMA");
        let env = EnvVars {
            notion_sync_views: Some("sometimes".into()),
            ..EnvVars::default()
        };
        assert_eq!(
            ViewsSettings::from_env(&env).unwrap_err().setting,
            "NOTION_SYNC_VIEWS"
        );
    }
}
