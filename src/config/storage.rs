//! Object-store settings of the lake (`s3://`, `abfss://`, `gs://`): the documented `AWS_*`, `AZURE_*` and
//! `GOOGLE_*` variables, checked and handed to delta-rs explicitly.
//!
//! Commits on object stores are safe with several writers only when the store refuses to overwrite a
//! commit file that exists: S3 (and S3-compatible stores that support `If-None-Match`), Azure and GCS all
//! do, and delta-rs 1.1 uses it by default. The settings that would give that up are refused unless the
//! operator acknowledges them.

use std::collections::HashMap;

use url::Url;

use super::{ConfigError, EnvVars, Secret};

/// How long an object-store request is retried (connection refused, 5xx) before the run fails.
pub const DEFAULT_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// The object store behind a lake URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A local directory (`./lake`, `file://`).
    Local,
    /// Amazon S3 or an S3-compatible store (`s3://`, `s3a://`).
    S3,
    /// Azure Blob Storage / ADLS Gen2 (`abfss://`, `abfs://`, `az://`, `adl://`, `azure://`).
    Azure,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// In memory (`memory://`, tests).
    Memory,
}

impl Store {
    /// The store of `uri`, or `None` for a scheme the connector does not know.
    pub fn of(uri: &str) -> Option<Store> {
        let Some((scheme, _)) = uri.split_once("://") else {
            return Some(Store::Local);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Some(Store::Local),
            "s3" | "s3a" => Some(Store::S3),
            "abfss" | "abfs" | "az" | "adl" | "azure" => Some(Store::Azure),
            "gs" => Some(Store::Gcs),
            "memory" => Some(Store::Memory),
            _ => None,
        }
    }

    /// The prefix of the variables that configure this store.
    fn prefix(self) -> Option<&'static str> {
        match self {
            Store::S3 => Some("AWS_"),
            Store::Azure => Some("AZURE_"),
            Store::Gcs => Some("GOOGLE_"),
            Store::Local | Store::Memory => None,
        }
    }

    /// The cargo feature that builds this store in, and whether this build has it.
    fn feature(self) -> Option<(&'static str, bool)> {
        match self {
            Store::S3 => Some(("s3", cfg!(feature = "s3"))),
            Store::Azure => Some(("azure", cfg!(feature = "azure"))),
            Store::Gcs => Some(("gcs", cfg!(feature = "gcs"))),
            Store::Local | Store::Memory => None,
        }
    }
}

/// Object-store variables read from the environment, and whether each is a secret (kept out of every
/// output). Passed to delta-rs under these names; delta-rs maps them to its object-store keys.
pub const STORAGE_VARS: &[(&str, bool)] = &[
    ("AWS_ENDPOINT_URL", false),
    ("AWS_REGION", false),
    ("AWS_ACCESS_KEY_ID", true),
    ("AWS_SECRET_ACCESS_KEY", true),
    ("AWS_SESSION_TOKEN", true),
    ("AWS_PROFILE", false),
    ("AWS_ROLE_ARN", false),
    ("AWS_ROLE_SESSION_NAME", false),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", false),
    ("AWS_S3_ADDRESSING_STYLE", false),
    ("AWS_ALLOW_HTTP", false),
    ("AWS_S3_ALLOW_UNSAFE_RENAME", false),
    ("AWS_S3_LOCKING_PROVIDER", false),
    ("AWS_EC2_METADATA_DISABLED", false),
    ("AWS_FORCE_CREDENTIAL_LOAD", false),
    ("AWS_SERVER_SIDE_ENCRYPTION", false),
    ("AWS_SSE_KMS_KEY_ID", false),
    ("AZURE_STORAGE_ACCOUNT_NAME", false),
    ("AZURE_STORAGE_ACCOUNT_KEY", true),
    ("AZURE_STORAGE_SAS_KEY", true),
    ("AZURE_STORAGE_TOKEN", true),
    ("AZURE_CLIENT_ID", false),
    ("AZURE_CLIENT_SECRET", true),
    ("AZURE_TENANT_ID", false),
    ("AZURE_FEDERATED_TOKEN_FILE", false),
    ("AZURE_USE_AZURE_CLI", false),
    ("AZURE_STORAGE_USE_EMULATOR", false),
    ("AZURE_ALLOW_HTTP", false),
    ("GOOGLE_SERVICE_ACCOUNT", false),
    ("GOOGLE_SERVICE_ACCOUNT_KEY", true),
    ("GOOGLE_APPLICATION_CREDENTIALS", false),
];

/// Whether `name` is one of [`STORAGE_VARS`].
pub fn is_storage_var(name: &str) -> bool {
    STORAGE_VARS.iter().any(|(n, _)| *n == name)
}

/// The checked object-store settings of the lake.
#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    /// Options for delta-rs (variable name → value); secrets included, so never print this map.
    options: HashMap<String, String>,
    /// The secret values among them, to keep out of messages.
    secrets: Vec<Secret>,
}

impl StorageSettings {
    /// Checks the storage variables of `env` against the lake at `lake_uri`.
    pub fn from_env(env: &EnvVars, lake_uri: &str) -> Result<StorageSettings, ConfigError> {
        let store = Store::of(lake_uri).ok_or_else(|| {
            ConfigError::new(
                "LAKEHOUSE_URI",
                format!(
                    "{lake_uri:?} has an unknown scheme; use a path, file://, s3://, abfss://, az:// or gs://"
                ),
            )
        })?;
        if let Some((feature, false)) = store.feature() {
            return Err(ConfigError::new(
                "LAKEHOUSE_URI",
                format!("{lake_uri:?} needs the `{feature}` cargo feature, which this build lacks"),
            ));
        }
        let mut out = StorageSettings::default();
        let Some(prefix) = store.prefix() else {
            return Ok(out);
        };
        let timeout = super::duration_setting(
            env.notion_sync_storage_retry_timeout.as_deref(),
            "NOTION_SYNC_STORAGE_RETRY_TIMEOUT",
            DEFAULT_RETRY_TIMEOUT,
        )?;
        out.options
            .insert("retry_timeout".into(), format!("{}ms", timeout.as_millis()));
        for (name, value) in &env.storage {
            if !name.starts_with(prefix) {
                continue;
            }
            if STORAGE_VARS.iter().any(|(n, secret)| n == name && *secret) {
                out.secrets.push(Secret::new(value.clone()));
            }
            out.options.insert(name.clone(), value.clone());
        }
        if store == Store::S3 {
            out.check_s3(env)?;
        }
        if store == Store::Azure {
            out.check_plain_http("AZURE_ALLOW_HTTP", None)?;
        }
        Ok(out)
    }

    fn flag(&self, name: &str) -> bool {
        self.options.get(name).is_some_and(|v| truthy(v))
    }

    fn check_s3(&self, env: &EnvVars) -> Result<(), ConfigError> {
        if self.flag("AWS_S3_ALLOW_UNSAFE_RENAME") && !acknowledged(env) {
            return Err(ConfigError::new(
                "AWS_S3_ALLOW_UNSAFE_RENAME",
                "makes Delta commits unsafe: two writers of a table can overwrite each other's commit. \
                 Commits on S3 are safe without it (conditional put, If-None-Match); unset it, or, for a \
                 store without conditional put and only one writer ever, also set \
                 NOTION_SYNC_ACCEPT_UNSAFE_COMMITS=true",
            ));
        }
        if let Some(provider) = self.options.get("AWS_S3_LOCKING_PROVIDER") {
            return Err(ConfigError::new(
                "AWS_S3_LOCKING_PROVIDER",
                format!(
                    "{provider:?}: the DynamoDB log store is gone from delta-rs 1.x, which commits with \
                     S3's conditional put instead; unset AWS_S3_LOCKING_PROVIDER"
                ),
            ));
        }
        self.check_plain_http("AWS_ALLOW_HTTP", Some("AWS_ENDPOINT_URL"))
    }

    /// Plain http is for a store on this machine only (an emulator): refused for any other endpoint.
    fn check_plain_http(&self, flag: &str, endpoint: Option<&str>) -> Result<(), ConfigError> {
        if !self.flag(flag) {
            return Ok(());
        }
        let local = endpoint
            .and_then(|e| self.options.get(e))
            .and_then(|e| Url::parse(e).ok())
            .is_some_and(|u| is_loopback(&u));
        if local || (endpoint.is_none() && self.flag("AZURE_STORAGE_USE_EMULATOR")) {
            return Ok(());
        }
        Err(ConfigError::new(
            flag,
            format!(
                "plain http is allowed only for a store on this machine{}; unset {flag} to use https",
                endpoint
                    .map(|e| format!(" ({e} on 127.0.0.1, ::1 or localhost)"))
                    .unwrap_or_default()
            ),
        ))
    }

    /// The options to hand to delta-rs.
    pub fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The secret values, for scrubbing messages.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }
}

fn acknowledged(env: &EnvVars) -> bool {
    env.notion_sync_accept_unsafe_commits
        .as_deref()
        .is_some_and(truthy)
}

/// `1`, `true` or `yes`, in any case (how delta-rs reads these flags too).
pub(super) fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn only_the_lake_stores_variables_are_passed_and_secrets_are_known() {
        let e = env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "azure-key"),
        ]);
        let s = StorageSettings::from_env(&e, "s3://bucket/lake").unwrap();
        assert_eq!(s.options().len(), 4);
        assert_eq!(s.options()["retry_timeout"], "180000ms");
        assert!(!s.options().contains_key("AZURE_STORAGE_ACCOUNT_KEY"));
        assert_eq!(s.secrets().len(), 1);
        assert_eq!(s.secrets()[0].expose(), "s3cr3t-value");
        assert!(
            StorageSettings::from_env(&e, "./lake")
                .unwrap()
                .options()
                .is_empty()
        );
    }

    #[test]
    fn unsafe_commit_settings_are_refused_naming_the_variable() {
        let e = env(&[("AWS_S3_ALLOW_UNSAFE_RENAME", "true")]);
        let err = StorageSettings::from_env(&e, "s3://b/l").unwrap_err();
        assert_eq!(err.setting, "AWS_S3_ALLOW_UNSAFE_RENAME");
        let ok = env(&[
            ("AWS_S3_ALLOW_UNSAFE_RENAME", "true"),
            ("NOTION_SYNC_ACCEPT_UNSAFE_COMMITS", "true"),
        ]);
        assert!(StorageSettings::from_env(&ok, "s3://b/l").is_ok());
        let e = env(&[("AWS_S3_LOCKING_PROVIDER", "dynamodb")]);
        let err = StorageSettings::from_env(&e, "s3://b/l").unwrap_err();
        assert_eq!(err.setting, "AWS_S3_LOCKING_PROVIDER");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for (endpoint, ok) in [
            ("http://127.0.0.1:5000", true),
            ("http://localhost:5000", true),
            ("http://[::1]:5000", true),
            ("http://minio.internal:9000", false),
            ("http://10.0.0.5:9000", false),
        ] {
            let e = env(&[("AWS_ENDPOINT_URL", endpoint), ("AWS_ALLOW_HTTP", "true")]);
            let r = StorageSettings::from_env(&e, "s3://b/l");
            assert_eq!(r.is_ok(), ok, "{endpoint}");
            if let Err(err) = r {
                assert_eq!(err.setting, "AWS_ALLOW_HTTP");
            }
        }
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let err = StorageSettings::from_env(&env(&[]), "ftp://host/lake").unwrap_err();
        assert_eq!(err.setting, "LAKEHOUSE_URI");
    }
}
