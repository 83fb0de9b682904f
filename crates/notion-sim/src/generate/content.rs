//! Generated page content: block trees covering every block type the recorded Notion payloads show,
//! synced blocks, deep nesting, and discussions on pages and blocks.
//!
//! Everything here draws from the generator's content stream, so page ids and values do not depend on
//! the content generated.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{Gen, phrase};
use crate::content::{self, Stamp};
use crate::model::{Comment, Workspace, iso};
use crate::render::{mention_item, rich_text_item, text};
use crate::rng::Rng;

/// A page content is generated for: its blocks are made between its creation and its last edit.
struct Site {
    page: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Ids on the showcase page that discussions and references attach to.
struct Showcase {
    intro: String,
    deepest: String,
    quote: String,
    original: String,
}

/// The payload of a text block with Notion's default settings.
fn rich(kind: &str, content: &str) -> Value {
    let rt = text(content);
    match kind {
        "paragraph" => content::paragraph(content),
        "heading_1" | "heading_2" | "heading_3" => {
            json!({"rich_text": rt, "is_toggleable": false, "color": "default"})
        }
        "to_do" => json!({"rich_text": rt, "checked": false, "color": "default"}),
        "code" => json!({"caption": [], "rich_text": rt, "language": "rust"}),
        "callout" => {
            json!({"rich_text": rt, "icon": {"type": "emoji", "emoji": "💡"}, "color": "gray_background"})
        }
        _ => json!({"rich_text": rt, "color": "default"}),
    }
}

/// A date-mention rich-text item.
fn date_mention(day: &str) -> Value {
    let mut item = rich_text_item(day);
    if let Some(o) = item.as_object_mut() {
        o.remove("text");
        o.insert("type".into(), json!("mention"));
        o.insert(
            "mention".into(),
            json!({"type": "date", "date": {"start": day, "end": null, "time_zone": null}}),
        );
    }
    item
}

/// Rich text with each annotation, a link, a page mention and a date mention.
fn annotated(page: &str, day: &str) -> Value {
    let styled = |content: &str, key: &str, value: Value| {
        let mut item = rich_text_item(content);
        item["annotations"][key] = value;
        item
    };
    let url = "https://developers.notion.com/reference/rich-text";
    let mut link = rich_text_item(" a link");
    link["text"]["link"] = json!({"url": url});
    link["href"] = json!(url);
    json!([
        styled("Bold", "bold", json!(true)),
        styled(" italic", "italic", json!(true)),
        styled(" struck", "strikethrough", json!(true)),
        styled(" underlined", "underline", json!(true)),
        styled(" code", "code", json!(true)),
        styled(" red", "color", json!("red")),
        link,
        rich_text_item(", see "),
        mention_item(page, "the next page"),
        rich_text_item(" by "),
        date_mention(day),
    ])
}

/// A media payload (`image`, `video`, `audio`, `pdf`, `file`) with an external URL.
fn external(url: &str, caption: &str) -> Value {
    let caption = if caption.is_empty() {
        json!([])
    } else {
        text(caption)
    };
    json!({"caption": caption, "type": "external", "external": {"url": url}})
}

impl Gen {
    /// The people of the workspace (the bot excluded).
    fn people(&self) -> Vec<String> {
        self.ws
            .users
            .iter()
            .filter(|u| u.email.is_some())
            .map(|u| u.id.clone())
            .collect()
    }

    /// A whole minute between `from` and `to` (both minute-floored).
    fn moment(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let span = (to - from).num_minutes().max(0) as u64;
        from + Duration::minutes(self.content.below(span + 1) as i64)
    }

    /// The site of a page.
    fn site(&self, page: &str) -> Option<Site> {
        let p = self.ws.pages.get(page)?;
        Some(Site {
            page: p.id.clone(),
            from: p.created,
            to: p.edited,
        })
    }

    /// Adds a block under `parent` (the site's page or one of its blocks); returns its id.
    fn add(&mut self, site: &Site, parent: &str, kind: &str, payload: Value) -> String {
        let id = self.content.id();
        let created = self.moment(site.from, site.to);
        let edited = self.moment(created, site.to);
        let people = self.people();
        let created_by = self.content.pick(&people).clone();
        let edited_by = self.content.pick(&people).clone();
        let stamp = Stamp {
            at: created,
            by: &created_by,
        };
        let mut b = content::new_block(id.clone(), parent, kind, payload, stamp);
        b.edited = edited;
        b.edited_by = edited_by;
        content::attach(&mut self.ws, b, None);
        id
    }

    /// Adds a text block of `kind` with `n` generated words under `parent`.
    fn add_words(&mut self, site: &Site, parent: &str, kind: &str, n: usize) -> String {
        let words = phrase(&mut self.content, n);
        self.add(site, parent, kind, rich(kind, &words))
    }

    /// Adds a discussion on a page or block of `site`: one comment per text, by random people.
    fn discussion(&mut self, site: &Site, parent: &str, texts: &[&str], resolved: bool) {
        let people = self.people();
        let entries: Vec<(String, &str)> = texts
            .iter()
            .map(|t| (self.content.pick(&people).clone(), *t))
            .collect();
        self.thread(site, parent, &entries, resolved);
    }

    /// Adds a discussion of (author, text) comments, each after the one before and before now.
    fn thread(&mut self, site: &Site, parent: &str, entries: &[(String, &str)], resolved: bool) {
        let discussion = self.content.id();
        let mut at = self.ws.blocks.get(parent).map_or(site.from, |b| b.created);
        for (by, t) in entries {
            at = self.moment(at, self.now);
            let id = self.content.id();
            self.ws.comments.push(Comment {
                id,
                page: site.page.clone(),
                parent: parent.to_string(),
                parent_is_page: parent == site.page,
                discussion: discussion.clone(),
                text: t.to_string(),
                rich: None,
                display_name: None,
                by: by.clone(),
                created: at,
                edited: at,
                resolved,
            });
        }
    }

    /// Every block type, on one page, nested four levels deep under a toggle; `other` is the page
    /// linked to and mentioned.
    fn showcase(&mut self, site: &Site, other: &str) -> Showcase {
        let p = site.page.clone();
        self.add(site, &p, "heading_1", rich("heading_1", "Overview"));
        let day = site.to.format("%Y-%m-%d").to_string();
        let intro = self.add(
            site,
            &p,
            "paragraph",
            json!({"rich_text": annotated(other, &day), "icon": null, "color": "default"}),
        );
        self.add(site, &p, "table_of_contents", json!({"color": "default"}));
        self.add(site, &p, "breadcrumb", json!({}));
        let background = self.add(
            site,
            &p,
            "heading_2",
            json!({"rich_text": text("Background"), "is_toggleable": true, "color": "default"}),
        );
        self.add_words(site, &background, "paragraph", 8);
        self.add(site, &p, "heading_3", rich("heading_3", "Details"));
        let t1 = self.add(site, &p, "toggle", rich("toggle", "Details"));
        let t2 = self.add(site, &t1, "toggle", rich("toggle", "More details"));
        let t3 = self.add(site, &t2, "paragraph", rich("paragraph", "Deepest level"));
        let deepest = self.add_words(site, &t3, "bulleted_list_item", 4);
        self.lists(site);
        let quote = self.add_words(site, &p, "quote", 10);
        let callout = self.add_words(site, &p, "callout", 6);
        self.add_words(site, &callout, "paragraph", 5);
        self.add(
            site,
            &p,
            "code",
            rich("code", "fn main() {\n    println!(\"in sync\");\n}"),
        );
        self.add(
            site,
            &p,
            "equation",
            json!({"expression": "e^{i\\pi} + 1 = 0"}),
        );
        self.add(site, &p, "divider", json!({}));
        self.media(site);
        self.table(site, &p);
        self.columns(site, &p);
        let original = self.synced(site, &p);
        self.add(site, &p, "child_page", json!({"title": "Meeting archive"}));
        self.add(site, &p, "child_database", json!({"title": "Reading list"}));
        self.add(
            site,
            &p,
            "link_to_page",
            json!({"type": "page_id", "page_id": other}),
        );
        self.tabs(site, &p);
        self.meeting_notes(site, &p);
        self.add(site, &p, "unsupported", json!({"block_type": "button"}));
        Showcase {
            intro,
            deepest,
            quote,
            original,
        }
    }

    /// Bulleted (one nested), numbered and to-do items.
    fn lists(&mut self, site: &Site) {
        let p = site.page.clone();
        let first = self.add_words(site, &p, "bulleted_list_item", 3);
        self.add_words(site, &first, "bulleted_list_item", 3);
        self.add_words(site, &p, "bulleted_list_item", 3);
        let step = self.add_words(site, &p, "numbered_list_item", 3);
        self.add_words(site, &step, "numbered_list_item", 3);
        self.add_words(site, &p, "numbered_list_item", 3);
        let words = phrase(&mut self.content, 3);
        self.add(
            site,
            &p,
            "to_do",
            json!({"rich_text": text(&words), "checked": true, "color": "default"}),
        );
        self.add_words(site, &p, "to_do", 3);
    }

    /// Image, video, audio, PDF and file blocks, external and hosted by Notion.
    fn media(&mut self, site: &Site) {
        let p = site.page.clone();
        let diagram = external("https://www.notion.so/images/diagram.png", "The pipeline");
        self.add(site, &p, "image", diagram);
        let shot = self.content.id();
        let shot = crate::files::generated(&mut self.ws, &format!("{shot}/screenshot.png"));
        let image = json!({"caption": [], "type": "file", "file": shot});
        self.add(site, &p, "image", image);
        let video = external("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "");
        self.add(site, &p, "video", video);
        let take = self.content.id();
        let take = crate::files::generated(&mut self.ws, &format!("{take}/standup.mp3"));
        let audio = json!({"caption": [], "type": "file", "file": take});
        self.add(site, &p, "audio", audio);
        self.add(
            site,
            &p,
            "pdf",
            external("https://example.com/handbook.pdf", ""),
        );
        let sheet = self.content.id();
        let sheet = crate::files::generated(&mut self.ws, &format!("{sheet}/budget.xlsx"));
        let file = json!({"caption": [], "type": "file", "file": sheet, "name": "budget.xlsx"});
        self.add(site, &p, "file", file);
        let bookmark =
            json!({"caption": [], "url": "https://developers.notion.com/reference/block"});
        self.add(site, &p, "bookmark", bookmark);
        let embed = json!({"caption": [], "url": "https://example.com/embed/burndown"});
        self.add(site, &p, "embed", embed);
        let preview = json!({"url": "https://github.com/makenotion/notion-sdk-js/pull/1"});
        self.add(site, &p, "link_preview", preview);
    }

    /// A three-column table with a header row.
    fn table(&mut self, site: &Site, parent: &str) {
        let table = self.add(
            site,
            parent,
            "table",
            json!({"table_width": 3, "has_column_header": true, "has_row_header": false}),
        );
        let rows = [
            ["Stage", "Owner", "Status"],
            ["Extract", "Ada", "Done"],
            ["Load", "Grace", "In progress"],
        ];
        for row in rows {
            let cells: Vec<Value> = row.iter().map(|c| text(c)).collect();
            self.add(site, &table, "table_row", json!({"cells": cells}));
        }
    }

    /// Two columns of paragraphs.
    fn columns(&mut self, site: &Site, parent: &str) {
        let list = self.add(site, parent, "column_list", json!({}));
        for _ in 0..2 {
            let column = self.add(site, &list, "column", json!({}));
            self.add_words(site, &column, "paragraph", 6);
        }
    }

    /// A synced block original with content, and a reference to it on the same page; returns the
    /// original's id.
    fn synced(&mut self, site: &Site, parent: &str) -> String {
        let original = self.add(site, parent, "synced_block", json!({"synced_from": null}));
        self.add_words(site, &original, "paragraph", 6);
        self.add_words(site, &original, "to_do", 3);
        self.synced_reference(site, parent, &original);
        original
    }

    /// A reference to a synced block original.
    fn synced_reference(&mut self, site: &Site, parent: &str, original: &str) -> String {
        let from = json!({"synced_from": {"type": "block_id", "block_id": original}});
        self.add(site, parent, "synced_block", from)
    }

    /// Tabs: each tab a paragraph holding its content.
    fn tabs(&mut self, site: &Site, parent: &str) {
        let tabs = self.add(site, parent, "tab", json!({}));
        for name in ["Summary", "Decisions"] {
            let tab = self.add(site, &tabs, "paragraph", rich("paragraph", name));
            self.add_words(site, &tab, "paragraph", 6);
        }
    }

    /// AI meeting notes with their summary, notes and transcript blocks.
    fn meeting_notes(&mut self, site: &Site, parent: &str) {
        let start = site.from;
        let attendee = self.people().first().cloned().unwrap_or_default();
        let payload = json!({
            "title": text("Weekly sync"),
            "status": "notes_ready",
            "calendar_event": {"start_time": iso(start), "end_time": iso(start + Duration::minutes(30)), "attendees": [attendee]},
            "recording": {"start_time": iso(start), "end_time": iso(start + Duration::minutes(29))},
        });
        let notes = self.add(site, parent, "meeting_notes", payload);
        let summary = self.add_words(site, &notes, "paragraph", 8);
        let points = self.add_words(site, &notes, "bulleted_list_item", 5);
        let transcript = self.add_words(site, &notes, "paragraph", 12);
        if let Some(b) = self.ws.blocks.get_mut(&notes) {
            b.payload["children"] = json!({
                "summary_block_id": summary, "notes_block_id": points, "transcript_block_id": transcript,
            });
        }
    }

    /// A short article: 2 to 6 common blocks, toggles and list items holding a child.
    fn article(&mut self, site: &Site) {
        const KINDS: &[&str] = &[
            "heading_2",
            "paragraph",
            "bulleted_list_item",
            "numbered_list_item",
            "to_do",
            "toggle",
            "quote",
            "callout",
            "code",
            "divider",
        ];
        let p = site.page.clone();
        let n = 2 + self.content.below(5) as usize;
        for _ in 0..n {
            let kind = *self.content.pick(KINDS);
            if kind == "divider" {
                self.add(site, &p, kind, json!({}));
                continue;
            }
            let b = self.add_words(site, &p, kind, 6);
            if matches!(kind, "toggle" | "bulleted_list_item") {
                self.add_words(site, &b, "paragraph", 5);
            }
        }
    }

    /// A description and a checklist of up to three items (or nothing).
    fn checklist(&mut self, site: &Site) {
        let n = self.content.below(4) as usize;
        let p = site.page.clone();
        if n > 0 {
            self.add_words(site, &p, "paragraph", 8);
        }
        for _ in 1..n {
            self.add_words(site, &p, "to_do", 4);
        }
    }
}

/// Content of the demo workspace's pages: the showcase on the first documentation page (a second page
/// holds a reference to its synced block), short articles on the other documentation pages, checklists
/// on tasks, paragraphs on notes and goals on sprints; discussions on pages and blocks.
pub(super) fn demo(
    g: &mut Gen,
    docs: &[String],
    tasks: &[String],
    notes: &[String],
    sprints: &[String],
) {
    for (i, doc) in docs.iter().enumerate() {
        let Some(site) = g.site(doc) else { continue };
        if i == 0 {
            let other = docs.get(1).cloned().unwrap_or_default();
            let show = g.showcase(&site, &other);
            g.discussion(
                &site,
                &show.intro,
                &["Is this still current?", "Yes, checked today.", "Thanks!"],
                false,
            );
            g.discussion(&site, &show.deepest, &["Move this up a level?"], false);
            g.discussion(&site, &show.quote, &["Typo here", "Fixed"], true);
            let bot = (g.ws.bot_id(), "Synced to the lakehouse.");
            g.thread(&site, doc, &[bot], false);
            if let Some(second) = docs.get(1).and_then(|d| g.site(d)) {
                let p = second.page.clone();
                g.add_words(&second, &p, "paragraph", 6);
                g.synced_reference(&second, &p, &show.original);
            }
        } else if i > 1 {
            g.article(&site);
        }
        if i % 3 == 0 {
            let review = format!("Please review {}", phrase(&mut g.content, 2));
            if i % 6 == 0 {
                g.discussion(&site, doc, &[&review, "Reviewed, two nits inline."], false);
            } else {
                g.discussion(&site, doc, &[&review], false);
            }
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        let Some(site) = g.site(task) else { continue };
        g.checklist(&site);
        if i % 10 == 0 {
            g.discussion(&site, task, &["Blocked on review"], false);
        }
    }
    for note in notes {
        let Some(site) = g.site(note) else { continue };
        let p = site.page.clone();
        let first = g.add_words(&site, &p, "paragraph", 10);
        if g.content.below(3) == 0 {
            g.add_words(&site, &first, "bulleted_list_item", 4);
        }
    }
    for sprint in sprints {
        let Some(site) = g.site(sprint) else { continue };
        let p = site.page.clone();
        g.add(&site, &p, "heading_2", rich("heading_2", "Goals"));
        for _ in 0..2 {
            g.add_words(&site, &p, "bulleted_list_item", 4);
        }
    }
}

/// Content of the full workspace's own pages: on the first `Everything` page 120 paragraphs and toggles
/// four levels deep, on the second a list item with 105 children (paginated under a block), a paragraph
/// on the others and on projects.
pub(super) fn full(g: &mut Gen, everything: &[String], projects: &[String]) {
    for (i, page) in everything.iter().enumerate() {
        let Some(site) = g.site(page) else { continue };
        let p = site.page.clone();
        match i {
            0 => {
                for k in 0..120 {
                    let b = g.add(
                        &site,
                        &p,
                        "paragraph",
                        rich("paragraph", &format!("Paragraph {k}")),
                    );
                    if k == 0 {
                        g.discussion(&site, &b, &["First!"], false);
                    }
                }
                let l1 = g.add(&site, &p, "toggle", rich("toggle", "Level 1"));
                let l2 = g.add(&site, &l1, "toggle", rich("toggle", "Level 2"));
                let l3 = g.add(&site, &l2, "toggle", rich("toggle", "Level 3"));
                g.add(&site, &l3, "code", rich("code", "fn main() {}"));
                g.add(&site, &p, "divider", json!({}));
                g.add(&site, &p, "child_page", json!({"title": "A sub-page"}));
            }
            1 => {
                let list = g.add(
                    &site,
                    &p,
                    "bulleted_list_item",
                    rich("bulleted_list_item", "Many items"),
                );
                for k in 0..105 {
                    g.add(
                        &site,
                        &list,
                        "paragraph",
                        rich("paragraph", &format!("Item {k}")),
                    );
                }
            }
            _ => {
                g.add_words(&site, &p, "paragraph", 8);
            }
        }
    }
    for project in projects {
        let Some(site) = g.site(project) else {
            continue;
        };
        let p = site.page.clone();
        g.add_words(&site, &p, "paragraph", 8);
    }
}

/// Adds `blocks` blocks to a page in a tree nested up to `depth` levels, all stamped by `stamp`: the
/// first `depth` form a chain of containers ending in a paragraph, the rest land at random levels under
/// the latest container of the level above. Returns how many were made (0 for an unknown page).
pub fn bulk(
    ws: &mut Workspace,
    rng: &mut Rng,
    page: &str,
    blocks: usize,
    depth: usize,
    stamp: Stamp,
) -> usize {
    if !ws.pages.contains_key(page) || blocks == 0 {
        return 0;
    }
    let depth = depth.max(1);
    // Containers on the current path: `path[i]` sits at depth `i + 1`.
    let mut path: Vec<String> = Vec::new();
    for i in 0..blocks {
        let level = if i < depth {
            i + 1
        } else {
            1 + rng.below(path.len() as u64 + 1) as usize
        };
        path.truncate(level - 1);
        let parent = path.last().map_or(page, String::as_str).to_string();
        let container = level < depth && (i + 1 < depth || rng.below(3) == 0);
        let kind = match (container, rng.below(2)) {
            (false, _) => "paragraph",
            (true, 0) => "toggle",
            (true, _) => "bulleted_list_item",
        };
        let words = phrase(rng, 4);
        let payload = rich(kind, &format!("Block {} {words}", i + 1));
        let id = rng.id();
        content::attach(
            ws,
            content::new_block(id.clone(), &parent, kind, payload, stamp),
            None,
        );
        if container {
            path.push(id);
        }
    }
    content::touch_page(ws, page, stamp);
    blocks
}
