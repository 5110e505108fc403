use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::output::{Destination, write_new_file};
use super::render::{self, Header, PART_BYTES};
use super::screen::{self, sort_for_import};
use super::*;
use crate::desired::{MAX_FILE_BYTES, parse_file};
use crate::text::is_invisible;

fn group(id: &str, name: &str, area: Option<&str>) -> UserGroupResponse {
    UserGroupResponse {
        id: Some(id.into()),
        name: Some(name.into()),
        area: area.map(Into::into),
        description: Some(format!("about {name}").into()),
        group_type: Some(ROLE_SCOPE.into()),
        active: Some(true),
        ..Default::default()
    }
}

fn described(id: &str, description: &str) -> UserGroupResponse {
    UserGroupResponse {
        description: Some(description.into()),
        ..group(id, &format!("Group {id}"), Some("EMEA"))
    }
}

fn ids(groups: &[(UserGroupResponse, String)]) -> Vec<&str> {
    groups
        .iter()
        .filter_map(|(group, _)| group.id.as_deref())
        .collect()
}

fn left_out_ids(left_out: &[LeftOut]) -> Vec<&str> {
    left_out
        .iter()
        .map(|left| left.id.as_deref().unwrap_or("<none>"))
        .collect()
}

/// `groups` as the one file of an import from `pod_url`, read at `read_at`.
fn render_yaml(groups: &[UserGroupResponse], pod_url: &str, read_at: &str) -> String {
    let header = Header { pod_url, read_at };
    let entries = groups
        .iter()
        .map(|group| (group.clone(), render::entry(group)))
        .collect();
    let mut rendered = render::render(&header, entries, &[]).unwrap();
    assert_eq!(rendered.files.len(), 1);
    rendered.files.remove(0).yaml
}

const HEADER: Header<'static> = Header {
    pod_url: "https://acme.example/pod",
    read_at: "2024-05-01T10:00:00Z",
};

#[test]
fn groups_sort_by_area_then_name() {
    let mut groups = vec![
        group("3", "Beta", Some("EMEA")),
        group("1", "Alpha", Some("EMEA")),
        group("2", "Zulu", Some("APAC")),
        group("4", "Solo", None),
    ];
    sort_for_import(&mut groups);
    let ids: Vec<&str> = groups.iter().filter_map(|g| g.id.as_deref()).collect();
    assert_eq!(ids, ["4", "2", "1", "3"]);
}

#[test]
fn the_yaml_reads_back_as_the_same_groups() {
    let nasty = [
        "EMEA rates",
        "",
        "true",
        "123",
        "- dash",
        "a: b",
        "x #not a comment",
        " lead and trail ",
        "quote\"back\\slash",
        "ünïcødé 東京",
        "'single'",
        "@at",
        "null",
    ];
    let groups: Vec<UserGroupResponse> = nasty
        .iter()
        .enumerate()
        .map(|(index, text)| UserGroupResponse {
            id: Some(format!("0{index}").into()),
            name: Some(format!("{text}!").into()),
            area: Some((*text).into()),
            description: Some((*text).into()),
            active: Some(index % 2 == 0),
            ..Default::default()
        })
        .collect();

    let yaml = render_yaml(
        &groups,
        "https://acme.example/pod\nbad",
        "2024-05-01T10:00:00Z",
    );

    let (parsed, problems) = parse_file(Path::new("imported.yaml"), &yaml);
    assert_eq!(problems, [], "{yaml}");
    assert_eq!(parsed.len(), groups.len());
    for (read, written) in parsed.iter().zip(&groups) {
        assert_eq!(read.id(), written.id.as_deref(), "{yaml}");
        assert_eq!(read.fields.name, written.name, "{yaml}");
        assert_eq!(read.fields.area, written.area, "{yaml}");
        assert_eq!(read.fields.description, written.description, "{yaml}");
        assert_eq!(read.fields.active, written.active, "{yaml}");
    }
    assert!(
        yaml.chars()
            .all(|c| c == '\n' || !(c.is_control() || is_invisible(c))),
        "{yaml}"
    );
    assert!(yaml.starts_with(
        "# Imported by `groupsync import` from https://acme.example/pod\\u{a}bad at 2024-05-01T10:00:00Z.\n"
    ));
}

#[test]
fn plain_strings_stay_plain_and_ids_are_quoted() {
    let yaml = render_yaml(&[group("65f0", "EMEA rates", Some("EMEA"))], "u", "t");
    assert!(
        yaml.ends_with(
            "groups:\n  - id: \"65f0\"\n    name: EMEA rates\n    area: EMEA\n    description: about EMEA rates\n    active: true\n"
        ),
        "{yaml}"
    );
    assert!(render_yaml(&[], "u", "t").ends_with("groups: []\n"));
}

/// Portals write descriptions with `\r\n`: kept as written, so that the
/// loader reads back exactly what the pod holds and a plan finds no change.
#[test]
fn a_crlf_description_is_written_as_it_is_and_reads_back_the_same() {
    let text = "Traders in London\r\nand Paris\r\n\ttab \"quoted\"";
    let entry = render::entry(&described("c1", text));
    assert!(
        entry.contains(
            "description: \"Traders in London\\r\\nand Paris\\r\\n\\ttab \\\"quoted\\\"\"\n"
        ),
        "{entry}"
    );
    let (parsed, problems) = parse_file(Path::new("x.yaml"), &format!("groups:\n{entry}"));
    assert_eq!(problems, []);
    assert_eq!(parsed[0].fields.description.as_deref(), Some(text));
}

#[test]
fn the_loader_decides_which_groups_are_left_out_and_says_why() {
    let hostile = vec![
        Ok(group("ok1", "Fine", Some("EMEA"))),
        Ok(group("", "Empty id", None)),
        Ok(group("..", "Dots", None)),
        Ok(group("a/b", "Slash", None)),
        Ok(group("a b", "Space", None)),
        Ok(group("z1", "zero\u{200B}width", None)),
        Ok(group("z2", "", None)),
        Ok(described("z3", "a lone\rreturn")),
        Ok(described("z4", "bidi\u{202E}override")),
        Ok(described("ok2", "two\r\nlines")),
    ];
    let screened = screen::screen(hostile);
    assert_eq!(ids(&screened.kept), ["ok1", "ok2"]);
    assert_eq!(
        left_out_ids(&screened.left_out),
        ["z2", "..", "", "a/b", "a b", "z1", "z3", "z4"],
        "by area, then name"
    );
    let reasons: Vec<String> = screened.left_out.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons[3],
        "id \"a/b\" (name \"Slash\"): `id` must be the pod's groupId: not `.` or `..`, and without `/`, \
         spaces, control or invisible characters; fix it on the pod, then import again"
    );
    assert!(
        reasons[5].starts_with(
            "id \"z1\" (name \"zero\\u{200b}width\"): `name` holds the invisible character U+200B"
        ),
        "{reasons:?}"
    );
    assert!(
        reasons[0].contains("`name` must not be empty"),
        "{reasons:?}"
    );
    assert!(reasons[6].contains("U+000D"), "{reasons:?}");
}

#[test]
fn a_group_listed_twice_is_kept_once_and_declared_ones_are_skipped() {
    let (groups, problems) = parse_file(
        Path::new("declared.yaml"),
        "groups:\n- id: d1\n- name: Known by name\n- name: Other type\n  type: OTHER\n",
    );
    assert_eq!(problems, []);
    let desired = DesiredState::new(groups);
    let mut nameless = group("x", "No id", None);
    nameless.id = None;
    let read = vec![
        group("g1", "First", None),
        group("g1", "Second", None),
        group("d1", "Declared", None),
        group("n1", "Known by name", None),
        group("o1", "Other type", None),
        nameless,
    ];
    let sorted = Sorted::of(read, &Declared::of(&desired));
    let declared: Vec<&str> = sorted
        .declared
        .iter()
        .filter_map(|g| g.id.as_deref())
        .collect();
    assert_eq!(declared, ["d1", "n1"]);
    let screened = screen::screen(sorted.new);
    assert_eq!(ids(&screened.kept), ["g1"]);
    assert_eq!(screened.kept[0].0.name.as_deref(), Some("First"));
    let reasons: Vec<String> = screened.left_out.iter().map(ToString::to_string).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("listed id \"g1\" more than once"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("declares a group of type \"OTHER\""),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("a group without id (name \"No id\")"),
        "{reasons:?}"
    );
}

#[test]
fn a_group_too_large_for_any_file_is_left_out_with_what_to_do() {
    let huge = described("big", &"x".repeat(1_100_000));
    let screened = screen::screen(vec![Ok(huge), Ok(group("small", "Small", None))]);
    assert_eq!(ids(&screened.kept), ["small"]);
    let reason = screened.left_out[0].to_string();
    assert!(
        reason
            .contains("more than a groups file may hold (1 MiB), 1100000 of them its description"),
        "{reason}"
    );
    assert!(reason.contains("without `description:`"), "{reason}");
}

#[test]
fn many_groups_are_split_into_files_the_loader_reads() {
    let groups: Vec<Result<UserGroupResponse, LeftOut>> = (0..6000)
        .map(|index| Ok(described(&format!("g{index:05}"), &"d".repeat(200))))
        .collect();
    let screened = screen::screen(groups);
    let listed = vec!["id \"x\": a reason".to_string()];
    let rendered = render::render(&HEADER, screened.kept, &listed).unwrap();
    assert!(rendered.files.len() > 1, "{}", rendered.files.len());
    let mut seen = Vec::new();
    for (index, file) in rendered.files.iter().enumerate() {
        assert!(file.yaml.len() <= PART_BYTES + 4096, "{}", file.yaml.len());
        let (parsed, problems) = parse_file(Path::new("part.yaml"), &file.yaml);
        assert_eq!(problems, []);
        assert_eq!(parsed.len(), file.groups);
        seen.extend(
            parsed
                .into_iter()
                .map(|group| group.id().unwrap().to_string()),
        );
        let part = format!("# Part {} of {}: ", index + 1, rendered.files.len());
        assert!(file.yaml.contains(&part), "{part}");
        assert_eq!(file.yaml.contains("a reason"), index == 0);
    }
    let expected: Vec<String> = (0..6000).map(|index| format!("g{index:05}")).collect();
    assert_eq!(seen, expected, "every group once, in order");
}

#[test]
fn one_file_holds_a_group_as_large_as_a_file_allows() {
    let large = described("large", &"x".repeat(PART_BYTES + 1000));
    let screened = screen::screen(vec![
        Ok(group("a", "A", Some("A"))),
        Ok(large),
        Ok(group("z", "Z", Some("Z"))),
    ]);
    let rendered = render::render(&HEADER, screened.kept, &[]).unwrap();
    let counts: Vec<usize> = rendered.files.iter().map(|file| file.groups).collect();
    assert_eq!(counts, [1, 1, 1]);
    assert!(rendered.files[1].yaml.len() <= MAX_FILE_BYTES as usize);
}

#[test]
fn a_long_left_out_list_is_cut_short_in_the_file() {
    let listed: Vec<String> = (0..500)
        .map(|index| format!("id \"{index}\": {}", "r".repeat(1000)))
        .collect();
    let rendered = render::render(&HEADER, Vec::new(), &listed).unwrap();
    let yaml = &rendered.files[0].yaml;
    assert!(yaml.len() < render::HEADER_BYTES, "{}", yaml.len());
    assert!(
        yaml.contains("#   and 400 more, listed on stderr\n"),
        "{yaml}"
    );
    assert!(yaml.ends_with("groups: []\n"));
}

#[test]
fn out_names_a_file_or_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.yaml");
    assert_eq!(Destination::from_out(None), Destination::Stdout);
    assert_eq!(
        Destination::from_out(Some(&file)),
        Destination::File(file.clone())
    );
    assert_eq!(
        Destination::from_out(Some(dir.path())),
        Destination::File(dir.path().join("imported.yaml"))
    );
    assert_eq!(
        Destination::from_out(Some(Path::new("no/such/"))),
        Destination::File(PathBuf::from("no/such/imported.yaml"))
    );
}

#[test]
fn a_destination_is_checked_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Destination::File(dir.path().join("nowhere/imported.yaml"));
    let message = format!("{:#}", anyhow::Error::from(missing.check().unwrap_err()));
    assert!(
        message.ends_with(&format!(
            "nowhere/imported.yaml: the directory {}/nowhere does not exist; create it first, or choose another --out",
            dir.path().display()
        )),
        "{message}"
    );
    let out = Destination::File(dir.path().join("imported.yaml"));
    out.check().unwrap();
    fs::write(dir.path().join("imported-002.yaml"), "").unwrap();
    let message = out.check().unwrap_err().to_string();
    assert!(
        message.contains("imported-002.yaml already exists"),
        "{message}"
    );
    fs::write(dir.path().join("other-001.yaml"), "").unwrap();
    Destination::File(dir.path().join("other.yml"))
        .check()
        .unwrap();
}

#[test]
fn several_files_are_numbered_and_stdout_takes_only_one() {
    let out = Destination::File(PathBuf::from("groups.d/imported.yaml"));
    assert_eq!(
        out.paths(1).unwrap(),
        [Some(PathBuf::from("groups.d/imported.yaml"))]
    );
    assert_eq!(
        out.paths(2).unwrap(),
        [
            Some(PathBuf::from("groups.d/imported-001.yaml")),
            Some(PathBuf::from("groups.d/imported-002.yaml"))
        ]
    );
    assert_eq!(Destination::Stdout.paths(1).unwrap(), [None]);
    let refused = format!(
        "{:#}",
        anyhow::Error::from(Destination::Stdout.paths(3).unwrap_err())
    );
    assert!(refused.contains("needs 3 files"), "{refused}");
    assert!(refused.contains("--out DIR/"), "{refused}");
}

#[test]
fn a_failed_write_takes_back_the_files_already_written() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b.yaml"), "taken\n").unwrap();
    let file = |yaml: &str| render::File {
        path: None,
        yaml: yaml.into(),
        groups: 0,
    };
    let paths = vec![
        Some(dir.path().join("a.yaml")),
        Some(dir.path().join("b.yaml")),
    ];
    let refused = output::write_all(vec![file("a\n"), file("b\n")], paths).unwrap_err();
    assert!(
        refused.to_string().contains("b.yaml already exists"),
        "{refused}"
    );
    assert!(!dir.path().join("a.yaml").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("b.yaml")).unwrap(),
        "taken\n"
    );
}

#[test]
fn a_new_file_is_written_once_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imported.yaml");
    write_new_file(&path, "first\n").unwrap();
    let refused = write_new_file(&path, "second\n").unwrap_err().to_string();
    assert!(refused.contains("already exists"), "{refused}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "first\n");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
}

// ---------------------------------------------------------------------------
// Members and assignees
// ---------------------------------------------------------------------------

use std::collections::BTreeMap;

use crate::model::{Membership, Roster, UserId, UserRef};

use super::lists::{self, GroupLists, ImportedList};

/// A list read whole holding `usernames` (ids from 1), sorted out as an import does.
fn read_list(usernames: &[&str]) -> ImportedList {
    let rows: Vec<Membership> = usernames
        .iter()
        .enumerate()
        .map(|(index, username)| member(index as UserId + 1, Some(username)))
        .collect();
    lists::sorted_out(&rows, &HashMap::new())
}

fn member(user_id: UserId, username: Option<&str>) -> Membership {
    Membership {
        user_id: Some(user_id),
        user: username.map(|username| UserRef {
            id: Some(user_id),
            username: Some(username.to_string()),
            ..UserRef::default()
        }),
        active: Some(true),
        ..Membership::default()
    }
}

fn written(list: &ImportedList) -> Vec<&str> {
    match list {
        ImportedList::Read(read) => read.written.iter().map(String::as_str).collect(),
        ImportedList::LeftOut(reason) => panic!("left out: {reason}"),
    }
}

#[test]
fn usernames_yaml_would_misread_are_written_so_that_the_loader_reads_them_back() {
    let tricky = [
        "true", "null", "123", "- dash", "a: b", "#hash", "x #y", "'quoted'", "ünï", "O'Brien",
    ];
    let list = read_list(&tricky);
    let mut expected: Vec<&str> = tricky.to_vec();
    expected.sort();
    assert_eq!(written(&list), expected);
    let mut lists = GroupLists::from([(Roster::Members, list)]);
    let yaml = render::with_lists(&render::entry(&group("g1", "G", None)), &mut lists);
    let (parsed, problems) = parse_file(Path::new("x.yaml"), &format!("groups:\n{yaml}"));
    assert_eq!(problems, [], "{yaml}");
    let read: Vec<&str> = parsed[0]
        .rosters
        .get(Roster::Members)
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(read, expected, "{yaml}");
}

#[test]
fn a_username_the_loader_refuses_is_a_comment_and_the_rest_are_written() {
    let list = read_list(&["bob", "eve\u{200B}", " spaced", "", "alice"]);
    assert_eq!(written(&list), ["alice", "bob"]);
    let ImportedList::Read(read) = &list else {
        unreachable!()
    };
    let refused: Vec<UserId> = read.unwritten.iter().map(|user| user.user_id).collect();
    assert_eq!(refused, [2, 3, 4]);
    assert_eq!(read.users.len(), 5, "the state file records all five");
    let mut lists = GroupLists::from([(Roster::Assignees, list)]);
    let yaml = render::with_lists("", &mut lists);
    assert!(
        yaml.starts_with(
            "    # assignees: user 2 (\"eve\\u{200b}\") cannot be listed here, as groupsync cannot load its name"
        ),
        "{yaml}"
    );
    assert!(
        yaml.ends_with("    assignees:\n      - alice\n      - bob\n"),
        "{yaml}"
    );
    assert_eq!(
        yaml.lines()
            .filter(|line| line.starts_with("    #"))
            .count(),
        3
    );
}

#[test]
fn users_are_keyed_by_id_named_by_lookup_and_inactive_rows_left_out() {
    let mut gone = member(5, Some("gone"));
    gone.active = Some(false);
    let rows = vec![
        member(1, Some("alice")),
        member(2, None),
        member(3, None),
        gone,
        member(1, Some("alice")),
        member(6, Some("alice")),
    ];
    let known = HashMap::from([(2, "bob".to_string())]);
    let ImportedList::Read(read) = lists::sorted_out(&rows, &known) else {
        unreachable!()
    };
    assert_eq!(
        read.users,
        BTreeMap::from([
            (1, Some("alice".to_string())),
            (2, Some("bob".to_string())),
            (3, None),
            (6, Some("alice".to_string())),
        ])
    );
    assert_eq!(
        read.written,
        ["alice", "bob"],
        "two users who share a name: one line"
    );
    assert_eq!(read.unwritten.len(), 1);
    assert_eq!(read.unwritten[0].user_id, 3);
}

#[test]
fn long_lists_are_split_into_files_the_loader_reads_and_one_too_long_for_any_file_is_left_out() {
    let names: Vec<String> = (0..5000)
        .map(|index| format!("trader.{index:05}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut groups: Vec<(UserGroupResponse, String)> = Vec::new();
    let mut all_lists = Vec::new();
    for index in 0..30 {
        let group = group(
            &format!("g{index:02}"),
            &format!("Desk {index:02}"),
            Some("EMEA"),
        );
        let mut lists = GroupLists::from([
            (Roster::Members, read_list(&names)),
            (Roster::Assignees, read_list(&["olga"])),
        ]);
        let yaml = render::with_lists(&render::entry(&group), &mut lists);
        groups.push((group, yaml));
        all_lists.push(lists);
    }
    let many: Vec<String> = (0..60_000)
        .map(|index| format!("member.{index:06}"))
        .collect();
    let huge = group("huge", "Everyone", Some("ZZZ"));
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut lists = GroupLists::from([
        (Roster::Members, read_list(&many)),
        (Roster::Assignees, read_list(&["olga"])),
    ]);
    let yaml = render::with_lists(&render::entry(&huge), &mut lists);
    assert!(
        yaml.contains(
            "    # members: not imported, so groupsync leaves them alone: its 60000 users make"
        ),
        "{}",
        &yaml[..yaml.len().min(2000)]
    );
    assert!(!yaml.contains("members:\n") && yaml.contains("assignees:\n      - olga\n"));
    groups.push((huge, yaml));

    let rendered = render::render(&HEADER, groups, &[]).unwrap();

    assert!(rendered.files.len() > 5, "{}", rendered.files.len());
    let mut seen = 0;
    for file in &rendered.files {
        assert!(
            file.yaml.len() <= MAX_FILE_BYTES as usize,
            "{}",
            file.yaml.len()
        );
        let (parsed, problems) = parse_file(Path::new("part.yaml"), &file.yaml);
        assert_eq!(problems, []);
        for group in &parsed {
            if group.id() != Some("huge") {
                assert_eq!(
                    group.rosters.get(Roster::Members).map(|set| set.len()),
                    Some(5000)
                );
            }
        }
        seen += parsed.len();
    }
    assert_eq!(seen, 31);
}
