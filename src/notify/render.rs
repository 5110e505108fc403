//! An [`Event`] as a Symphony message (MessageML) and as plain text (a
//! webhook's `text`), the same content cut at the same place.
//!
//! MessageML cannot break: it is built as well-formed XML whatever the
//! names hold. Every string from YAML or the pod is escaped ([`xml_text`]):
//! first as the text plan escapes invisible and control characters
//! (`\u{1b}`), then `& < > " '` as entities, and every `{` as `&#123;`, so
//! that no `${` or `#{` reaches the Freemarker templating the agent runs.
//! A long list is cut to "... and N more groups" before the message would
//! pass the platform's limits ([`MAX_CHARS`], [`MAX_TOKENS`]; the one link,
//! to the `/plan` URL, is the only entity), naming the `/plan` URL if one is
//! configured.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::event::{Event, Row};
use crate::config::EventKind;
use crate::text::escaped;

/// The most characters of MessageML sent: the platform takes about 80,000
/// once encrypted, and encryption and its encoding add about a third.
pub const MAX_CHARS: usize = 50_000;
/// The most distinct words a message holds: the platform takes about 2,500 unique tokens.
pub const MAX_TOKENS: usize = 2_000;
/// The longest a table cell (a group's change) is shown, in characters.
pub const MAX_CELL_CHARS: usize = 1_000;
/// The longest the lead sentence or a note is shown (an error's text may be long).
pub const MAX_TEXT_CHARS: usize = 4_000;

/// An event as shown: how many of its rows fit, and where the rest is.
#[derive(Debug, Clone, Copy)]
pub struct Rendering<'a> {
    pub event: &'a Event,
    /// Where the whole plan is (`notify_settings.plan_url`).
    pub plan_url: Option<&'a str>,
    /// Who sent it: `groupsync on host1` (shown in small print).
    pub sender: &'a str,
}

impl Rendering<'_> {
    /// The MessageML and the plain text of the event, both cut after the
    /// same number of rows: as many as keep the MessageML within the limits.
    pub fn render(&self) -> (String, String) {
        let rows = self.rows_that_fit();
        (self.messageml(rows), self.plain_text(rows))
    }

    /// How many rows fit within [`MAX_CHARS`] and [`MAX_TOKENS`] (with the
    /// line saying how many more there are).
    fn rows_that_fit(&self) -> usize {
        let total = self.event.rows.len();
        let mut words = BTreeSet::new();
        for text in [&self.event.title, &self.event.lead]
            .into_iter()
            .chain(&self.event.notes)
        {
            add_words(&mut words, text);
        }
        let mut chars = self.messageml(0).chars().count() + 200;
        for (index, row) in self.event.rows.iter().enumerate() {
            chars += row_messageml(row).chars().count();
            add_words(&mut words, &row_words(row));
            if chars > MAX_CHARS || words.len() > MAX_TOKENS {
                return index;
            }
        }
        total
    }

    fn messageml(&self, rows: usize) -> String {
        let event = self.event;
        let mut xml = String::with_capacity(1024 + rows * 160);
        let _ = write!(
            xml,
            "<messageML><card accent=\"{}\"><header><b>{}</b></header><body><p>{}</p>",
            accent(event.kind),
            xml_text(&event.title),
            xml_text(&cut(&event.lead, MAX_TEXT_CHARS))
        );
        if !event.rows.is_empty() {
            xml.push_str(
                "<table><thead><tr><th>Group</th><th>Id</th><th>What</th></tr></thead><tbody>",
            );
            for row in &event.rows[..rows] {
                xml.push_str(&row_messageml(row));
            }
            xml.push_str("</tbody></table>");
        }
        if let Some(more) = self.more(rows) {
            let _ = write!(xml, "<p>{}", xml_text(&more));
            if let Some(url) = self.plan_url {
                let _ = write!(xml, ": <a href=\"{}\">{}</a>", xml_text(url), xml_text(url));
            }
            xml.push_str("</p>");
        }
        for note in &event.notes {
            let _ = write!(xml, "<p>{}</p>", xml_text(&cut(note, MAX_TEXT_CHARS)));
        }
        let _ = write!(
            xml,
            "<p><i>{} · {} · {}</i></p></body></card></messageML>",
            xml_text(self.sender),
            event.name(),
            &event.fingerprint[..12.min(event.fingerprint.len())]
        );
        xml
    }

    fn plain_text(&self, rows: usize) -> String {
        let event = self.event;
        let mut text = format!(
            "groupsync: {}\n{}\n",
            escaped(&event.title),
            escaped(&cut(&event.lead, MAX_TEXT_CHARS))
        );
        for row in &event.rows[..rows] {
            let _ = writeln!(
                text,
                "- {} ({}): {}",
                escaped(row.name.as_deref().unwrap_or("(name unknown)")),
                escaped(row.group_id.as_deref().unwrap_or("no id")),
                escaped(&cell(&row.what))
            );
        }
        if let Some(more) = self.more(rows) {
            match self.plan_url {
                Some(url) => {
                    let _ = writeln!(text, "{more}: {}", escaped(url));
                }
                None => {
                    let _ = writeln!(text, "{more}");
                }
            }
        }
        for note in &event.notes {
            let _ = writeln!(text, "{}", escaped(&cut(note, MAX_TEXT_CHARS)));
        }
        text
    }

    /// `... and 3 more groups`, when rows were cut.
    fn more(&self, rows: usize) -> Option<String> {
        let left = self.event.rows.len() - rows;
        (left > 0).then(|| format!("... and {}", crate::text::counted(left, "more group")))
    }
}

fn row_messageml(row: &Row) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        xml_text(row.name.as_deref().unwrap_or("(name unknown)")),
        xml_text(row.group_id.as_deref().unwrap_or("no id")),
        xml_text(&cell(&row.what))
    )
}

fn row_words(row: &Row) -> String {
    format!(
        "{} {} {}",
        row.name.as_deref().unwrap_or_default(),
        row.group_id.as_deref().unwrap_or_default(),
        cell(&row.what)
    )
}

/// A cell's text, cut after [`MAX_CELL_CHARS`] with `…`.
fn cell(text: &str) -> String {
    cut(text, MAX_CELL_CHARS)
}

/// `text`, cut after `max` characters with `…`.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn add_words(words: &mut BTreeSet<String>, text: &str) {
    words.extend(
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase),
    );
}

/// The card's colour: red for failures, yellow for drift, green for good news.
fn accent(kind: EventKind) -> &'static str {
    match kind {
        EventKind::ApplyFailed | EventKind::CycleFailing | EventKind::Refused => {
            "tempo-bg-color--red"
        }
        EventKind::DriftFound | EventKind::DriftHeld => "tempo-bg-color--yellow",
        EventKind::Recovered | EventKind::DriftReverted => "tempo-bg-color--green",
        EventKind::Applied => "tempo-bg-color--blue",
    }
}

/// `text` as MessageML text or attribute value: invisible and control
/// characters as the text plan writes them (`\u{1b}`), then `& < > " '` as
/// entities, every `{` as `&#123;` (no Freemarker `${` or `#{` survives),
/// and the two characters XML cannot hold at all (U+FFFE, U+FFFF) as `\u{...}`.
pub fn xml_text(text: &str) -> String {
    let shown = escaped(text)
        .replace('\u{FFFE}', "\\u{fffe}")
        .replace('\u{FFFF}', "\\u{ffff}");
    let mut xml = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        match c {
            '&' => xml.push_str("&amp;"),
            '<' => xml.push_str("&lt;"),
            '>' => xml.push_str("&gt;"),
            '"' => xml.push_str("&quot;"),
            '\'' => xml.push_str("&apos;"),
            '{' => xml.push_str("&#123;"),
            c => xml.push(c),
        }
    }
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::test_event;

    fn event_with(rows: usize, name: &str) -> Event {
        let mut event = test_event("host");
        event.kind = EventKind::DriftFound;
        event.rows = (0..rows)
            .map(|index| Row {
                group_id: Some(format!("g{index}")),
                name: Some(format!("{name} {index}")),
                what: format!("area \"A{index}\" -> \"B{index}\""),
            })
            .collect();
        event
    }

    #[test]
    fn hostile_text_is_escaped() {
        let shown = xml_text("</messageML>${x} #{y} \u{1b}[31m 'a' & \"b\" \u{202e}\u{FFFF}");
        assert_eq!(
            shown,
            "&lt;/messageML&gt;$&#123;x} #&#123;y} \\u&#123;1b}[31m &apos;a&apos; &amp; &quot;b&quot; \\u&#123;202e}\\u&#123;ffff}"
        );
    }

    #[test]
    fn a_long_list_is_cut_with_the_plan_url_and_the_text_says_the_same() {
        let event = event_with(5_000, "Group with a rather long name");
        let rendering = Rendering {
            event: &event,
            plan_url: Some("https://groupsync.acme.test/plan"),
            sender: "groupsync on host",
        };
        let (xml, text) = rendering.render();
        assert!(xml.chars().count() <= MAX_CHARS, "{}", xml.len());
        assert!(xml.contains(" more groups: <a href=\"https://groupsync.acme.test/plan\">"));
        let more = xml.split("... and ").nth(1).unwrap();
        let left: usize = more.split(' ').next().unwrap().parse().unwrap();
        let shown = xml.matches("<tr><td>").count();
        assert_eq!(shown + left, 5_000);
        assert!(text.contains(&format!(
            "... and {left} more groups: https://groupsync.acme.test/plan"
        )));
        assert_eq!(
            text.lines().filter(|line| line.starts_with("- ")).count(),
            shown
        );
        assert!(xml.ends_with("</messageML>"));
    }

    #[test]
    fn a_short_list_is_whole() {
        let event = event_with(3, "G");
        let (xml, text) = Rendering {
            event: &event,
            plan_url: None,
            sender: "groupsync",
        }
        .render();
        assert_eq!(xml.matches("<tr><td>").count(), 3);
        assert!(!xml.contains("more group"));
        assert!(text.contains("- G 2 (g2): area \"A2\" -> \"B2\""), "{text}");
    }
}
