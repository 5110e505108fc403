//! The seed of `groupsync emulate --seed FILE`, and the store any
//! [`EmulatorConfig`] starts from.

use std::path::Path;

use crate::model::{Roster, UserGroupResponse};

use super::config::EmulatorConfig;
use super::people::SeedUser;
use super::store::Store;

/// The store of `config`: its groups, users, members and assignees.
pub(super) fn seeded_store(config: &EmulatorConfig) -> Result<Store, String> {
    let mut store = Store::new(config.groups.clone())?;
    for user in &config.users {
        store.add_user(user.clone())?;
    }
    for (roster, pairs) in [
        (Roster::Members, &config.memberships),
        (Roster::Assignees, &config.assignments),
    ] {
        let mut by_group: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (group_id, username) in pairs {
            by_group.entry(group_id).or_default().push(username.clone());
        }
        for (group_id, usernames) in by_group {
            store
                .set_list(group_id, roster, &usernames)
                .map_err(|err| format!("the {roster} of group {group_id:?}: {err}"))?;
        }
    }
    Ok(store)
}

/// Reads a seed for `groupsync emulate --seed FILE`, JSON or YAML: a bare
/// list of `UserGroupResponse` objects (camelCase keys), or a mapping
/// `{groups: [...], users: [...]}` whose groups may carry `members:` and
/// `assignees:` (usernames of its `users`, which are [`SeedUser`]s). Every
/// group needs an id, no id twice. The answer holds the groups, users and
/// lists; sessions, bots and the page size are left at their defaults.
pub fn load_seed(path: &Path) -> Result<EmulatorConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read the seed: {err}", path.display()))?;
    parse_seed(&text).map_err(|reason| format!("{}: {reason}", path.display()))
}

/// One group of a seed: a `UserGroupResponse` and its active lists.
#[derive(serde::Deserialize)]
struct SeedGroup {
    #[serde(flatten)]
    group: UserGroupResponse,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    assignees: Vec<String>,
}

/// The mapping form of a seed.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedDocument {
    #[serde(default)]
    groups: Vec<SeedGroup>,
    #[serde(default)]
    users: Vec<SeedUser>,
}

/// [`load_seed`] from text: the seed's groups, users and lists.
pub fn parse_seed(text: &str) -> Result<EmulatorConfig, String> {
    // YAML is a superset of JSON: one parser reads both.
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|err| format!("not JSON or YAML: {err}"))?;
    let document = match value {
        serde_yaml::Value::Null => return Ok(EmulatorConfig::default()), // an empty file is an empty pod
        serde_yaml::Value::Sequence(_) => SeedDocument {
            groups: serde_yaml::from_value(value).map_err(|err| {
                format!(
                    "not a list of user groups (camelCase keys, e.g. id, name, createdDate): {err}"
                )
            })?,
            users: Vec::new(),
        },
        serde_yaml::Value::Mapping(_) => serde_yaml::from_value(value)
            .map_err(|err| format!("not a seed mapping {{groups: [...], users: [...]}}: {err}"))?,
        _ => {
            return Err(
                "a seed is a list of user groups or a mapping {groups: [...], users: [...]}".into(),
            );
        }
    };
    let config = seed_config(document)?;
    // What the emulator would refuse at start is refused here, naming the file.
    seeded_store(&config)?;
    Ok(config)
}

/// The groups (each with an id, no id twice), users and lists of a seed.
fn seed_config(document: SeedDocument) -> Result<EmulatorConfig, String> {
    let mut config = EmulatorConfig {
        users: document.users,
        ..EmulatorConfig::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (index, seeded) in document.groups.into_iter().enumerate() {
        let Some(id) = seeded.group.id.clone().filter(|id| !id.is_empty()) else {
            return Err(format!("group #{} has no id", index + 1));
        };
        if !seen.insert(id.clone()) {
            return Err(format!("group id {id:?} appears twice"));
        }
        let pairs = |names: Vec<String>| names.into_iter().map(|name| (id.to_string(), name));
        config.memberships.extend(pairs(seeded.members));
        config.assignments.extend(pairs(seeded.assignees));
        config.groups.push(seeded.group);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_from_yaml_and_json() {
        let yaml = "- id: a\n  name: Alpha\n  createdDate: 5\n- id: b\n  active: false\n";
        let json =
            r#"[{"id": "a", "name": "Alpha", "createdDate": 5}, {"id": "b", "active": false}]"#;
        for text in [yaml, json] {
            let groups = parse_seed(text).unwrap().groups;
            assert_eq!(groups.len(), 2);
            assert_eq!(
                (groups[0].name.as_deref(), groups[0].created_date),
                (Some("Alpha"), Some(5))
            );
            assert_eq!(groups[1].active, Some(false));
        }
    }

    #[test]
    fn seeds_need_unique_ids() {
        assert!(
            parse_seed("- name: no id\n")
                .unwrap_err()
                .contains("#1 has no id")
        );
        assert!(
            parse_seed("- id: a\n- id: a\n")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_seed("id: a\n").is_err());
        assert!(parse_seed("\n").unwrap().groups.is_empty());
    }

    const SEED_WITH_USERS: &str = "\
groups:
  - {id: g1, name: One, memberCount: 9, members: [alice, bob], assignees: [olga]}
  - {id: g2, name: Two}
users:
  - {id: 1001, username: alice, firstName: Alice}
  - {id: 1002, username: bob}
  - {id: 2001, username: olga, roles: [COMPLIANCE_OFFICER]}
";

    #[test]
    fn seeds_may_hold_users_and_lists() {
        let config = parse_seed(SEED_WITH_USERS).unwrap();
        assert_eq!(config.groups.len(), 2);
        assert_eq!(config.users.len(), 3);
        assert_eq!(config.users[0].first_name.as_deref(), Some("Alice"));
        let pair = |group: &str, user: &str| (group.to_string(), user.to_string());
        assert_eq!(config.memberships, [pair("g1", "alice"), pair("g1", "bob")]);
        assert_eq!(config.assignments, [pair("g1", "olga")]);
        let store = seeded_store(&config).unwrap();
        let seeded = store.get("g1").unwrap();
        assert_eq!(
            (seeded.member_count, seeded.assignee_count),
            (Some(2), Some(1))
        );
    }

    #[test]
    fn seed_lists_must_name_known_users_and_officers() {
        let unknown = SEED_WITH_USERS.replace("[alice, bob]", "[alice, zed]");
        assert!(parse_seed(&unknown).unwrap_err().contains("zed"));
        let not_officer = SEED_WITH_USERS.replace("assignees: [olga]", "assignees: [bob]");
        assert!(parse_seed(&not_officer).unwrap_err().contains("bob"));
        let twice = SEED_WITH_USERS.replace("username: bob", "username: alice");
        assert!(parse_seed(&twice).is_err());
        assert!(parse_seed("groups: []\ncolour: red\n").is_err());
        assert!(parse_seed("- {id: a, members: [nobody]}\n").is_err());
        assert!(parse_seed("42\n").is_err());
    }

    #[test]
    fn load_seed_names_the_file() {
        let missing = Path::new("/nonexistent/seed.yaml");
        assert!(
            load_seed(missing)
                .unwrap_err()
                .starts_with("/nonexistent/seed.yaml: ")
        );
    }
}
