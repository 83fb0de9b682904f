use super::*;

fn env(pairs: &[(&str, &str)]) -> EnvVars {
    EnvVars::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
}

fn no_file(_: &str) -> std::io::Result<String> {
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, "missing"))
}

fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_sources(&env(pairs), None, &no_file)
}

const ID: &str = "195de9221179449fab8075a27c979105";

#[test]
fn defaults_apply() {
    let s = settings(&[("NOTION_API_KEY", "ntn_x"), ("NOTION_PROJECTS_DB_ID", ID)]).unwrap();
    assert_eq!(s.base_url.as_str(), "https://api.notion.com/");
    assert_eq!(s.api_version, ApiVersion::V2026_03_11);
    assert_eq!(s.requests_per_minute, 180);
    assert_eq!(s.lakehouse_uri, "./lakehouse");
    assert_eq!(s.bronze_schema, "bronze");
    assert_eq!(s.lookback, Duration::from_secs(300));
    assert_eq!(
        s.databases,
        vec![DatabaseConfig {
            name: "projects".into(),
            id: "195de922-1179-449f-ab80-75a27c979105".into(),
            include: Include::default(),
        }]
    );
}

#[test]
fn missing_token_names_the_variable() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.require_token().unwrap_err().setting, "NOTION_API_KEY");
}

#[test]
fn token_file_is_read_and_trimmed() {
    let e = env(&[("NOTION_API_KEY_FILE", "/run/secrets/notion")]);
    let s = Settings::from_sources(&e, None, &|p| {
        assert_eq!(p, "/run/secrets/notion");
        Ok("ntn_from_file\n".into())
    })
    .unwrap();
    assert_eq!(s.require_token().unwrap().expose(), "ntn_from_file");
    let e = Settings::from_sources(&e, None, &no_file).unwrap_err();
    assert_eq!(e.setting, "NOTION_API_KEY_FILE");
}

#[test]
fn plain_http_only_on_loopback() {
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:2",
        "https://example.com",
    ] {
        assert!(parse_base_url(Some(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "http://example.com",
        "ftp://127.0.0.1",
        "not a url",
        "https://u:p@api.notion.com",
    ] {
        assert_eq!(
            parse_base_url(Some(bad)).unwrap_err().setting,
            "NOTION_API_BASE_URL",
            "{bad}"
        );
    }
}

#[test]
fn bad_values_name_their_variable() {
    for (var, value) in [
        ("NOTION_REQUESTS_PER_MINUTE", "fast"),
        ("NOTION_REQUESTS_PER_MINUTE", "0"),
        ("NOTION_VERSION", "2023-01-01"),
        ("NOTION_SYNC_LOOKBACK", "soon"),
        ("BRONZE_SCHEMA", "a-b"),
        ("NOTION_PROJECTS_DB_ID", "not-an-id"),
    ] {
        let e = settings(&[("NOTION_API_KEY", "t"), (var, value)]).unwrap_err();
        assert_eq!(e.setting, var, "{var}={value}: {e}");
    }
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_duration("m"), None);
}

#[test]
fn file_and_env_databases_merge_env_wins() {
    let file = FileConfig::parse(
        "[databases.tasks]\nid = \"195de922-1179-449f-ab80-75a27c979105\"\n[databases.notes]\nid = \"0123456789abcdef0123456789abcdef\"\n",
        "notion-sync.toml",
    )
    .unwrap();
    let e = env(&[
        ("NOTION_API_KEY", "t"),
        ("NOTION_TASKS_DB_ID", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ]);
    let s = Settings::from_sources(&e, Some(&file), &no_file).unwrap();
    let names: Vec<_> = s
        .databases
        .iter()
        .map(|d| (d.name.as_str(), d.id.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("notes", "01234567-89ab-cdef-0123-456789abcdef"),
            ("tasks", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
        ]
    );
    assert!(FileConfig::parse("[databases.x]\nid='a'\ntoken='s'\n", "f.toml").is_err());
}

#[test]
fn unknown_selection_lists_configured_names() {
    let s = settings(&[("NOTION_API_KEY", "t"), ("NOTION_PROJECTS_DB_ID", ID)]).unwrap();
    let e = s.select_databases(&["nope".into()]).unwrap_err();
    assert!(e.message.contains("projects"), "{e}");
    assert_eq!(s.select_databases(&["PROJECTS".into()]).unwrap().len(), 1);
}

#[test]
fn env_var_list_matches_the_struct() {
    let all =
        EnvVars::from_pairs(ENV_VARS.iter().map(|k| (k.to_string(), "x".to_string()))).unwrap();
    let value = serde_json::to_value(&all).unwrap();
    let mut fields: Vec<String> = value
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.to_uppercase())
        .collect();
    fields.sort();
    let mut listed: Vec<String> = ENV_VARS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(fields, listed);
    assert!(
        value.as_object().unwrap().values().all(|v| v == "x"),
        "every listed variable decodes"
    );
}

#[test]
fn env_example_documents_every_variable() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let documented: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    for var in ENV_VARS.iter().chain(STORAGE_VARS.iter().map(|(n, _)| n)) {
        assert!(documented.contains(var), ".env.example lacks {var}");
    }
    for var in &documented {
        assert!(
            ENV_VARS.contains(var)
                || STORAGE_VARS.iter().any(|(n, _)| n == var)
                || (var.starts_with("NOTION_") && var.ends_with("_DB_ID")),
            ".env.example documents {var}, which the connector does not read"
        );
    }
}
