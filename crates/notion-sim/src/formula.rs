//! Formula evaluation: the part of Notion's formula language the simulator's schemas use (numbers,
//! strings, booleans, `prop()` references and their stored tokens, arithmetic, comparisons, `and`/`or`/
//! `not`, `if`/`?:` and a few functions such as `round`, `min`, `max`, `concat`, `length`, and
//! `parseDate` for a date result).
//!
//! An expression outside that part evaluates to an empty string result, as the simulator cannot
//! compute it; Notion would.

use serde_json::{Value, json};

use crate::model::{DataSource, Page, plain_text};
use crate::server::decode;

/// A formula value.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Num(f64),
    Str(String),
    Bool(bool),
    /// A date (its ISO start).
    Date(String),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    /// A property reference by id (a stored token).
    Prop(String),
    Op(String),
}

const OPS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "^", "<", ">", "!", "(", ")", ",",
    "?", ":",
];

fn lex(src: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if let Some(after) = rest.strip_prefix("{{notion:block_property:") {
            let end = after.find("}}")?;
            let id = after[..end].split(':').next()?;
            out.push(Tok::Prop(decode(id)));
            rest = &after[end + 2..];
        } else if c.is_ascii_digit() || c == '.' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .unwrap_or(rest.len());
            out.push(Tok::Num(rest[..end].parse().ok()?));
            rest = &rest[end..];
        } else if c == '"' {
            let mut s = String::new();
            let mut chars = rest[1..].char_indices();
            let close = loop {
                match chars.next()? {
                    (_, '\\') => s.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, ch) => s.push(ch),
                }
            };
            out.push(Tok::Str(s));
            rest = &rest[close + 2..];
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            out.push(Tok::Ident(rest[..end].to_string()));
            rest = &rest[end..];
        } else {
            let op = OPS.iter().find(|o| rest.starts_with(**o))?;
            out.push(Tok::Op(op.to_string()));
            rest = &rest[op.len()..];
        }
    }
    Some(out)
}

/// A parsed expression.
#[derive(Debug, Clone)]
enum Expr {
    Lit(V),
    /// `prop("Name")` (by name) or a token (by id).
    Prop {
        by_id: bool,
        key: String,
    },
    Unary(String, Box<Expr>),
    Binary(String, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

/// Binding power of binary operators (higher binds tighter).
fn power(op: &str) -> Option<u8> {
    Some(match op {
        "||" | "or" => 1,
        "&&" | "and" => 2,
        "==" | "!=" => 3,
        "<" | "<=" | ">" | ">=" => 4,
        "+" | "-" => 5,
        "*" | "/" | "%" => 6,
        "^" => 7,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Tok::Op(op.into())) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn ternary(&mut self) -> Option<Expr> {
        let cond = self.binary(0)?;
        if !self.eat("?") {
            return Some(cond);
        }
        let yes = self.ternary()?;
        self.eat(":").then_some(())?;
        let no = self.ternary()?;
        Some(Expr::Cond(Box::new(cond), Box::new(yes), Box::new(no)))
    }

    fn binary(&mut self, min: u8) -> Option<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o)) => o.clone(),
                Some(Tok::Ident(w)) if w == "and" || w == "or" => w.clone(),
                _ => return Some(left),
            };
            let Some(p) = power(&op).filter(|p| *p > min) else {
                return Some(left);
            };
            self.at += 1;
            // `^` is right-associative.
            let right = self.binary(if op == "^" { p - 1 } else { p })?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        match self.peek() {
            Some(Tok::Op(o)) if o == "-" || o == "!" => {
                let op = o.clone();
                self.at += 1;
                Some(Expr::Unary(op, Box::new(self.unary()?)))
            }
            Some(Tok::Ident(w)) if w == "not" => {
                self.at += 1;
                Some(Expr::Unary("!".into(), Box::new(self.unary()?)))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Expr> {
        match self.next()? {
            Tok::Num(n) => Some(Expr::Lit(V::Num(n))),
            Tok::Str(s) => Some(Expr::Lit(V::Str(s))),
            Tok::Prop(id) => Some(Expr::Prop {
                by_id: true,
                key: id,
            }),
            Tok::Op(o) if o == "(" => {
                let e = self.ternary()?;
                self.eat(")").then_some(e)
            }
            Tok::Ident(w) if w == "true" || w == "false" => Some(Expr::Lit(V::Bool(w == "true"))),
            Tok::Ident(name) => {
                self.eat("(").then_some(())?;
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.ternary()?);
                        if self.eat(")") {
                            break;
                        }
                        self.eat(",").then_some(())?;
                    }
                }
                match (name.as_str(), args.as_slice()) {
                    ("prop", [Expr::Lit(V::Str(key))]) => Some(Expr::Prop {
                        by_id: false,
                        key: key.clone(),
                    }),
                    _ => Some(Expr::Call(name, args)),
                }
            }
            Tok::Op(_) => None,
        }
    }
}

fn parse(src: &str) -> Option<Expr> {
    let mut p = Parser {
        toks: lex(src)?,
        at: 0,
    };
    let e = p.ternary()?;
    (p.at == p.toks.len()).then_some(e)
}

/// The names `prop("...")` calls in an expression give (after tokenising, those left are unknown).
pub fn named_props(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("prop(\"") {
        let after = &rest[i + 6..];
        let end = after.find("\")").unwrap_or(after.len());
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// The property ids the stored tokens of an expression name.
pub fn token_ids(expr: &str) -> Vec<String> {
    lex(expr)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Tok::Prop(id) => Some(id),
            _ => None,
        })
        .collect()
}

struct Ctx<'a> {
    page: &'a Page,
    ds: &'a DataSource,
    depth: usize,
}

impl Ctx<'_> {
    fn prop(&self, by_id: bool, key: &str) -> V {
        let Some(p) = self.ds.props.iter().find(|p| {
            if by_id {
                decode(&p.id) == key
            } else {
                p.name == key
            }
        }) else {
            return V::Empty;
        };
        let stored = self.page.values.get(&p.name);
        match p.kind.as_str() {
            "number" => stored.and_then(Value::as_f64).map_or(V::Empty, V::Num),
            "checkbox" => V::Bool(stored.and_then(Value::as_bool).unwrap_or(false)),
            "title" | "rich_text" => V::Str(plain_text(stored)),
            "url" | "email" | "phone_number" => {
                V::Str(stored.and_then(Value::as_str).unwrap_or("").to_string())
            }
            "select" | "status" => V::Str(match stored {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v["name"].as_str().unwrap_or("").to_string(),
                None => String::new(),
            }),
            "formula" if self.depth < 8 && stored.is_none() => {
                let inner = Ctx {
                    depth: self.depth + 1,
                    ..*self
                };
                p.config["expression"]
                    .as_str()
                    .and_then(parse)
                    .map_or(V::Empty, |e| inner.eval(&e))
            }
            _ => V::Empty,
        }
    }

    fn eval(&self, e: &Expr) -> V {
        match e {
            Expr::Lit(v) => v.clone(),
            Expr::Prop { by_id, key } => self.prop(*by_id, key),
            Expr::Unary(op, x) => match (op.as_str(), self.eval(x)) {
                ("-", V::Num(n)) => V::Num(-n),
                ("!", v) => V::Bool(!truthy(&v)),
                _ => V::Empty,
            },
            Expr::Binary(op, a, b) => binary(op, self.eval(a), self.eval(b)),
            Expr::Cond(c, y, n) => {
                if truthy(&self.eval(c)) {
                    self.eval(y)
                } else {
                    self.eval(n)
                }
            }
            Expr::Call(name, args) => {
                let vals: Vec<V> = args.iter().map(|a| self.eval(a)).collect();
                call(name, &vals)
            }
        }
    }
}

fn truthy(v: &V) -> bool {
    match v {
        V::Bool(b) => *b,
        V::Num(n) => *n != 0.0,
        V::Str(s) | V::Date(s) => !s.is_empty(),
        V::Empty => false,
    }
}

fn text(v: &V) -> String {
    match v {
        V::Num(n) => format!("{n}"),
        V::Str(s) | V::Date(s) => s.clone(),
        V::Bool(b) => b.to_string(),
        V::Empty => String::new(),
    }
}

fn binary(op: &str, a: V, b: V) -> V {
    match (op, &a, &b) {
        ("&&" | "and", ..) => V::Bool(truthy(&a) && truthy(&b)),
        ("||" | "or", ..) => V::Bool(truthy(&a) || truthy(&b)),
        ("==", ..) => V::Bool(a == b),
        ("!=", ..) => V::Bool(a != b),
        ("+", V::Str(_), _) | ("+", _, V::Str(_)) => V::Str(text(&a) + &text(&b)),
        (_, V::Num(x), V::Num(y)) => {
            let (x, y) = (*x, *y);
            match op {
                "+" => V::Num(x + y),
                "-" => V::Num(x - y),
                "*" => V::Num(x * y),
                "/" => V::Num(x / y),
                "%" => V::Num(x % y),
                "^" => V::Num(x.powf(y)),
                "<" => V::Bool(x < y),
                "<=" => V::Bool(x <= y),
                ">" => V::Bool(x > y),
                ">=" => V::Bool(x >= y),
                _ => V::Empty,
            }
        }
        (_, V::Str(x), V::Str(y)) => match op {
            "<" => V::Bool(x < y),
            "<=" => V::Bool(x <= y),
            ">" => V::Bool(x > y),
            ">=" => V::Bool(x >= y),
            _ => V::Empty,
        },
        _ => V::Empty,
    }
}

fn nums(vals: &[V]) -> Option<Vec<f64>> {
    vals.iter()
        .map(|v| match v {
            V::Num(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn call(name: &str, vals: &[V]) -> V {
    let num = |f: fn(f64) -> f64| match vals {
        [V::Num(n)] => V::Num(f(*n)),
        _ => V::Empty,
    };
    match name {
        "round" => match vals {
            [V::Num(n)] => V::Num(n.round()),
            [V::Num(n), V::Num(places)] => {
                let k = 10f64.powi(*places as i32);
                V::Num((n * k).round() / k)
            }
            _ => V::Empty,
        },
        "floor" => num(f64::floor),
        "ceil" => num(f64::ceil),
        "abs" => num(f64::abs),
        "sqrt" => num(f64::sqrt),
        "min" | "max" => match nums(vals) {
            Some(ns) if !ns.is_empty() => V::Num(ns.into_iter().fold(
                if name == "min" {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                },
                if name == "min" { f64::min } else { f64::max },
            )),
            _ => V::Empty,
        },
        "if" => match vals {
            [c, y, n] => {
                if truthy(c) {
                    y.clone()
                } else {
                    n.clone()
                }
            }
            _ => V::Empty,
        },
        "concat" => V::Str(vals.iter().map(text).collect()),
        "length" => match vals {
            [V::Str(s)] => V::Num(s.chars().count() as f64),
            _ => V::Empty,
        },
        "format" => match vals {
            [v] => V::Str(text(v)),
            _ => V::Empty,
        },
        "toNumber" => match vals {
            [V::Num(n)] => V::Num(*n),
            [V::Str(s)] => s.trim().parse().map_or(V::Empty, V::Num),
            [V::Bool(b)] => V::Num(if *b { 1.0 } else { 0.0 }),
            _ => V::Empty,
        },
        "empty" => match vals {
            [v] => V::Bool(!truthy(v)),
            _ => V::Empty,
        },
        "not" => match vals {
            [v] => V::Bool(!truthy(v)),
            _ => V::Empty,
        },
        "lower" | "upper" => match vals {
            [V::Str(s)] if name == "lower" => V::Str(s.to_lowercase()),
            [V::Str(s)] => V::Str(s.to_uppercase()),
            _ => V::Empty,
        },
        "parseDate" => match vals {
            [V::Str(s)]
                if chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(""), "%Y-%m-%d")
                    .is_ok() =>
            {
                V::Date(s.clone())
            }
            _ => V::Empty,
        },
        "contains" => match vals {
            [V::Str(s), V::Str(t)] => V::Bool(s.contains(t.as_str())),
            _ => V::Empty,
        },
        _ => V::Empty,
    }
}

/// The result object of a page's formula (`{"type": "number", "number": 2.5}`).
pub fn evaluate(page: &Page, ds: &DataSource, expr: &str) -> Value {
    let Some(e) = parse(expr) else {
        return json!({"type": "string", "string": null});
    };
    let ctx = Ctx { page, ds, depth: 0 };
    match ctx.eval(&e) {
        V::Num(n) if n.is_finite() => json!({"type": "number", "number": n}),
        V::Num(_) | V::Empty => json!({"type": "number", "number": null}),
        V::Str(s) => json!({"type": "string", "string": s}),
        V::Bool(b) => json!({"type": "boolean", "boolean": b}),
        V::Date(d) => {
            json!({"type": "date", "date": {"start": d, "end": null, "time_zone": null}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_plain(src: &str) -> Option<V> {
        let ds = crate::model::page_schema();
        let page = Page {
            id: String::new(),
            data_source_id: String::new(),
            created: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            edited: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            created_by: String::new(),
            edited_by: String::new(),
            in_trash: false,
            is_archived: false,
            values: [("title".to_string(), json!("Hello"))].into(),
            meta: Default::default(),
        };
        let ctx = Ctx {
            page: &page,
            ds,
            depth: 0,
        };
        parse(src).map(|e| ctx.eval(&e))
    }

    #[test]
    fn arithmetic_precedence_and_functions() {
        assert_eq!(eval_plain("round(800/(1*400)*10)/10"), Some(V::Num(2.0)));
        assert_eq!(eval_plain("2 + 3 * 4 ^ 2"), Some(V::Num(50.0)));
        assert_eq!(eval_plain("-2 ^ 2"), Some(V::Num(4.0)));
        assert_eq!(eval_plain("max(1, 7, 3) - min(4, 2)"), Some(V::Num(5.0)));
        assert_eq!(eval_plain("round(2.345, 2)"), Some(V::Num(2.35)));
        assert_eq!(
            eval_plain("prop(\"title\") + \" world\""),
            Some(V::Str("Hello world".into()))
        );
        assert_eq!(
            eval_plain("1 < 2 and not false ? \"yes\" : \"no\""),
            Some(V::Str("yes".into()))
        );
        assert_eq!(
            eval_plain("if(length(\"abc\") == 3, 1, 0)"),
            Some(V::Num(1.0))
        );
        assert!(eval_plain("round(").is_none());
        assert!(eval_plain("1 2").is_none());
    }

    #[test]
    fn references_by_name_and_token() {
        let expr =
            "prop(\"A\") + {{notion:block_property:b%3Ac:00000000-0000-0000-0000-000000000000:x}}";
        assert_eq!(named_props(expr), vec!["A".to_string()]);
        assert_eq!(token_ids(expr), vec!["b:c".to_string()]);
    }

    #[test]
    fn parse_date_gives_a_date_result() {
        assert_eq!(
            eval_plain("parseDate(\"2026-01-01\")"),
            Some(V::Date("2026-01-01".into()))
        );
        assert_eq!(eval_plain("parseDate(\"soon\")"), Some(V::Empty));
    }
}
