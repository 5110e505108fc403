//! The JSON Schema of a groups.d file: the shipped `schema/groups.schema.json`
//! is what `groupsync schema` prints, every example file points editors at
//! it and passes it, and it refuses what the loader refuses. Validation is by
//! an independent validator (`boon`), on each YAML document turned into JSON.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::util::*;

const SCHEMA_FILE: &str = "schema/groups.schema.json";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The shipped schema, compiled by `boon` from the file itself.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn shipped() -> Validator {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let path = repo_path(SCHEMA_FILE);
        let index = compiler
            .compile(path.to_str().unwrap(), &mut schemas)
            .unwrap_or_else(|err| panic!("{SCHEMA_FILE} does not compile: {err:#}"));
        Validator { schemas, index }
    }

    /// Every document of `yaml` that the schema refuses, with the validator's reasons.
    fn refusals(&self, yaml: &str) -> Vec<String> {
        yaml_documents(yaml)
            .iter()
            .filter_map(|document| self.schemas.validate(document, self.index).err())
            .map(|err| format!("{err:#}"))
            .collect()
    }
}

/// Each YAML document of `yaml`, as JSON.
fn yaml_documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| {
            serde_json::Value::deserialize(document)
                .unwrap_or_else(|err| panic!("not YAML that JSON can hold: {err}\n{yaml}"))
        })
        .collect()
}

/// Every `*.yaml` file below `groups.d/` of the repository.
fn example_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo_path("groups.d"), &mut found);
    found.sort();
    assert!(found.len() >= 5, "the example tree is there: {found:?}");
    found
}

/// True when the loader accepts `yaml` as the only file of a tree.
fn loader_accepts(yaml: &str) -> bool {
    let ws = Workspace::new();
    ws.write_group_file("file.yaml", yaml);
    groupsync::desired::load_dir_or_empty(&ws.groups_dir()).is_ok()
}

#[test]
fn the_shipped_schema_is_what_groupsync_schema_prints() {
    let output = Workspace::new().groupsync().arg("schema").output().unwrap();
    assert_exit(&output, 0);
    let shipped = std::fs::read_to_string(repo_path(SCHEMA_FILE)).unwrap();
    assert!(
        stdout(&output) == shipped,
        "{SCHEMA_FILE} differs from what `groupsync schema` prints; regenerate it with\n    \
         cargo run -- schema > {SCHEMA_FILE}"
    );
}

#[test]
fn every_example_file_points_editors_at_the_schema() {
    let schema = std::fs::canonicalize(repo_path(SCHEMA_FILE)).unwrap();
    for file in example_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let relative = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!(
                    "{} must start with `# yaml-language-server: $schema=...`",
                    file.display()
                )
            });
        let target = file.parent().unwrap().join(relative);
        assert_eq!(
            std::fs::canonicalize(&target).ok().as_ref(),
            Some(&schema),
            "{}: {relative} is not {SCHEMA_FILE}",
            file.display()
        );
    }
}

#[test]
fn every_example_document_passes_the_schema() {
    let validator = Validator::shipped();
    for file in example_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let refusals = validator.refusals(&text);
        assert!(refusals.is_empty(), "{}:\n{refusals:#?}", file.display());
    }
}

/// Documents both the loader and the schema accept: the three forms and
/// the edges of each key's type.
#[test]
fn what_the_loader_accepts_passes_the_schema() {
    let validator = Validator::shipped();
    for yaml in [
        "id: a1\n",
        "id: 65e4\nname: 12\n",
        "name: EMEA rates\ntype: ROLE_SCOPE\n",
        "id: a1\narea: \"\"\ndescription: \"\"\nactive: false\n",
        "id: a1\nmembers: []\nassignees: [carol]\n",
        "id: a1\nmembers: [alice, \"12345\", 'true']\n",
        "groups: []\n",
        "groups:\n  - id: a1\n  - name: b\n",
        "id: a1\n---\ngroups:\n  - id: b2\n",
    ] {
        assert!(loader_accepts(yaml), "the loader refuses {yaml:?}");
        let refusals = validator.refusals(yaml);
        assert!(refusals.is_empty(), "{yaml:?}:\n{refusals:#?}");
    }
}

/// Wrong documents: the schema refuses each one, and so does the loader.
#[test]
fn what_the_loader_refuses_fails_the_schema() {
    let validator = Validator::shipped();
    for yaml in [
        "id: a1\ndescripton: typo\n",
        "id: a1\nactive: \"yes\"\n",
        "id: a1\nactive: yes\n",
        "id: a1\nmembers: [alice, bob, alice]\n",
        "id: a1\nmembers: [\"\"]\n",
        "id: a1\nassignees: [\" carol\"]\n",
        "id: a1\nmembers: alice\n",
        "id: a1\nmembers: [null]\n",
        "id: \"\"\n",
        "id: \"..\"\n",
        "id: \".\"\n",
        "id: a/b\n",
        "id: \"a b\"\n",
        "name: \"\"\n",
        "id: a1\nname: ~\n",
        "id: a1\narea: true\n",
        "id: a1\ntype: ROLE_SCOPE\n",
        "name: x\ntype: \"\"\n",
        "area: EMEA\n",
        "groups:\n  - id: a1\nid: b2\n",
        "groups: {id: a1}\n",
        "groups:\n  - [a1]\n",
        "- id: a1\n",
        "just text\n",
    ] {
        assert!(!loader_accepts(yaml), "the loader accepts {yaml:?}");
        assert!(
            !validator.refusals(yaml).is_empty(),
            "the schema accepts {yaml:?}"
        );
    }
}
