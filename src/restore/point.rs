//! `--as-of`: a Delta version of `notion_raw_pages` or an RFC 3339 timestamp.

use std::fmt;

use chrono::{DateTime, Utc};

/// A restore point as given on the command line (in an export's manifest: `{"kind": "version",
/// "value": 12}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AsOf {
    /// The latest state bronze holds.
    Latest,
    /// A version of `notion_raw_pages` (Delta time travel).
    Version(u64),
    /// The state bronze knew at this time (from the append-only history table).
    Time(DateTime<Utc>),
}

impl AsOf {
    /// Parses `VERSION` (digits) or an RFC 3339 timestamp; the error names what was expected.
    pub fn parse(raw: &str) -> Result<AsOf, String> {
        let raw = raw.trim();
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return raw
                .parse()
                .map(AsOf::Version)
                .map_err(|_| format!("--as-of {raw}: version out of range"));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|t| AsOf::Time(t.to_utc()))
            .map_err(|_| {
                format!(
                    "--as-of {raw}: expected a version of notion_raw_pages (see `notion-sync snapshots`) or \
                     an RFC 3339 timestamp such as 2026-11-24T09:00:00Z"
                )
            })
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Latest => f.write_str("latest"),
            AsOf::Version(v) => write!(f, "version {v}"),
            AsOf::Time(t) => f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_and_times() {
        assert_eq!(AsOf::parse("12"), Ok(AsOf::Version(12)));
        let t = AsOf::parse("2026-11-24T09:00:00+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-24T08:00:00.000Z");
        let err = AsOf::parse("last tuesday").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
        assert!(AsOf::parse("99999999999999999999999").is_err());
    }
}
