//! Characters that show nothing, or reorder what is around them, are
//! Unicode's to name, not a hand-made list's: every default-ignorable code
//! point (bidi controls among them) and the line and paragraph separators.
//! The loader refuses them in what it sends, at their position, and every
//! output shows them escaped.

use crate::util::*;

/// One of each kind that once got through.
const INVISIBLE: [char; 11] = [
    '\u{061C}',  // Arabic letter mark, a bidi control
    '\u{00AD}',  // soft hyphen
    '\u{180E}',  // Mongolian vowel separator
    '\u{2028}',  // line separator
    '\u{2029}',  // paragraph separator
    '\u{3164}',  // Hangul filler
    '\u{034F}',  // combining grapheme joiner
    '\u{FE0F}',  // variation selector 16
    '\u{E0001}', // language tag
    '\u{E0041}', // tag latin capital A
    '\u{E007F}', // cancel tag
];

#[test]
fn validate_refuses_each_invisible_character_at_its_line_and_column() {
    for c in INVISIBLE {
        let code = format!("U+{:04X}", u32::from(c));
        let ws = Workspace::new();
        ws.write_group_file(
            "g.yaml",
            format!(
                "id: a1\nname: x{c}\narea: \"E{c}\"\ndescription: d{c}\nmembers: [al{c}ice]\n\
                 ---\nid: b{c}\n"
            ),
        );
        let output = ws
            .groupsync()
            .args(["validate", "--groups-dir", "groups.d"])
            .output()
            .unwrap();
        assert_exit(&output, 1);
        let stderr = stderr(&output);
        for expected in [
            format!("groups.d/g.yaml:2:7: `name` holds the invisible character {code}"),
            format!("groups.d/g.yaml:3:7: `area` holds the invisible character {code}"),
            format!("groups.d/g.yaml:4:14: `description` holds the invisible character {code}"),
            format!("groups.d/g.yaml:5:11: `members` holds the invisible character {code}"),
            "groups.d/g.yaml:7:5: `id` must be the pod's groupId".to_string(),
        ] {
            assert!(stderr.contains(&expected), "{code}: {expected}\n{stderr}");
        }
        assert!(!stderr.contains(c), "{code} shown raw:\n{stderr}");
    }
}

#[test]
fn a_pod_name_with_an_invisible_character_is_shown_escaped() {
    for c in INVISIBLE {
        let code = format!("U+{:04X}", u32::from(c));
        let ws = Workspace::new();
        ws.write_group_file("g1.yaml", "id: g1\narea: NEW\n");
        ws.write_state(&[PodGroup::new("g1")
            .name(format!("EMEA{c}desk"))
            .area("OLD")
            .build()]);
        for format in ["text", "markdown", "json"] {
            let output = ws
                .groupsync()
                .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
                .args(["--format", format])
                .output()
                .unwrap();
            assert_exit(&output, 2);
            let shown = stdout(&output);
            assert!(
                !shown.contains(c),
                "{code} raw in the {format} plan:\n{shown}"
            );
        }
    }
}
