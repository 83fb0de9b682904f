//! Notion ids: accepted with or without dashes, any case; stored dashed lower-case so merge keys are stable.

/// Normalises a Notion id (32 hex digits, dashes optional, any case; a Notion URL's trailing id is also
/// accepted) to the dashed lower-case 8-4-4-4-12 form. Version bits are not checked: real ids are not all v4.
pub fn normalize_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // Accept a pasted URL: take the last path segment before any query string.
    let tail = raw
        .split(['?', '#'])
        .next()
        .unwrap_or(raw)
        .rsplit('/')
        .next()
        .unwrap_or(raw);
    let tail = if tail.len() > 36 {
        &tail[tail.len().saturating_sub(32)..]
    } else {
        tail
    };
    let hex: String = tail.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(dashed(&hex.to_ascii_lowercase()))
}

/// 32 hex digits as 8-4-4-4-12.
fn dashed(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A page id in 16 bytes: the key of in-memory indexes, which hold one entry per page of a table. A
/// normalised id is a UUID, so its own 128 bits are the key and [`PageKey::id`] gives the id back; any other
/// text is hashed (and has no way back, which only tests ever need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKey(pub u128);

impl PageKey {
    /// The key of an id.
    pub fn of(id: &str) -> PageKey {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        match u128::from_str_radix(&hex, 16) {
            Ok(v) if hex.len() == 32 => PageKey(v),
            _ => {
                use sha2::Digest;
                let d = sha2::Sha256::digest(id.as_bytes());
                PageKey(u128::from_be_bytes(d[..16].try_into().unwrap_or([0; 16])))
            }
        }
    }

    /// The dashed lower-case id.
    pub fn id(self) -> String {
        dashed(&format!("{:032x}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::{PageKey, normalize_id};

    #[test]
    fn page_keys_round_trip_normalised_ids() {
        let id = "195de922-1179-449f-ab80-75a27c979105";
        assert_eq!(PageKey::of(id).id(), id);
        assert_ne!(PageKey::of("a"), PageKey::of("b"));
    }

    #[test]
    fn forms_normalise_to_dashed_lower_case() {
        let want = Some("195de922-1179-449f-ab80-75a27c979105".to_string());
        assert_eq!(normalize_id("195de9221179449fab8075a27c979105"), want);
        assert_eq!(normalize_id("195DE922-1179-449F-AB80-75A27C979105"), want);
        assert_eq!(
            normalize_id(
                "https://www.notion.so/acme/Projects-195de9221179449fab8075a27c979105?v=1"
            ),
            want
        );
        assert_eq!(
            normalize_id("248104cd-477e-80fd-b757-e945d38000bd")
                .unwrap()
                .len(),
            36
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "xyz",
            "195de9221179449fab8075a27c97910",
            "195de9221179449fab8075a27c97910g",
        ] {
            assert_eq!(normalize_id(bad), None, "{bad}");
        }
    }
}
