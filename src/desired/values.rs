//! The readers of one value of a group: its id and type, a field, a list
//! of usernames, text and flags; what a wrong value is called in a message.

use std::collections::BTreeSet;

use saphyr_parser::ScalarStyle;

use crate::model::{DriftPolicy, Field, ROLE_SCOPE, Roster, Text, UserGroupUpdate};
use crate::text::is_invisible;

use super::Problems;
use super::tree::{Kind, Node, Pos};

/// The group type of a group known by name; only `ROLE_SCOPE` exists today.
pub(super) fn read_type(value: Node, problems: &mut Problems) -> Option<Text> {
    let at = value.at;
    let group_type = text_value("type", value, problems)?;
    if group_type.is_empty() {
        problems.at(
            at,
            format!("`type` must not be empty; leave it out for {ROLE_SCOPE}"),
        );
        return None;
    }
    Some(group_type)
}

/// `on_drift`: `revert` or `hold`.
pub(super) fn read_on_drift(value: Node, problems: &mut Problems) -> Option<DriftPolicy> {
    let at = value.at;
    let found = describe(&value);
    let text = match &value.kind {
        Kind::Scalar(..) => scalar_text(&value).map(str::to_string),
        _ => None,
    };
    match text.as_deref().and_then(DriftPolicy::from_name) {
        Some(policy) => Some(policy),
        None => {
            problems.at(
                at,
                format!(
                    "`on_drift` must be one of {}, not {found}",
                    DriftPolicy::NAMES
                        .map(|name| format!("`{name}`"))
                        .join(" or ")
                ),
            );
            None
        }
    }
}

/// `previously`: a list of the names a group had, each a name as `name`
/// takes it, each once.
pub(super) fn read_previously(value: Node, problems: &mut Problems) -> Vec<Text> {
    let items = match value.kind {
        Kind::Sequence(items) => items,
        Kind::Rejected => return Vec::new(),
        _ => {
            problems.at(
                value.at,
                format!(
                    "`previously` must be a list of the names the group had before, e.g. \
                     `previously: [\"Old name\"]`, found {}",
                    describe(&value)
                ),
            );
            return Vec::new();
        }
    };
    let mut names: Vec<Text> = Vec::new();
    for item in items {
        let at = item.at;
        let Some(name) = text_value("previously", item, problems) else {
            continue;
        };
        if name.is_empty() {
            problems.at(at, "a name in `previously` must not be empty");
        } else if names.contains(&name) {
            problems.at(
                at,
                format!(
                    "`{}` is listed twice in `previously`; remove one",
                    excerpt(&name)
                ),
            );
        } else {
            names.push(name);
        }
    }
    names
}

pub(super) fn read_id(value: Node, problems: &mut Problems) -> Option<(Text, Pos)> {
    let at = value.at;
    let id = text_value("id", value, problems)?;
    if id.is_empty() {
        problems.at(at, "`id` must not be empty; it is the pod's groupId");
        return None;
    }
    // `.` and `..` would be resolved away in a URL, `/` would name another
    // path, and no pod id has spaces, control or invisible characters.
    let unusable = matches!(id.as_str(), "." | "..")
        || id
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control() || is_invisible(c));
    if unusable {
        problems.at(
            at,
            "`id` must be the pod's groupId: not `.` or `..`, and without `/`, spaces, control or invisible characters",
        );
        return None;
    }
    Some((id, at))
}

/// Why `text`, the value of `key`, cannot be sent as it is, if it cannot: a
/// control character (a description may hold line breaks, `\n` or the
/// `\r\n` of portals, and tabs) or an invisible one ([`is_invisible`]: bidi
/// controls, zero-width and other default-ignorable characters, line and
/// paragraph separators) anywhere.
pub(super) fn hidden_characters(key: &str, text: &str) -> Option<String> {
    // Printable ASCII, by far the most text, holds none: skip the search.
    if text.bytes().all(|byte| matches!(byte, b' '..=b'~')) {
        return None;
    }
    let allowed = |c: char, next: Option<char>| {
        key == "description" && (matches!(c, '\n' | '\t') || (c == '\r' && next == Some('\n')))
    };
    let (_, found) = text.char_indices().find(|&(at, c)| {
        let next = text[at + c.len_utf8()..].chars().next();
        (c.is_control() && !allowed(c, next)) || is_invisible(c)
    })?;
    Some(format!(
        "`{key}` holds the invisible character U+{:04X}; remove it (control, bidi, zero-width \
         and other invisible characters make text show other than it reads)",
        u32::from(found)
    ))
}

pub(super) fn read_field(
    fields: &mut UserGroupUpdate,
    field: Field,
    value: Node,
    problems: &mut Problems,
) {
    let at = value.at;
    if let Kind::Scalar(text, _) = &value.kind
        && let Some(message) = hidden_characters(field.key(), text)
    {
        problems.at(at, message);
        return;
    }
    match field {
        Field::Active => fields.active = flag_value(value, problems),
        Field::Name => {
            fields.name = text_value(field.key(), value, problems);
            if fields.name.as_deref() == Some("") {
                problems.at(
                    at,
                    "`name` must not be empty; leave the key out to keep the pod's name",
                );
                fields.name = None;
            }
        }
        Field::Area => fields.area = text_value(field.key(), value, problems),
        Field::Description => fields.description = text_value(field.key(), value, problems),
    }
}

/// A `members:` or `assignees:` list: usernames, each once and none empty.
/// `[]` declares an empty list (everyone removed); a null is an error, since
/// it reads like "not managed" yet sits where a list is declared.
pub(super) fn read_usernames(
    roster: Roster,
    value: Node,
    problems: &mut Problems,
) -> Option<BTreeSet<String>> {
    let key = roster.key();
    let items = match value.kind {
        Kind::Sequence(items) => items,
        Kind::Rejected => return None,
        _ => {
            problems.at(
                value.at,
                format!(
                    "`{key}` must be a list of usernames, e.g. `{key}: [alice.smith, bob.jones]`, found {}; \
                     write `{key}: []` for none, or leave the key out to leave the pod's {key} alone",
                    describe(&value)
                ),
            );
            return None;
        }
    };
    let mut users = BTreeSet::new();
    let mut valid = true;
    for item in items {
        let at = item.at;
        let Some(username) = username_value(key, item, problems) else {
            valid = false;
            continue;
        };
        if !users.insert(username.clone()) {
            problems.at(
                at,
                format!(
                    "`{}` is listed twice in `{key}`; remove one",
                    excerpt(&username)
                ),
            );
            valid = false;
        }
    }
    valid.then_some(users)
}

/// One username of a user list: a non-empty string without surrounding
/// spaces. Plain nulls and booleans are surely not meant as names.
pub(super) fn username_value(key: &str, item: Node, problems: &mut Problems) -> Option<String> {
    let at = item.at;
    if is_null(&item) || is_plain_bool(&item) {
        let found = describe(&item);
        problems.at(
            at,
            format!(
                "each entry of `{key}` must be a username, found {found}; quote it if it is one"
            ),
        );
        return None;
    }
    let username = match item.kind {
        Kind::Scalar(text, _) => text.into_owned(),
        Kind::Rejected => return None,
        _ => {
            let found = describe(&item);
            problems.at(
                at,
                format!("each entry of `{key}` must be a username, found {found}"),
            );
            return None;
        }
    };
    if username.trim().is_empty() {
        problems.at(at, format!("an empty username in `{key}`; remove it"));
        return None;
    }
    if let Some(message) = hidden_characters(key, &username) {
        problems.at(at, message);
        return None;
    }
    if username.trim() != username {
        let shown = excerpt(&username);
        problems.at(
            at,
            format!("the username \"{shown}\" in `{key}` has spaces around it; remove them"),
        );
        return None;
    }
    Some(username)
}

/// Any scalar as its literal text, except plain nulls and booleans (YAML 1.2 core
/// schema), which are surely not meant as text.
pub(super) fn text_value(key: &str, value: Node, problems: &mut Problems) -> Option<Text> {
    if is_null(&value) || is_plain_bool(&value) {
        let advice = match (scalar_text(&value), key) {
            (Some("") | None, "id") => "write the pod's groupId, e.g. `id: \"6543a1f0c2\"`".into(),
            (Some("") | None, "name") => "give it a value, or leave the key out".into(),
            (Some("") | None, _) => {
                format!("write `{key}: \"\"` to clear it on the pod, or leave the key out")
            }
            (Some(text), _) => format!("write `{key}: \"{text}\"` if you mean the text"),
        };
        problems.at(
            value.at,
            format!(
                "`{key}` must be a string, found {}; {advice}",
                describe(&value)
            ),
        );
        return None;
    }
    match value.kind {
        Kind::Scalar(text, _) => Some(Text::from(text)),
        Kind::Rejected => None,
        _ => {
            problems.at(
                value.at,
                format!("`{key}` must be a string, found {}", describe(&value)),
            );
            None
        }
    }
}

/// Only plain `true`/`false` (in the core schema's three spellings) are booleans.
pub(super) fn flag_value(value: Node, problems: &mut Problems) -> Option<bool> {
    if let Kind::Scalar(text, ScalarStyle::Plain) = &value.kind {
        match text.as_ref() {
            "true" | "True" | "TRUE" => return Some(true),
            "false" | "False" | "FALSE" => return Some(false),
            _ => {}
        }
    }
    if !matches!(value.kind, Kind::Rejected) {
        problems.at(
            value.at,
            format!(
                "`active` must be `true` or `false`, found {}",
                describe(&value)
            ),
        );
    }
    None
}

/// A mapping key as text; keys that are lists or mappings are reported.
pub(super) fn key_text<'n>(key: &'n Node, problems: &mut Problems) -> Option<&'n str> {
    match &key.kind {
        Kind::Scalar(text, _) => Some(text),
        Kind::Rejected => None,
        _ => {
            problems.at(
                key.at,
                format!(
                    "a key must be a word such as `name`, found {}",
                    describe(key)
                ),
            );
            None
        }
    }
}

pub(super) fn scalar_text<'n>(node: &'n Node) -> Option<&'n str> {
    match &node.kind {
        Kind::Scalar(text, _) => Some(text),
        _ => None,
    }
}

pub(super) fn is_null(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar(text, ScalarStyle::Plain) if is_null_text(text))
}

pub(super) fn is_plain_bool(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar(text, ScalarStyle::Plain) if is_bool_text(text))
}

pub(super) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

pub(super) fn is_bool_text(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

/// What a node is, for "expected X, found Y" messages.
pub(super) fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar(text, ScalarStyle::Plain) if text.is_empty() => "nothing".into(),
        Kind::Scalar(text, ScalarStyle::Plain) if is_null_text(text) => format!("null (`{text}`)"),
        Kind::Scalar(text, ScalarStyle::Plain) if is_bool_text(text) => {
            format!("the boolean `{text}`")
        }
        Kind::Scalar(text, ScalarStyle::Plain) => format!("`{}`", excerpt(text)),
        Kind::Scalar(text, _) => format!("the string \"{}\"", excerpt(text)),
        Kind::Sequence(_) => "a list".into(),
        Kind::Mapping(_) => "a mapping".into(),
        Kind::Rejected => "an alias".into(),
    }
}

/// The start of a long value, so that a message stays one readable line.
pub(super) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 40;
    let mut chars = text.chars();
    let start: String = chars.by_ref().take(LIMIT).collect();
    let start = start.replace('\n', "\\n");
    if chars.next().is_some() {
        format!("{start}…")
    } else {
        start
    }
}
