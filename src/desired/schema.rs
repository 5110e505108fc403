//! The JSON Schema (draft 2020-12) of one `groups.d/` document, for editors
//! (`groupsync schema`, shipped as `schema/groups.schema.json`).
//!
//! It is built from the loader's own table of keys ([`GROUP_KEYS`]): each
//! key's JSON type follows from the reader the loader gives it, and its
//! description is the table's, so a key added to the loader is in the schema.
//! The schema checks what one document can show: the keys, their types,
//! `id` or `name`, `type` only without `id`, users each once. What spans
//! documents and files (an id declared twice) is left to `groupsync validate`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::model::{DriftPolicy, Field};

use super::groups::{FORMS, GROUP_KEYS, KeyValue};

/// The schema as `groupsync schema` prints it and the repository ships it:
/// pretty JSON, keys in a fixed order, a newline at the end.
pub fn groups_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("the schema always serializes");
    text.push('\n');
    text
}

/// The schema as a JSON value.
pub fn groups_schema() -> serde_json::Value {
    serde_json::to_value(document()).expect("the schema always serializes")
}

/// A string or a number: the loader reads any scalar but null and the
/// booleans as its literal text (`id: 65e4` is the id "65e4").
const TEXT_TYPES: [&str; 2] = ["string", "number"];

/// Not empty, no spaces around: what the loader takes as a username.
const USERNAME_PATTERN: &str = r"^\S(?:[\s\S]*\S)?$";
/// An id as the loader takes it: no `/` and no whitespace (`.` and `..` are
/// refused by a `not` beside it).
const ID_PATTERN: &str = r"^[^/\s]+$";

fn document() -> Json {
    object([
        (
            "$schema",
            text("https://json-schema.org/draft/2020-12/schema"),
        ),
        ("title", text("groupsync groups.d file")),
        (
            "description",
            text(&format!(
                "One YAML document of a groupsync groups.d file: {FORMS}. An empty document is skipped."
            )),
        ),
        (
            "anyOf",
            list([
                reference("group"),
                reference("groupList"),
                object([
                    ("type", text("null")),
                    ("description", text("An empty document: skipped.")),
                ]),
            ]),
        ),
        (
            "$defs",
            object([("group", group()), ("groupList", group_list())]),
        ),
    ])
}

/// `groups:` and a list of groups, alone in its mapping.
fn group_list() -> Json {
    object([
        ("type", text("object")),
        (
            "description",
            text("A mapping with just `groups:`, a list of groups (`groups: []` declares none)."),
        ),
        (
            "properties",
            object([(
                "groups",
                object([
                    ("type", text("array")),
                    ("description", text("The groups this file declares.")),
                    ("items", reference("group")),
                ]),
            )]),
        ),
        ("required", list([text("groups")])),
        ("additionalProperties", Json::Flag(false)),
    ])
}

/// One group: the keys of [`GROUP_KEYS`], `id` or `name`, and `type` only without `id`.
fn group() -> Json {
    let properties = GROUP_KEYS
        .iter()
        .map(|known| {
            (
                known.key.to_string(),
                key_schema(known.value, known.description),
            )
        })
        .collect();
    object([
        ("type", text("object")),
        (
            "description",
            text(
                "One group: `id` (the pod's groupId), or `name` alone to find or create it by name.",
            ),
        ),
        ("properties", Json::Object(properties)),
        ("additionalProperties", Json::Flag(false)),
        (
            "anyOf",
            list([
                object([("required", list([text("id")]))]),
                object([("required", list([text("name")]))]),
            ]),
        ),
        ("if", object([("required", list([text("id")]))])),
        (
            "then",
            object([(
                "properties",
                object([
                    ("type", Json::Flag(false)),
                    ("previously", Json::Flag(false)),
                ]),
            )]),
        ),
    ])
}

/// The JSON type of one key, as its reader in the loader takes it.
fn key_schema(value: KeyValue, description: &str) -> Json {
    let mut schema = match value {
        KeyValue::Field(Field::Active) => vec![("type", text("boolean"))],
        KeyValue::Field(Field::Area | Field::Description) => vec![("type", text_types())],
        KeyValue::Id => vec![
            ("type", text_types()),
            ("minLength", Json::Number(1)),
            ("pattern", text(ID_PATTERN)),
            ("not", object([("enum", list([text("."), text("..")]))])),
        ],
        KeyValue::Type | KeyValue::Field(Field::Name) => {
            vec![("type", text_types()), ("minLength", Json::Number(1))]
        }
        KeyValue::OnDrift => vec![("enum", list(DriftPolicy::NAMES.map(text)))],
        KeyValue::Previously => vec![
            ("type", text("array")),
            (
                "items",
                object([("type", text_types()), ("minLength", Json::Number(1))]),
            ),
            ("uniqueItems", Json::Flag(true)),
        ],
        KeyValue::Users(_) => vec![
            ("type", text("array")),
            (
                "items",
                object([
                    ("type", text_types()),
                    ("minLength", Json::Number(1)),
                    ("pattern", text(USERNAME_PATTERN)),
                ]),
            ),
            ("uniqueItems", Json::Flag(true)),
        ],
    };
    schema.insert(0, ("description", text(description)));
    object(schema)
}

fn text_types() -> Json {
    list(TEXT_TYPES.map(text))
}

fn reference(definition: &str) -> Json {
    object([("$ref", text(&format!("#/$defs/{definition}")))])
}

fn text(value: &str) -> Json {
    Json::Text(value.to_string())
}

fn list(items: impl IntoIterator<Item = Json>) -> Json {
    Json::List(items.into_iter().collect())
}

fn object<'k>(entries: impl IntoIterator<Item = (&'k str, Json)>) -> Json {
    Json::Object(
        entries
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect(),
    )
}

/// A JSON value whose objects keep their keys in the order written, whatever
/// features `serde_json` is built with: the shipped file stays byte-for-byte.
enum Json {
    Text(String),
    Flag(bool),
    Number(u64),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Text(text) => serializer.serialize_str(text),
            Json::Flag(flag) => serializer.serialize_bool(*flag),
            Json::Number(number) => serializer.serialize_u64(*number),
            Json::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_loader_is_described() {
        let schema = groups_schema();
        let properties = schema["$defs"]["group"]["properties"]
            .as_object()
            .expect("the group's properties");
        let keys: Vec<&str> = GROUP_KEYS.iter().map(|known| known.key).collect();
        let mut described: Vec<&str> = properties.keys().map(String::as_str).collect();
        described.sort_unstable();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        assert_eq!(described, sorted_keys);
        for (key, property) in properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{key} has no description"
            );
        }
    }

    #[test]
    fn the_text_keeps_the_tables_order() {
        let text = groups_schema_text();
        let positions: Vec<usize> = GROUP_KEYS
            .iter()
            .map(|known| {
                text.find(&format!("\"{}\": {{", known.key))
                    .expect(known.key)
            })
            .collect();
        assert!(positions.is_sorted(), "{text}");
        assert!(
            text.starts_with("{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",")
        );
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn the_types_follow_the_readers() {
        let schema = groups_schema();
        let property = |key: &str| schema["$defs"]["group"]["properties"][key].clone();
        assert_eq!(property("active")["type"], "boolean");
        assert_eq!(property("id")["minLength"], 1);
        assert_eq!(property("id")["pattern"], ID_PATTERN);
        assert_eq!(property("members")["uniqueItems"], true);
        assert_eq!(property("assignees")["items"]["pattern"], USERNAME_PATTERN);
        assert!(
            property("area").get("minLength").is_none(),
            "\"\" clears the area"
        );
    }
}
