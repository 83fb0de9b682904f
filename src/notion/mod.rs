//! The Notion API client: versions, ids, errors, rate limiting, retries and payload decoding.

pub mod client;
pub mod error;
pub mod files;
pub mod ids;
pub mod limiter;
pub mod model;
pub mod retry;
pub mod stats;

use std::fmt;
use std::str::FromStr;

pub use client::{Client, ClientOptions};
pub use error::{ErrorClass, NotionError};
pub use stats::RequestStats;

/// A `Notion-Version` this connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ApiVersion {
    /// One database = one table; `POST /v1/databases/{id}/query`.
    V2022_06_28,
    /// Databases hold data sources; `POST /v1/data_sources/{id}/query`.
    V2025_09_03,
    /// As 2025-09-03, with `archived` removed in favour of `in_trash`.
    #[default]
    V2026_03_11,
}

impl ApiVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::V2022_06_28,
        ApiVersion::V2025_09_03,
        ApiVersion::V2026_03_11,
    ];

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2022_06_28 => "2022-06-28",
            ApiVersion::V2025_09_03 => "2025-09-03",
            ApiVersion::V2026_03_11 => "2026-03-11",
        }
    }

    /// Whether databases are containers of data sources at this version.
    pub fn has_data_sources(self) -> bool {
        self >= ApiVersion::V2025_09_03
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| s.to_string())
    }
}
