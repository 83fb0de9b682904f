//! A string that never shows itself in logs, errors or panics.

use std::fmt;

/// A secret value (an API token). `Debug` and `Display` print `***`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is sent (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Secret values known to this process, kept out of messages built from third-party errors.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Remembers `secret` so that [`scrub`] hides it wherever a message might quote it (an object store's error
/// can carry a signed URL or a key it was given).
pub fn remember(secret: &Secret) {
    if secret.0.len() < 4 {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.contains(&secret.0) {
        known.push(secret.0.clone());
    }
}

/// `text` with every remembered secret replaced by `***`.
pub fn scrub(text: String) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    known.iter().fold(text, |text, s| {
        if text.contains(s.as_str()) {
            text.replace(s.as_str(), "***")
        } else {
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("ntn_supersecret");
        assert!(!format!("{s:?} {s}").contains("supersecret"));
        assert_eq!(s.expose(), "ntn_supersecret");
    }

    #[test]
    fn remembered_secrets_are_scrubbed_from_messages() {
        remember(&Secret::new("AKIA-remembered-key"));
        assert_eq!(
            scrub("403 for AKIA-remembered-key at s3://b".to_string()),
            "403 for *** at s3://b"
        );
    }
}
