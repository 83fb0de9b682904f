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
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::normalize_id;

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
