//! Formula expressions for a recreated schema: Notion stores `prop()` calls as tokens that embed the
//! old property ids (`{{notion:block_property:<url-encoded id>:<data source id, or zeros>:<uuid>}}`),
//! which mean nothing in a new data source; each becomes `prop("<name>")` again, by the snapshot's
//! names. Formulas that use other formulas are created after them.

use std::collections::{BTreeMap, BTreeSet};

const TOKEN: &str = "{{notion:block_property:";

/// The data source part of a token that stands for "this data source".
const SAME_SOURCE: &str = "00000000-0000-0000-0000-000000000000";

/// Percent-decodes a property id (`a%3AB1` → `a:B1`), so ids compare however they were encoded.
pub fn decode(id: &str) -> String {
    let bytes = id.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = id
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `expr` with every token replaced by `prop("<name>")`; `name(data source or None for the same one,
/// decoded property id)` gives the snapshot's name. A token it cannot name is the error.
pub fn rewrite(
    expr: &str,
    name: &dyn Fn(Option<&str>, &str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find(TOKEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + TOKEN.len()..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("an unterminated property token in `{expr}`"))?;
        let mut parts = after[..end].split(':');
        let id = decode(parts.next().unwrap_or_default());
        let source = parts.next().filter(|s| *s != SAME_SOURCE);
        let found = name(source, &id).ok_or_else(|| {
            format!("it uses property {id}, which the snapshot's schema does not have")
        })?;
        out.push_str(&format!("prop(\"{}\")", found.replace('"', "\\\"")));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The names an expression's `prop("...")` calls use.
pub fn uses(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("prop(\"") {
        let after = &rest[i + 6..];
        let mut name = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => name.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = j;
                    break;
                }
                c => name.push(c),
            }
        }
        out.insert(name);
        rest = &after[end..];
    }
    out
}

/// Formulas (name → expression) in an order where each comes after the formulas it uses; those in a
/// cycle (or using one) are returned apart.
pub fn order(formulas: &BTreeMap<String, String>) -> (Vec<(String, String)>, Vec<String>) {
    let mut done: Vec<(String, String)> = Vec::new();
    let mut left: BTreeMap<&String, BTreeSet<String>> = formulas
        .iter()
        .map(|(n, e)| {
            let deps = uses(e)
                .into_iter()
                .filter(|d| d != n && formulas.contains_key(d))
                .collect();
            (n, deps)
        })
        .collect();
    loop {
        let ready: Vec<&String> = left
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| done.iter().any(|(n, _)| n == d)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            break;
        }
        for n in ready {
            left.remove(n);
            done.push((n.clone(), formulas[n].clone()));
        }
    }
    (done, left.into_keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_become_prop_calls_by_the_snapshots_names() {
        let expr = "round({{notion:block_property:a%3AB1:00000000-0000-0000-0000-000000000000:x}}/\
                    {{notion:block_property:title:1f2e:y}})";
        let name = |ds: Option<&str>, id: &str| match (ds, id) {
            (None, "a:B1") => Some("Value \"net\"".to_string()),
            (Some("1f2e"), "title") => Some("Name".to_string()),
            _ => None,
        };
        let out = rewrite(expr, &name).unwrap();
        assert_eq!(out, r#"round(prop("Value \"net\"")/prop("Name"))"#);
        assert_eq!(
            uses(&out),
            ["Name".to_string(), "Value \"net\"".to_string()].into()
        );
        assert!(rewrite("{{notion:block_property:zz:0:0}}", &name).is_err());
    }

    #[test]
    fn formulas_come_after_the_formulas_they_use() {
        let f: BTreeMap<String, String> = [
            ("A", r#"prop("C") * 2"#),
            ("B", r#"prop("Number")"#),
            ("C", r#"prop("B") + 1"#),
            ("X", r#"prop("Y")"#),
            ("Y", r#"prop("X")"#),
        ]
        .into_iter()
        .map(|(n, e)| (n.to_string(), e.to_string()))
        .collect();
        let (ordered, cyclic) = order(&f);
        let names: Vec<&str> = ordered.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["B", "C", "A"]);
        assert_eq!(cyclic, ["X", "Y"]);
    }
}
