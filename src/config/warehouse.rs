//! Where bronze lands: the Delta lake (default) or a SQL warehouse over ODBC (`NOTION_SYNC_SINK`).

use super::ConfigError;
use super::env::EnvVars;
use super::secret::Secret;

/// The SQL dialect of a warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A Databricks SQL warehouse (Delta tables in Unity Catalog).
    Databricks,
    /// PostgreSQL 15 or later.
    Postgres,
}

impl Dialect {
    /// The name used in `WAREHOUSE_DIALECT` and in `sql/<dialect>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Databricks => "databricks",
            Dialect::Postgres => "postgres",
        }
    }

    /// Every dialect.
    pub const ALL: [Dialect; 2] = [Dialect::Databricks, Dialect::Postgres];
}

/// Where the Databricks driver is installed by its Linux package.
pub const DATABRICKS_DRIVER_PATH: &str = "/opt/simba/spark/lib/64/libsparkodbc_sb64.so";

/// How to reach a SQL warehouse.
#[derive(Debug, Clone)]
pub struct WarehouseSettings {
    /// The SQL dialect.
    pub dialect: Dialect,
    /// The full ODBC connection string (a secret: it holds the password or token).
    pub connection: Secret,
    /// The variable the credentials come from, named when the warehouse refuses them.
    pub credentials_var: &'static str,
    /// What to call the warehouse in messages (no secret in it).
    pub describe: String,
    /// Databricks catalog (`DATABRICKS_CATALOG`), qualifying every table.
    pub catalog: Option<String>,
    /// Schema holding the bronze tables (`BRONZE_SCHEMA`).
    pub schema: String,
    /// Unity Catalog Volume large batches are staged through (`/Volumes/<catalog>/<schema>/<volume>`).
    pub staging_volume: Option<String>,
    /// The connection string and each credential in it, kept out of every message.
    pub secrets: Vec<Secret>,
}

/// Where bronze lands.
#[derive(Debug, Clone)]
pub enum SinkChoice {
    /// Delta tables under `LAKEHOUSE_URI`.
    Delta,
    /// Tables in a SQL warehouse.
    Warehouse(Box<WarehouseSettings>),
}

impl SinkChoice {
    /// Reads `NOTION_SYNC_SINK` and, for a warehouse, its connection variables.
    pub fn from_env(
        env: &EnvVars,
        schema: &str,
        read_file: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<SinkChoice, ConfigError> {
        match env.notion_sync_sink.as_deref().map(str::trim) {
            None | Some("delta") => Ok(SinkChoice::Delta),
            Some("warehouse") => WarehouseSettings::from_env(env, schema, read_file)
                .map(|w| Self::Warehouse(w.into())),
            Some(other) => Err(ConfigError::new(
                "NOTION_SYNC_SINK",
                format!("{other:?} is not a sink; use delta (the default) or warehouse"),
            )),
        }
    }
}

impl WarehouseSettings {
    /// Reads `WAREHOUSE_DIALECT`, `WAREHOUSE_ODBC_CONNECTION_STRING[_FILE]` and the `DATABRICKS_*` variables.
    pub fn from_env(
        env: &EnvVars,
        schema: &str,
        read_file: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<WarehouseSettings, ConfigError> {
        let dialect = match env.warehouse_dialect.as_deref().map(str::trim) {
            None | Some("databricks") => Dialect::Databricks,
            Some("postgres") | Some("postgresql") => Dialect::Postgres,
            Some(other) => {
                return Err(ConfigError::new(
                    "WAREHOUSE_DIALECT",
                    format!("{other:?} is not a supported dialect; use databricks or postgres"),
                ));
            }
        };
        let given = connection_string(env, read_file)?;
        let catalog = identifier(env.databricks_catalog.as_deref(), "DATABRICKS_CATALOG")?;
        let staging_volume = match env.databricks_staging_volume.as_deref().map(str::trim) {
            None => None,
            Some(v) if v.starts_with("/Volumes/") && !v.contains('\'') => {
                Some(v.trim_end_matches('/').to_string())
            }
            Some(v) => {
                return Err(ConfigError::new(
                    "DATABRICKS_STAGING_VOLUME",
                    format!("{v:?} is not a Volume path; use /Volumes/<catalog>/<schema>/<volume>"),
                ));
            }
        };
        let (connection, credentials_var, describe) = match (dialect, given) {
            (_, Some(text)) => {
                let describe = describe_connection(&text);
                (text, "WAREHOUSE_ODBC_CONNECTION_STRING", describe)
            }
            (Dialect::Postgres, None) => {
                return Err(ConfigError::new(
                    "WAREHOUSE_ODBC_CONNECTION_STRING",
                    "not set; the postgres dialect needs an ODBC connection string (or \
                     WAREHOUSE_ODBC_CONNECTION_STRING_FILE with its path)",
                ));
            }
            (Dialect::Databricks, None) => databricks_connection(env, schema, catalog.as_deref())?,
        };
        let mut secrets: Vec<Secret> = connection_secrets(&connection)
            .into_iter()
            .map(Secret::new)
            .collect();
        let connection = Secret::new(connection);
        secrets.push(connection.clone());
        Ok(WarehouseSettings {
            secrets,
            dialect,
            connection,
            credentials_var,
            describe,
            catalog,
            schema: schema.to_string(),
            staging_volume,
        })
    }
}

/// `WAREHOUSE_ODBC_CONNECTION_STRING`, or the contents of `WAREHOUSE_ODBC_CONNECTION_STRING_FILE`.
fn connection_string(
    env: &EnvVars,
    read_file: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<Option<String>, ConfigError> {
    const VAR: &str = "WAREHOUSE_ODBC_CONNECTION_STRING";
    let text = match (
        env.warehouse_odbc_connection_string.as_deref(),
        env.warehouse_odbc_connection_string_file.as_deref(),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                VAR,
                "set either WAREHOUSE_ODBC_CONNECTION_STRING or WAREHOUSE_ODBC_CONNECTION_STRING_FILE, \
                 not both",
            ));
        }
        (Some(text), None) => text.trim().to_string(),
        (None, Some(path)) => read_file(path)
            .map_err(|e| {
                ConfigError::new(
                    "WAREHOUSE_ODBC_CONNECTION_STRING_FILE",
                    format!("cannot read the connection string file {path:?}: {e}"),
                )
            })?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if !text.contains('=') {
        return Err(ConfigError::new(
            VAR,
            "is not an ODBC connection string; write it as Key=value;Key=value (e.g. \
             Driver={PostgreSQL Unicode};Server=…;Port=…;Database=…;Uid=…;Pwd=…)",
        ));
    }
    Ok(Some(text))
}

/// The Databricks connection string built from `DATABRICKS_*` (token or OAuth M2M), with the name of the
/// variable holding the credentials and a description without secrets.
fn databricks_connection(
    env: &EnvVars,
    schema: &str,
    catalog: Option<&str>,
) -> Result<(String, &'static str, String), ConfigError> {
    let host = required(env.databricks_host.as_deref(), "DATABRICKS_HOST")?;
    let host = host
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    if host.is_empty() || host.contains(['/', ';', '{', '}']) {
        return Err(ConfigError::new(
            "DATABRICKS_HOST",
            "must be the workspace host name, e.g. adb-1234567890123456.7.azuredatabricks.net",
        ));
    }
    let http_path = required(env.databricks_http_path.as_deref(), "DATABRICKS_HTTP_PATH")?;
    if !http_path.starts_with('/') || http_path.contains([';', '{', '}']) {
        return Err(ConfigError::new(
            "DATABRICKS_HTTP_PATH",
            "must be the warehouse's HTTP path, e.g. /sql/1.0/warehouses/1234567890abcdef",
        ));
    }
    let driver = env
        .databricks_odbc_driver
        .as_deref()
        .unwrap_or(DATABRICKS_DRIVER_PATH);
    let (auth, var) = match (
        env.databricks_token.as_deref(),
        env.databricks_client_id.as_deref(),
        env.databricks_client_secret.as_deref(),
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ConfigError::new(
                "DATABRICKS_TOKEN",
                "set either DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID with DATABRICKS_CLIENT_SECRET, \
                 not both",
            ));
        }
        (Some(token), None, None) => (
            format!("AuthMech=3;UID=token;PWD={};", braced(token)),
            "DATABRICKS_TOKEN",
        ),
        (None, Some(id), Some(secret)) => (
            format!(
                "AuthMech=11;Auth_Flow=1;Auth_Client_ID={};Auth_Client_Secret={};Auth_Scope=all-apis;",
                braced(id),
                braced(secret)
            ),
            "DATABRICKS_CLIENT_SECRET",
        ),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(ConfigError::new(
                "DATABRICKS_CLIENT_SECRET",
                "OAuth M2M needs both DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET",
            ));
        }
        (None, None, None) => {
            return Err(ConfigError::new(
                "DATABRICKS_TOKEN",
                "not set; give a token (DATABRICKS_TOKEN) or a service principal's OAuth secret \
                 (DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET)",
            ));
        }
    };
    let mut text = format!(
        "Driver={};Host={host};Port=443;HTTPPath={http_path};SSL=1;ThriftTransport=2;SparkServerType=3;{auth}\
         UseNativeQuery=1;Schema={schema};UserAgentEntry=notion-sync;",
        braced(driver)
    );
    if let Some(catalog) = catalog {
        text.push_str(&format!("Catalog={catalog};"));
    }
    if env.databricks_staging_volume.is_some() {
        let dir = std::env::temp_dir().join("notion-sync-staging");
        text.push_str(&format!(
            "StagingAllowedLocalPaths={};",
            braced(&dir.display().to_string())
        ));
    }
    Ok((text, var, format!("Databricks {host}{http_path}")))
}

fn required<'a>(value: Option<&'a str>, var: &str) -> Result<&'a str, ConfigError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::new(var, "not set; the databricks dialect needs it"))
}

fn identifier(value: Option<&str>, var: &str) -> Result<Option<String>, ConfigError> {
    match value.map(str::trim) {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok(Some(v.to_string()))
        }
        Some(v) => Err(ConfigError::new(
            var,
            format!("{v:?} must be letters, digits and underscores"),
        )),
    }
}

/// A value for a connection string: braced when it holds a character that would end it.
fn braced(value: &str) -> String {
    if value.contains([';', '{', '}', '=']) || value.starts_with(' ') {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_string()
    }
}

/// The `Key=value` pairs of a connection string (braced values unbraced).
fn connection_pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(';').trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(body) = rest.strip_prefix('{') {
            let mut value = String::new();
            let mut chars = body.char_indices();
            let mut end = body.len();
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    if body[i + 1..].starts_with('}') {
                        value.push('}');
                        chars.next();
                        continue;
                    }
                    end = i + 1;
                    break;
                }
                value.push(c);
            }
            rest = body[end..].trim_start_matches(';');
            value
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let value = rest[..end].to_string();
            rest = rest.get(end + 1..).unwrap_or("");
            value
        };
        pairs.push((key, value));
    }
    pairs
}

/// Keys whose values are credentials.
const SECRET_KEYS: [&str; 5] = [
    "pwd",
    "password",
    "auth_client_secret",
    "auth_accesstoken",
    "token",
];

/// The credential values of a connection string.
fn connection_secrets(text: &str) -> Vec<String> {
    connection_pairs(text)
        .into_iter()
        .filter(|(k, _)| SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .collect()
}

/// A description of a connection string for messages: its server, port and database, never a credential.
fn describe_connection(text: &str) -> String {
    let shown: Vec<String> = connection_pairs(text)
        .into_iter()
        .filter(|(k, _)| {
            ["server", "host", "port", "database", "httppath"]
                .contains(&k.to_ascii_lowercase().as_str())
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if shown.is_empty() {
        "the warehouse of WAREHOUSE_ODBC_CONNECTION_STRING".into()
    } else {
        format!("the warehouse at {}", shown.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    fn no_file(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("no file"))
    }

    #[test]
    fn the_databricks_connection_string_is_built_from_the_environment() {
        let e = env(&[
            ("NOTION_SYNC_SINK", "warehouse"),
            ("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net/"),
            ("DATABRICKS_HTTP_PATH", "/sql/1.0/warehouses/abc"),
            ("DATABRICKS_TOKEN", "dapi-secret;x"),
            ("DATABRICKS_CATALOG", "main"),
        ]);
        let SinkChoice::Warehouse(w) = SinkChoice::from_env(&e, "bronze", &no_file).unwrap() else {
            panic!("a warehouse");
        };
        assert_eq!(w.dialect, Dialect::Databricks);
        assert_eq!(
            w.connection.expose(),
            "Driver=/opt/simba/spark/lib/64/libsparkodbc_sb64.so;Host=adb-1.2.azuredatabricks.net;\
             Port=443;HTTPPath=/sql/1.0/warehouses/abc;SSL=1;ThriftTransport=2;SparkServerType=3;\
             AuthMech=3;UID=token;PWD={dapi-secret;x};UseNativeQuery=1;Schema=bronze;\
             UserAgentEntry=notion-sync;Catalog=main;"
        );
        assert_eq!(w.credentials_var, "DATABRICKS_TOKEN");
        assert!(!w.describe.contains("secret"));
        assert_eq!(
            connection_secrets(w.connection.expose()),
            vec!["dapi-secret;x".to_string()]
        );
        let m2m = env(&[
            ("NOTION_SYNC_SINK", "warehouse"),
            ("DATABRICKS_HOST", "dbc-1.cloud.databricks.com"),
            ("DATABRICKS_HTTP_PATH", "/sql/1.0/warehouses/abc"),
            ("DATABRICKS_CLIENT_ID", "8f1c"),
            ("DATABRICKS_CLIENT_SECRET", "dose-secret"),
            ("DATABRICKS_ODBC_DRIVER", "Databricks"),
            ("DATABRICKS_STAGING_VOLUME", "/Volumes/main/bronze/staging/"),
        ]);
        let w = WarehouseSettings::from_env(&m2m, "bronze", &no_file).unwrap();
        let text = w.connection.expose();
        assert!(
            text.starts_with("Driver=Databricks;Host=dbc-1.cloud.databricks.com;"),
            "{text}"
        );
        assert!(
            text.contains("AuthMech=11;Auth_Flow=1;Auth_Client_ID=8f1c;Auth_Client_Secret=dose-secret;Auth_Scope=all-apis;"),
            "{text}"
        );
        assert!(text.contains("StagingAllowedLocalPaths="), "{text}");
        assert_eq!(w.credentials_var, "DATABRICKS_CLIENT_SECRET");
        assert_eq!(
            w.staging_volume.as_deref(),
            Some("/Volumes/main/bronze/staging")
        );
    }

    #[test]
    fn missing_or_conflicting_warehouse_variables_name_the_fix() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("NOTION_SYNC_SINK", "lake")], "NOTION_SYNC_SINK"),
            (
                &[
                    ("NOTION_SYNC_SINK", "warehouse"),
                    ("WAREHOUSE_DIALECT", "postgres"),
                ],
                "WAREHOUSE_ODBC_CONNECTION_STRING",
            ),
            (&[("NOTION_SYNC_SINK", "warehouse")], "DATABRICKS_HOST"),
            (
                &[
                    ("NOTION_SYNC_SINK", "warehouse"),
                    ("DATABRICKS_HOST", "h"),
                    ("DATABRICKS_HTTP_PATH", "/p"),
                    ("DATABRICKS_CLIENT_ID", "id"),
                ],
                "DATABRICKS_CLIENT_SECRET",
            ),
            (
                &[
                    ("NOTION_SYNC_SINK", "warehouse"),
                    ("WAREHOUSE_ODBC_CONNECTION_STRING", "garbage"),
                ],
                "WAREHOUSE_ODBC_CONNECTION_STRING",
            ),
        ];
        for (vars, setting) in cases {
            let err = SinkChoice::from_env(&env(vars), "bronze", &no_file).unwrap_err();
            assert_eq!(err.setting, setting, "{vars:?}: {err}");
        }
    }

    #[test]
    fn a_given_connection_string_is_described_without_its_password() {
        let text =
            "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=x;Uid=u;Pwd={p;w}";
        assert_eq!(connection_secrets(text), vec!["p;w".to_string()]);
        let d = describe_connection(text);
        assert_eq!(d, "the warehouse at Server=127.0.0.1 Port=5432 Database=x");
    }
}
