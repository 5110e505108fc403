//! Reads groups out of one file's node tree: which forms a file may take,
//! which keys a group may have, and what type each value must be.

use std::path::Path;
use std::sync::Arc;

use crate::model::{
    DesiredGroup, Field, GroupKey, ROLE_SCOPE, Roster, Rosters, SourcePos, Text, UserGroupUpdate,
};

use super::Problems;
use super::tree::{self, Ending, Kind, Node, Pos};
use super::values::{
    describe, excerpt, is_null, key_text, read_field, read_id, read_on_drift, read_previously,
    read_type, read_usernames, scalar_text,
};

/// A group and where its identifying values are written, for duplicate messages.
pub(super) struct ParsedGroup {
    /// Boxed where it is made: it is moved twice more, never copied.
    pub group: Box<DesiredGroup>,
    /// The `id` value, or for a group without one, the `name` value.
    pub key_at: Pos,
    /// The `name` value, if the group declares a name.
    pub name_at: Option<Pos>,
}

pub(super) const FORMS: &str = "a file holds one group (a mapping with `id:` or `name:`), a mapping with just `groups:` and a list of groups, \
                     or several `---` documents of either form";

/// What a key's value is, and so which reader the loader gives it (and
/// which JSON Schema type [`super::schema`] gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyValue {
    /// `id`: the pod's groupId, a non-empty string.
    Id,
    /// One of the pod group's fields: a string (`name` not empty) or, for
    /// `active`, a boolean.
    Field(Field),
    /// `type`: a non-empty string, only for a group without `id`.
    Type,
    /// `members` or `assignees`: a list of usernames, each once.
    Users(Roster),
    /// `on_drift`: `revert` or `hold`.
    OnDrift,
    /// `previously`: the names a group without `id` had before, each once.
    Previously,
}

/// One key a group may have: its name, its value, and what it means (the
/// description editors show from the schema).
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupKeySpec {
    pub key: &'static str,
    pub value: KeyValue,
    pub description: &'static str,
}

/// Every key a group may have, in the order messages list them: `id`, the
/// fields in [`Field::ALL`] order (a test keeps the two in step), `type`, then
/// the user lists in [`Roster::ALL`] order. The loader reads by this table,
/// and the JSON Schema is built from it.
pub(super) const GROUP_KEYS: [GroupKeySpec; 10] = [
    GroupKeySpec {
        key: "id",
        value: KeyValue::Id,
        description: "The pod's groupId of the group, e.g. \"6543a1f0c2\" (quote it). Declared once in the whole tree. \
                      Leave it out to find the group by `name` instead (and create it if the pod has none).",
    },
    GroupKeySpec {
        key: "name",
        value: KeyValue::Field(Field::Name),
        description: "The group's name on the pod; not empty. Required without `id`: then groupsync finds the pod's group \
                      of exactly this name, or creates it. Leave it out (with `id`) to keep the pod's name.",
    },
    GroupKeySpec {
        key: "area",
        value: KeyValue::Field(Field::Area),
        description: "The group's area, e.g. EMEA. \"\" clears it on the pod; leave the key out to leave it alone.",
    },
    GroupKeySpec {
        key: "description",
        value: KeyValue::Field(Field::Description),
        description: "What the group is for. \"\" clears it on the pod; leave the key out to leave it alone.",
    },
    GroupKeySpec {
        key: "active",
        value: KeyValue::Field(Field::Active),
        description: "true or false, unquoted. `active: false` takes the group out of service (the pod has no delete); \
                      leave the key out to leave it alone.",
    },
    GroupKeySpec {
        key: "type",
        value: KeyValue::Type,
        description: "Only for a group without `id`: the group type its name is looked up in and it is created with. \
                      Default ROLE_SCOPE.",
    },
    GroupKeySpec {
        key: "members",
        value: KeyValue::Users(Roster::Members),
        description: "Exactly these users are the group's members: usernames, each once. [] removes everyone; \
                      leave the key out to leave the pod's members alone.",
    },
    GroupKeySpec {
        key: "assignees",
        value: KeyValue::Users(Roster::Assignees),
        description: "Exactly these compliance officers (Super Compliance Officers and Compliance Officers) are \
                      responsible for the group: usernames, each once. [] removes them all; leave the key out to \
                      leave the pod's assignees alone.",
    },
    GroupKeySpec {
        key: "on_drift",
        value: KeyValue::OnDrift,
        description: "What a change made on the pod outside groupsync calls for, while git still declares \
                      what was last applied: `revert` (put the declared value back; the default, or the \
                      config's `on_drift`) or `hold` (leave it, show it as held drift, until a commit \
                      changes the declared value or `apply --revert-drift` puts it back).",
    },
    GroupKeySpec {
        key: "previously",
        value: KeyValue::Previously,
        description: "Only for a group without `id`: the names it had before, e.g. [\"Old name\"]. When no \
                      group bears the new name, the pod's group of an old name is renamed, never a second \
                      group created.",
    },
];
/// The index of `type` in [`GROUP_KEYS`]; the user lists follow it.
const TYPE_KEY: usize = 5;
/// The index of `previously` in [`GROUP_KEYS`].
const PREVIOUSLY_KEY: usize = 9;

/// Reads every group in `text`, reporting each problem found.
pub(super) fn extract(text: &str, problems: &mut Problems) -> Vec<ParsedGroup> {
    let mut reader = Reader {
        groups: Vec::new(),
        documents: 0,
        path: Arc::from(problems.path),
    };
    let ending = tree::for_each_document(text, problems, |root, problems| {
        reader.document(root, problems)
    });
    if reader.documents == 0 && ending == Ending::Complete && problems.is_empty() {
        problems.whole_file(
            "holds no groups; declare a group (`id: ...`) or a `groups:` list, or delete the file \
             (`groups: []` declares none on purpose)",
        );
    }
    reader.groups
}

struct Reader {
    groups: Vec<ParsedGroup>,
    /// Documents that hold something (empty documents are skipped).
    documents: usize,
    /// The file, as each of its groups records it.
    path: Arc<Path>,
}

impl Reader {
    fn document(&mut self, root: Node, problems: &mut Problems) {
        if is_null(&root) {
            return;
        }
        self.documents += 1;
        match root.kind {
            Kind::Mapping(entries)
                if entries
                    .iter()
                    .any(|(key, _)| scalar_text(key) == Some("groups")) =>
            {
                self.groups_mapping(entries, problems)
            }
            Kind::Mapping(entries) => self.group(root.at, entries, problems),
            Kind::Sequence(_) => problems.at(
                root.at,
                format!("a list cannot stand at the top of a file; {FORMS}"),
            ),
            // Not quoted: a file that is one bare value may be a secret
            // (a token file) that someone linked or copied here by mistake.
            Kind::Scalar(..) => problems.at(
                root.at,
                format!("the file is a single text value, not a group; {FORMS}"),
            ),
            Kind::Rejected => {}
        }
    }

    /// A mapping with a `groups:` key: that key must be alone, and hold a list of groups.
    fn groups_mapping(&mut self, entries: Vec<(Node, Node)>, problems: &mut Problems) {
        let mut list: Option<Node> = None;
        let mut first_other: Option<(Pos, String)> = None;
        for (key, value) in entries {
            match scalar_text(&key) {
                Some("groups") if list.is_some() => problems.at(key.at, "duplicate key `groups`"),
                Some("groups") => list = Some(value),
                Some(other) if first_other.is_none() => {
                    first_other = Some((key.at, excerpt(other)))
                }
                _ => {}
            }
        }
        if let Some((at, other)) = first_other {
            problems.at(
                at,
                format!("`{other}` cannot stand beside `groups:` in one mapping; move group keys into an item of the list; {FORMS}"),
            );
        }
        if let Some(list) = list {
            self.groups_list(list, problems);
        }
    }

    fn groups_list(&mut self, list: Node, problems: &mut Problems) {
        let items = match list.kind {
            Kind::Sequence(items) => items,
            Kind::Rejected => return,
            _ => {
                let found = describe(&list);
                problems.at(
                    list.at,
                    format!("`groups:` must be a list of groups (`- id: ...`), found {found}; write `groups: []` for none"),
                );
                return;
            }
        };
        for item in items {
            match item.kind {
                Kind::Mapping(entries) => self.group(item.at, entries, problems),
                Kind::Rejected => {}
                _ => problems.at(
                    item.at,
                    format!(
                        "each item of `groups:` must be a group mapping (`- id: ...`), found {}",
                        describe(&item)
                    ),
                ),
            }
        }
    }

    /// One group mapping starting at `at`. A group with a usable id (or name,
    /// without an id) is kept even when other fields are wrong, so that it
    /// still counts for duplicates.
    fn group(&mut self, at: Pos, entries: Vec<(Node, Node)>, problems: &mut Problems) {
        let mut seen: [Option<Pos>; GROUP_KEYS.len()] = [None; GROUP_KEYS.len()];
        let mut id: Option<(Text, Pos)> = None;
        let mut group_type: Option<Text> = None;
        let mut name_at: Option<Pos> = None;
        let mut fields = UserGroupUpdate::default();
        let mut rosters = Rosters::default();
        let mut on_drift = None;
        let mut previously = Vec::new();
        for (key, value) in entries {
            let Some(key_text) = key_text(&key, problems) else {
                continue;
            };
            let Some(index) = GROUP_KEYS.iter().position(|known| known.key == key_text) else {
                problems.at(key.at, unknown_key_message(key_text));
                continue;
            };
            if let Some(first) = seen[index] {
                let (line, column) = (first.line, first.column);
                let message =
                    format!("duplicate key `{key_text}` (first at line {line}, column {column})");
                problems.at(key.at, message);
                continue;
            }
            seen[index] = Some(key.at);
            match GROUP_KEYS[index].value {
                KeyValue::Id => id = read_id(value, problems),
                KeyValue::Type => group_type = read_type(value, problems),
                KeyValue::Users(roster) => {
                    if let Some(users) = read_usernames(roster, value, problems) {
                        rosters.set(roster, users);
                    }
                }
                KeyValue::Field(field) => {
                    if field == Field::Name {
                        name_at = Some(value.at);
                    }
                    read_field(&mut fields, field, value, problems)
                }
                KeyValue::OnDrift => on_drift = read_on_drift(value, problems),
                KeyValue::Previously => previously = read_previously(value, problems),
            }
        }
        let source = SourcePos {
            path: Arc::clone(&self.path),
            line: at.line,
            column: at.column,
        };
        let name_at = name_at.filter(|_| fields.name.is_some());
        let (key, key_at) = match (id, &fields.name) {
            (Some((id, id_at)), _) => {
                if let Some(type_at) = seen[TYPE_KEY] {
                    problems.at(
                        type_at,
                        "`type` is only for a group without `id` (with the name, it picks the pod's group); remove it",
                    );
                }
                if let Some(previously_at) = seen[PREVIOUSLY_KEY] {
                    problems.at(
                        previously_at,
                        "`previously` is only for a group without `id` (its id already names the pod's group, whatever its name); remove it",
                    );
                }
                (GroupKey::Id(id), id_at)
            }
            (None, Some(name)) if seen[0].is_none() => {
                let group_type = group_type.unwrap_or_else(|| ROLE_SCOPE.into());
                let key = GroupKey::Name {
                    group_type,
                    name: name.clone(),
                };
                (key, name_at.expect("a usable name has a position"))
            }
            // A written but unusable id or name has been reported already.
            (None, _) if seen[0].is_some() || seen[1].is_some() => return,
            (None, _) => {
                problems.at(
                    at,
                    "this group has neither `id` nor `name`; add `id: \"...\"` with the pod's groupId, \
                     or a `name:` by which groupsync finds the group (and creates it if the pod has none)",
                );
                return;
            }
        };
        self.groups.push(ParsedGroup {
            group: Box::new(DesiredGroup {
                key,
                fields,
                rosters,
                on_drift,
                previously: previously.into_boxed_slice(),
                source,
            }),
            key_at,
            name_at,
        });
    }
}

fn unknown_key_message(key: &str) -> String {
    let allowed: Vec<&str> = GROUP_KEYS.iter().map(|known| known.key).collect();
    let allowed = allowed.join(", ");
    let shown = excerpt(key);
    match closest_key(key) {
        Some(suggestion) => format!(
            "unknown key `{shown}` (did you mean `{suggestion}`?); a group's keys are {allowed}"
        ),
        None => format!("unknown key `{shown}`; a group's keys are {allowed}"),
    }
}

/// The group key `key` is most likely a typo of, if any is close enough.
fn closest_key(key: &str) -> Option<&'static str> {
    crate::text::closest(key, GROUP_KEYS.iter().map(|known| known.key))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::desired::parse_file;

    fn parse(text: &str) -> (Vec<DesiredGroup>, Vec<String>) {
        let (groups, problems) = parse_file(Path::new("g.yaml"), text);
        (groups, problems.iter().map(ToString::to_string).collect())
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text).1
    }

    fn only_group(text: &str) -> DesiredGroup {
        let (mut groups, problems) = parse(text);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(groups.len(), 1, "{groups:?}");
        groups.pop().unwrap()
    }

    fn ids_and_starts(groups: &[DesiredGroup]) -> Vec<(&str, u32, u32)> {
        groups
            .iter()
            .map(|group| {
                let id = group.id().expect("these tests declare ids");
                (id, group.source.line, group.source.column)
            })
            .collect()
    }

    #[test]
    fn group_keys_follow_the_model_fields() {
        let keys: Vec<&str> = GROUP_KEYS.iter().map(|known| known.key).collect();
        let field_keys: Vec<&str> = Field::ALL.iter().map(|field| field.key()).collect();
        let roster_keys: Vec<&str> = Roster::ALL.iter().map(|roster| roster.key()).collect();
        assert_eq!(keys[0], "id");
        assert_eq!(keys[1..TYPE_KEY], field_keys[..]);
        assert_eq!(keys[TYPE_KEY], "type");
        assert_eq!(keys[TYPE_KEY + 1..TYPE_KEY + 3], roster_keys[..]);
        assert_eq!(keys[PREVIOUSLY_KEY], "previously");
    }

    #[test]
    fn each_key_reads_the_value_of_its_name() {
        for known in GROUP_KEYS {
            let expected = match known.value {
                KeyValue::Id => "id",
                KeyValue::Type => "type",
                KeyValue::Field(field) => field.key(),
                KeyValue::Users(roster) => roster.key(),
                KeyValue::OnDrift => "on_drift",
                KeyValue::Previously => "previously",
            };
            assert_eq!(known.key, expected);
            assert!(!known.description.is_empty(), "{}", known.key);
        }
    }

    fn users(names: &[&str]) -> Option<BTreeSet<String>> {
        Some(names.iter().map(|name| name.to_string()).collect())
    }

    #[test]
    fn members_and_assignees_are_sorted_sets_and_absent_lists_unmanaged() {
        let group =
            only_group("id: a1\nmembers: [bob.jones, alice.smith]\nassignees:\n  - carol.white\n");
        assert_eq!(
            group.rosters.get(Roster::Members).cloned(),
            users(&["alice.smith", "bob.jones"])
        );
        assert_eq!(
            group.rosters.get(Roster::Assignees).cloned(),
            users(&["carol.white"])
        );
        let unmanaged = only_group("id: a1\nname: x\n");
        assert!(unmanaged.rosters.is_empty());
        let none = only_group("id: a1\nmembers: []\n");
        assert_eq!(none.rosters.get(Roster::Members).cloned(), users(&[]));
        assert_eq!(none.rosters.get(Roster::Assignees).cloned(), None);
        let numeric = only_group("id: a1\nmembers: [12345, 'true']\n");
        assert_eq!(
            numeric.rosters.get(Roster::Members).cloned(),
            users(&["12345", "true"])
        );
    }

    #[test]
    fn a_user_listed_twice_or_empty_is_reported_where_it_is() {
        assert_eq!(
            problems("id: a1\nmembers: [alice, bob, alice]\n"),
            ["g.yaml:2:23: `alice` is listed twice in `members`; remove one"]
        );
        assert_eq!(
            problems("id: a1\nassignees:\n  - carol\n  - \"\"\n"),
            ["g.yaml:4:5: an empty username in `assignees`; remove it"]
        );
        let spaced = problems("id: a1\nmembers: [\" bob\"]\n");
        assert!(
            spaced[0].starts_with("g.yaml:2:11: the username \" bob\""),
            "{spaced:?}"
        );
    }

    #[test]
    fn ids_a_url_would_misread_are_refused_where_they_are() {
        for id in ["'.'", "'..'", "a/b", "'a b'", "\"a\\tb\"", "\"a\\u202Eb\""] {
            let found = problems(&format!("id: {id}\nname: X\n"));
            assert_eq!(found.len(), 1, "{id}: {found:?}");
            assert!(
                found[0].starts_with("g.yaml:1:5: `id` must be the pod's groupId: not `.` or `..`"),
                "{id}: {found:?}"
            );
        }
        assert_eq!(only_group("id: a.b-c_d~e\n").id(), Some("a.b-c_d~e"));
    }

    #[test]
    fn names_and_areas_with_invisible_characters_are_refused() {
        let escape = problems("id: a1\nname: \"\\e[2Jx\"\n");
        assert!(
            escape[0].starts_with("g.yaml:2:7: `name` holds the invisible character U+001B"),
            "{escape:?}"
        );
        let bidi = problems("id: a1\narea: \"EMEA\u{202e}\"\n");
        assert!(
            bidi[0].contains("`area` holds the invisible character U+202E"),
            "{bidi:?}"
        );
        let user = problems("id: a1\nmembers: [\"al\u{200b}ice\"]\n");
        assert!(
            user[0].contains("`members` holds the invisible character U+200B"),
            "{user:?}"
        );
        // A description may span lines.
        let group = only_group("id: a1\ndescription: |\n  two\n  lines\n");
        assert_eq!(group.fields.description.as_deref(), Some("two\nlines\n"));
    }

    #[test]
    fn every_default_ignorable_bidi_or_separator_character_is_refused_where_it_is() {
        for c in [
            '\u{061C}',
            '\u{00AD}',
            '\u{180E}',
            '\u{2028}',
            '\u{2029}',
            '\u{3164}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
        ] {
            let code = format!("U+{:04X}", u32::from(c));
            let escaped = format!("\\U{:08X}", u32::from(c));
            let text = format!(
                "id: a1\nname: \"x{escaped}\"\narea: \"{escaped}\"\ndescription: \"d{escaped}\"\n\
                 members: [\"al{escaped}ice\"]\n---\nid: \"b{escaped}\"\n"
            );
            let found = problems(&text);
            let expected = [
                format!("g.yaml:2:7: `name` holds the invisible character {code}"),
                format!("g.yaml:3:7: `area` holds the invisible character {code}"),
                format!("g.yaml:4:14: `description` holds the invisible character {code}"),
                format!("g.yaml:5:11: `members` holds the invisible character {code}"),
                "g.yaml:7:5: `id` must be the pod's groupId".to_string(),
            ];
            assert_eq!(found.len(), expected.len(), "{code}: {found:#?}");
            for (problem, expected) in found.iter().zip(&expected) {
                assert!(problem.starts_with(expected), "{code}: {found:#?}");
            }
        }
    }

    #[test]
    fn user_lists_hold_only_usernames() {
        let not_a_list = problems("id: a1\nmembers: alice\n");
        assert!(
            not_a_list[0].starts_with("g.yaml:2:10: `members` must be a list of usernames")
                && not_a_list[0].contains("`members: []` for none"),
            "{not_a_list:?}"
        );
        let null = problems("id: a1\nmembers:\n");
        assert!(null[0].contains("`members` must be a list"), "{null:?}");
        let nested = problems("id: a1\nassignees: [[a], {b: c}, ~, true]\n");
        assert_eq!(nested.len(), 4, "{nested:?}");
        assert!(nested[0].contains("each entry of `assignees` must be a username, found a list"));
        assert!(
            nested[3].contains("found the boolean `true`; quote it"),
            "{nested:?}"
        );
        // A broken list is not managed at all, rather than managed half.
        let (groups, _) = parse("id: a1\nmembers: [alice, alice]\n");
        assert_eq!(groups[0].rosters.get(Roster::Members).cloned(), None);
    }

    #[test]
    fn a_single_group_mapping_reads_every_field() {
        let group = only_group(
            "# one group\nid: \"6543a1f0c2\"\nname: EMEA trading scope\narea: EMEA\n\
             description: Traders in London and Paris\nactive: true\n",
        );
        assert_eq!(
            group,
            DesiredGroup::test("6543a1f0c2")
                .with_name("EMEA trading scope")
                .with_area("EMEA")
                .with_description("Traders in London and Paris")
                .with_active(true)
                .at("g.yaml", 2, 1)
        );
    }

    #[test]
    fn a_groups_list_gives_each_group_its_mapping_start() {
        let (groups, problems) =
            parse("groups:\n  - id: a1\n    name: A\n  - {id: b2}\n  -\n    id: c3\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            ids_and_starts(&groups),
            [("a1", 2, 5), ("b2", 4, 5), ("c3", 6, 5)]
        );
    }

    #[test]
    fn documents_of_either_form_are_read_and_empty_ones_skipped() {
        let (groups, problems) =
            parse("id: a1\n---\ngroups:\n  - id: b2\n---\n---\n# nothing\n---\nid: c3\n...\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            ids_and_starts(&groups),
            [("a1", 1, 1), ("b2", 4, 5), ("c3", 9, 1)]
        );
    }

    #[test]
    fn a_file_without_groups_is_an_error() {
        for text in [
            "",
            "\n\n",
            "# only a comment\n",
            "---\n---\n",
            "~\n",
            "---\n...\n",
        ] {
            let problems = problems(text);
            assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
            assert!(
                problems[0].starts_with("g.yaml: holds no groups; "),
                "{text:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn an_empty_groups_list_declares_none_on_purpose() {
        assert_eq!(parse("groups: []\n"), (vec![], vec![]));
    }

    #[test]
    fn absent_fields_stay_apart_from_empty_ones() {
        let group = only_group("id: a1\narea: \"\"\ndescription: ''\n");
        assert_eq!(group.fields.name, None);
        assert_eq!(group.fields.area, Some(Text::default()));
        assert_eq!(group.fields.description, Some(Text::default()));
        assert_eq!(group.fields.active, None);
    }

    #[test]
    fn string_fields_keep_any_scalar_as_written() {
        let group =
            only_group("id: 65e4\nname: 12.50\narea: 'true'\ndescription: |\n  two\n  lines\n");
        assert_eq!(group.id(), Some("65e4"));
        assert_eq!(group.fields.name.as_deref(), Some("12.50"));
        assert_eq!(group.fields.area.as_deref(), Some("true"));
        assert_eq!(group.fields.description.as_deref(), Some("two\nlines\n"));
        assert_eq!(
            only_group("id: 0x1F\nname: yes\n").fields.name.as_deref(),
            Some("yes")
        );
        assert_eq!(only_group("id: 0x1F\n").id(), Some("0x1F"));
        assert_eq!(only_group("id: \"007\"\n").id(), Some("007"));
    }

    // An empty value is reported where saphyr puts it: at its key's colon.
    #[test]
    fn plain_nulls_and_booleans_are_not_strings() {
        assert_eq!(
            problems("id: a1\nname: ~\narea:\ndescription: true\n"),
            [
                "g.yaml:2:7: `name` must be a string, found null (`~`); write `name: \"~\"` if you mean the text",
                "g.yaml:3:5: `area` must be a string, found nothing; write `area: \"\"` to clear it on the pod, or leave the key out",
                "g.yaml:4:14: `description` must be a string, found the boolean `true`; write `description: \"true\"` if you mean the text",
            ]
        );
        assert_eq!(
            problems("id:\nname:\n"),
            [
                "g.yaml:1:3: `id` must be a string, found nothing; write the pod's groupId, e.g. `id: \"6543a1f0c2\"`",
                "g.yaml:2:5: `name` must be a string, found nothing; give it a value, or leave the key out",
            ]
        );
        assert_eq!(
            problems("id: NULL\n"),
            [
                "g.yaml:1:5: `id` must be a string, found null (`NULL`); write `id: \"NULL\"` if you mean the text"
            ]
        );
    }

    #[test]
    fn active_takes_only_plain_booleans() {
        assert_eq!(
            only_group("id: a1\nactive: False\n").fields.active,
            Some(false)
        );
        assert_eq!(
            only_group("id: a1\nactive: TRUE\n").fields.active,
            Some(true)
        );
        assert_eq!(
            problems(
                "groups:\n- {id: a, active: \"true\"}\n- {id: b, active: yes}\n- {id: c, active: 1}\n- {id: d, active: }\n"
            ),
            [
                "g.yaml:2:19: `active` must be `true` or `false`, found the string \"true\"",
                "g.yaml:3:19: `active` must be `true` or `false`, found `yes`",
                "g.yaml:4:19: `active` must be `true` or `false`, found `1`",
                "g.yaml:5:17: `active` must be `true` or `false`, found nothing",
            ]
        );
    }

    #[test]
    fn lists_and_mappings_are_not_values() {
        assert_eq!(
            problems("id: [a1]\nname: {x: 1}\nactive: []\n"),
            [
                "g.yaml:1:5: `id` must be a string, found a list",
                "g.yaml:2:7: `name` must be a string, found a mapping",
                "g.yaml:3:9: `active` must be `true` or `false`, found a list",
            ]
        );
    }

    #[test]
    fn an_unknown_key_lists_the_allowed_ones_and_suggests_the_closest() {
        assert_eq!(
            problems("id: a1\ndescripton: x\ncolour: red\nNAME: x\n"),
            [
                "g.yaml:2:1: unknown key `descripton` (did you mean `description`?); a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
                "g.yaml:3:1: unknown key `colour`; a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
                "g.yaml:4:1: unknown key `NAME` (did you mean `name`?); a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
            ]
        );
    }

    #[test]
    fn the_closest_group_key_is_suggested() {
        assert_eq!(closest_key("nmae"), Some("name"));
        assert_eq!(closest_key("xy"), None);
        assert_eq!(closest_key("areas"), Some("area"));
    }

    #[test]
    fn a_duplicate_key_is_an_error_and_the_first_value_stays() {
        let (groups, problems) = parse("id: a1\nname: A\nname: B\n");
        assert_eq!(
            problems,
            ["g.yaml:3:1: duplicate key `name` (first at line 2, column 1)"]
        );
        assert_eq!(groups[0].fields.name.as_deref(), Some("A"));
    }

    #[test]
    fn a_group_without_id_or_name_is_reported_at_the_mapping_start() {
        assert_eq!(
            problems("area: A\n"),
            [
                "g.yaml:1:1: this group has neither `id` nor `name`; add `id: \"...\"` with the pod's groupId, or a `name:` by which groupsync finds the group (and creates it if the pod has none)"
            ]
        );
        assert_eq!(
            problems("groups:\n  - id: a1\n  - area: B\n    active: true\n"),
            [
                "g.yaml:3:5: this group has neither `id` nor `name`; add `id: \"...\"` with the pod's groupId, or a `name:` by which groupsync finds the group (and creates it if the pod has none)"
            ]
        );
    }

    #[test]
    fn a_group_without_id_is_known_by_type_and_name() {
        let group = only_group("name: EMEA rates\narea: EMEA\n");
        assert_eq!(
            group,
            DesiredGroup::test_named("EMEA rates")
                .with_area("EMEA")
                .at("g.yaml", 1, 1)
        );
        assert_eq!(group.id(), None);
        let typed = only_group("name: X\ntype: OTHER_SCOPE\n");
        assert_eq!(
            typed,
            DesiredGroup::test_named("X")
                .with_type("OTHER_SCOPE")
                .at("g.yaml", 1, 1)
        );
    }

    #[test]
    fn type_is_only_for_groups_without_id_and_never_empty() {
        assert_eq!(
            problems("id: a1\ntype: ROLE_SCOPE\n"),
            [
                "g.yaml:2:1: `type` is only for a group without `id` (with the name, it picks the pod's group); remove it"
            ]
        );
        assert_eq!(
            problems("name: X\ntype: \"\"\n"),
            ["g.yaml:2:7: `type` must not be empty; leave it out for ROLE_SCOPE"]
        );
        // An unusable name is reported once, not also as a missing one.
        assert_eq!(
            problems("name: ''\n"),
            ["g.yaml:1:7: `name` must not be empty; leave the key out to keep the pod's name"]
        );
    }

    #[test]
    fn an_empty_id_or_name_is_reported_at_the_value() {
        assert_eq!(
            problems("id: \"\"\nname: ''\n"),
            [
                "g.yaml:1:5: `id` must not be empty; it is the pod's groupId",
                "g.yaml:2:7: `name` must not be empty; leave the key out to keep the pod's name",
            ]
        );
    }

    #[test]
    fn top_level_lists_and_scalars_are_not_groups() {
        assert_eq!(
            problems("- id: a1\n"),
            [format!(
                "g.yaml:1:1: a list cannot stand at the top of a file; {FORMS}"
            )]
        );
        assert_eq!(
            problems("hello\n"),
            [format!(
                "g.yaml:1:1: the file is a single text value, not a group; {FORMS}"
            )]
        );
    }

    #[test]
    fn groups_cannot_be_mixed_with_group_keys() {
        let (groups, problems) = parse("groups:\n  - id: a1\nid: b2\nname: B\n");
        assert_eq!(
            problems,
            [format!(
                "g.yaml:3:1: `id` cannot stand beside `groups:` in one mapping; move group keys into an item of the list; {FORMS}"
            )]
        );
        assert_eq!(ids_and_starts(&groups), [("a1", 2, 5)]);
    }

    #[test]
    fn groups_must_hold_a_list_of_mappings() {
        assert_eq!(
            problems("groups: {id: a1}\n"),
            [
                "g.yaml:1:9: `groups:` must be a list of groups (`- id: ...`), found a mapping; write `groups: []` for none"
            ]
        );
        assert_eq!(
            problems("groups:\n"),
            [
                "g.yaml:1:7: `groups:` must be a list of groups (`- id: ...`), found nothing; write `groups: []` for none"
            ]
        );
        assert_eq!(
            problems("groups:\n  - a1\n  - [x]\n  - id: b2\n"),
            [
                "g.yaml:2:5: each item of `groups:` must be a group mapping (`- id: ...`), found `a1`",
                "g.yaml:3:5: each item of `groups:` must be a group mapping (`- id: ...`), found a list",
            ]
        );
        assert_eq!(
            problems("groups: []\ngroups: []\n"),
            ["g.yaml:2:1: duplicate key `groups`"]
        );
    }

    #[test]
    fn keys_must_be_scalars() {
        assert_eq!(
            problems("id: a1\n? [x]\n: 1\n"),
            ["g.yaml:2:3: a key must be a word such as `name`, found a list"]
        );
    }

    #[test]
    fn an_alias_is_reported_once_and_nothing_else_about_it() {
        let (groups, problems) = parse("id: &x a1\nname: *x\n");
        assert_eq!(
            problems,
            ["g.yaml:2:7: aliases (`*name`) are not supported; write the value out in full"]
        );
        assert_eq!(groups[0].fields.name, None);
        assert_eq!(
            parse("id: *nowhere\n").1,
            [
                "g.yaml:1:5: aliases (`*name`) are not supported, and this one has no anchor; write the value out in full"
            ]
        );
    }

    #[test]
    fn an_anchor_alone_is_harmless() {
        assert_eq!(
            only_group("&g\nid: &x a1\nname: &y A\n")
                .fields
                .name
                .as_deref(),
            Some("A")
        );
    }

    #[test]
    fn tags_are_rejected_with_advice_to_quote() {
        assert_eq!(
            problems("id: !!str 123\nname: !custom x\narea: !!map {}\n"),
            [
                "g.yaml:1:5: tags such as `!!str` are not supported; write the value in quotes to make it a string",
                "g.yaml:2:7: tags such as `!custom` are not supported; write the value in quotes to make it a string",
                "g.yaml:3:7: tags such as `!!map` are not supported; write the value in quotes to make it a string",
                "g.yaml:3:7: `area` must be a string, found a mapping",
            ]
        );
    }

    #[test]
    fn every_problem_of_every_group_and_document_is_reported_in_order() {
        let text = "groups:\n  - id: a1\n    nme: A\n    active: maybe\n  - area: B\n  - id: a1\n---\nid: ''\nextra: 1\n";
        assert_eq!(
            problems(text),
            [
                "g.yaml:3:5: unknown key `nme` (did you mean `name`?); a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
                "g.yaml:4:13: `active` must be `true` or `false`, found `maybe`",
                "g.yaml:5:5: this group has neither `id` nor `name`; add `id: \"...\"` with the pod's groupId, or a `name:` by which groupsync finds the group (and creates it if the pod has none)",
                "g.yaml:6:9: id \"a1\" is already declared at g.yaml:2:9",
                "g.yaml:8:5: `id` must not be empty; it is the pod's groupId",
                "g.yaml:9:1: unknown key `extra`; a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
            ]
        );
    }

    #[test]
    fn a_syntax_error_keeps_what_came_before_it() {
        let (groups, problems) = parse("id: a1\n---\nid: b2\nname: b: c\n");
        assert_eq!(
            problems,
            ["g.yaml:4:8: YAML syntax error: mapping values are not allowed in this context"]
        );
        assert_eq!(ids_and_starts(&groups), [("a1", 1, 1)]);
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let text = format!("id: a1\nactive: {}\n", "x".repeat(100));
        assert_eq!(
            problems(&text),
            [format!(
                "g.yaml:2:9: `active` must be `true` or `false`, found `{}…`",
                "x".repeat(40)
            )]
        );
    }
}
