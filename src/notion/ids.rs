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
    // A URL's segment is `<title>-<32 hex digits>`; the title can be any text.
    let tail = if tail.len() > 36 {
        last_chars(tail, 32)
    } else {
        tail
    };
    let hex: String = tail.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(dashed(&hex.to_ascii_lowercase()))
}

/// The last `n` characters of `text` (all of it when shorter), never cut inside a character.
fn last_chars(text: &str, n: usize) -> &str {
    let start = text
        .char_indices()
        .rev()
        .take(n)
        .last()
        .map_or(text.len(), |(i, _)| i);
    &text[start..]
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
    fn multibyte_text_near_the_end_is_rejected_not_sliced() {
        let hex = "195de9221179449fab8075a27c979105";
        let want = Some("195de922-1179-449f-ab80-75a27c979105".to_string());
        // A 2-, 3- and 4-byte character at every offset against the last 32 bytes of a long tail.
        for ch in ["é", "€", "😀"] {
            for pad in 0..8 {
                let head = "a".repeat(pad);
                for digits in 26..=32 {
                    let tail = &hex[..digits];
                    let expect = if digits == 32 { want.clone() } else { None };
                    let url = format!("https://www.notion.so/Projets-{head}{ch}{tail}?v=1");
                    assert_eq!(normalize_id(&url), expect, "{url}");
                    let bare = format!("{head}{ch}{tail}");
                    let got = normalize_id(&bare);
                    assert!(digits == 32 || got.is_none(), "{bare}");
                }
                let raw = format!("{head}{}{ch}{}", &hex[..31], &hex[31..]);
                assert_eq!(normalize_id(&raw), None, "{raw}");
            }
        }
        assert_eq!(
            normalize_id(&format!("https://www.notion.so/Café-😀-{hex}?v=é")),
            want
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
