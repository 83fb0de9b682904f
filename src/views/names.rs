//! Column and view names: a property's name in snake_case, made unique within its view.

use std::collections::HashSet;

/// `Due Date` → `due_date`, `dueDate` → `due_date`, `% done` → `done`; letters outside ASCII are kept
/// (lower-cased), anything else becomes one underscore. A name with nothing left is `property`; one that
/// starts with a digit gets a `p_` prefix so it is a plain identifier in every dialect.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_alphanumeric() {
            let boundary =
                c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_numeric());
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return "property".into();
    }
    if out.starts_with(|c: char| c.is_numeric()) {
        out.insert_str(0, "p_");
    }
    out
}

/// Hands out names unique within one view: the second `name` is `name_2`, the third `name_3`.
#[derive(Debug, Default)]
pub struct Unique {
    taken: HashSet<String>,
}

impl Unique {
    /// A namer with `reserved` already taken (the view's fixed columns).
    pub fn with(reserved: &[&str]) -> Unique {
        Unique {
            taken: reserved.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    /// The first of `base`, `base_2`, `base_3`, … for which every one of `suffixes` appended is free;
    /// takes all of them.
    pub fn take(&mut self, base: &str, suffixes: &[&str]) -> String {
        let free = |stem: &str, taken: &HashSet<String>| {
            suffixes
                .iter()
                .all(|s| !taken.contains(&format!("{stem}{s}")))
        };
        let mut stem = base.to_string();
        let mut n = 2;
        while !free(&stem, &self.taken) {
            stem = format!("{base}_{n}");
            n += 1;
        }
        for s in suffixes {
            self.taken.insert(format!("{stem}{s}"));
        }
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_names() {
        assert_eq!(snake_case("Due Date"), "due_date");
        assert_eq!(snake_case("dueDate"), "due_date");
        assert_eq!(snake_case("  Last edited "), "last_edited");
        assert_eq!(snake_case("% Done"), "done");
        assert_eq!(snake_case("URL"), "url");
        assert_eq!(snake_case("Größe (cm)"), "größe_cm");
        assert_eq!(snake_case("🔥"), "property");
        assert_eq!(snake_case("2nd reviewer"), "p_2nd_reviewer");
        assert_eq!(snake_case("Task-count"), "task_count");
    }

    #[test]
    fn unique_names_respect_reserved_columns_and_suffixes() {
        let mut u = Unique::with(&["page_id", "created_time"]);
        assert_eq!(u.take("created_time", &[""]), "created_time_2");
        assert_eq!(u.take("due", &["", "_end", "_time_zone"]), "due");
        // `due_end` is taken by the date above.
        assert_eq!(u.take("due_end", &[""]), "due_end_2");
        assert_eq!(u.take("status", &[""]), "status");
        assert_eq!(u.take("status", &[""]), "status_2");
        assert_eq!(u.take("status", &[""]), "status_3");
    }
}
