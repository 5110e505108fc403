//! `--format markdown` beyond the golden tests: hostile names cannot break
//! out of their blocks, drift and errors get their sections, and `validate`
//! speaks it too.

use crate::util::*;

/// A name that tries every way out: a fence, the end of the block, HTML.
const HOSTILE: &str = "x ``` </details> <img src=x onerror=alert(1)> ~~~ **";

/// The lines outside fenced code blocks, by CommonMark's rule: a fence of
/// N backticks is closed only by a line of at least N backticks and nothing else.
fn outside_fences(markdown: &str) -> Vec<&str> {
    let mut outside = Vec::new();
    let mut open: Option<usize> = None;
    for line in markdown.lines() {
        let ticks = line.len() - line.trim_start_matches('`').len();
        match open {
            Some(length) if ticks >= length && line.trim_end().len() == ticks => open = None,
            Some(_) => {}
            None if ticks >= 3 => open = Some(ticks),
            None => outside.push(line),
        }
    }
    assert_eq!(open, None, "a fence is left open:\n{markdown}");
    outside
}

fn plan_markdown(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    ws.groupsync()
        .args(["plan", "--format", "markdown", "--groups-dir", "groups.d"])
        .args(["--state", "state.json"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_hostile_name_stays_inside_its_block() {
    let ws = Workspace::new();
    let yaml = format!(
        "groups:\n  - id: a1\n    name: {}\n  - id: b2\n    area: EMEA\n",
        serde_json::to_string(HOSTILE).unwrap()
    );
    ws.write_group_file("groups.yaml", yaml);
    ws.write_state(&[
        PodGroup::new("a1").name("old ```` name").build(),
        PodGroup::new("b2")
            .name("<b>bold</b>")
            .area("EMEA-old")
            .build(),
    ]);
    let output = plan_markdown(&ws, &[]);
    assert_exit(&output, 2);
    let markdown = stdout(&output);
    assert!(!markdown.contains('\x1b'), "no colour:\n{markdown}");
    let outside = outside_fences(&markdown);
    let opened = outside
        .iter()
        .filter(|line| line.starts_with("<details>"))
        .count();
    let closed = outside.iter().filter(|line| **line == "</details>").count();
    assert_eq!((opened, closed), (2, 2), "{markdown}");
    for line in &outside {
        let rest = line
            .strip_prefix("<details><summary>")
            .and_then(|rest| rest.strip_suffix("</summary>"));
        if let Some(summary) = rest {
            assert!(
                !summary.contains('<') && !summary.contains('>'),
                "HTML in a summary: {line}"
            );
        }
    }
    assert!(
        markdown.contains("&lt;/details&gt; &lt;img src=x onerror=alert(1)&gt;"),
        "the name is shown, escaped:\n{markdown}"
    );
    assert!(
        markdown.contains(&format!("\n+name: {HOSTILE}\n")),
        "the diff shows the name as written:\n{markdown}"
    );
}

#[test]
fn the_summary_comes_first_and_errors_have_their_section() {
    let ws = Workspace::new();
    ws.write_group_file("bad.yaml", "id: a1\nactive: \"yes\"\n");
    let output = plan_markdown(&ws, &[]);
    assert_exit(&output, 1);
    let markdown = stdout(&output);
    assert_eq!(
        markdown,
        "**1 error; nothing was planned or written.**\n\n### Errors\n\n```text\n\
         groups.d/bad.yaml:2:9: `active` must be `true` or `false`, found the string \"yes\"\n```\n"
    );
    assert!(
        stderr(&output).contains("groups.d/bad.yaml:2:9:"),
        "the CI log shows the error too"
    );
}

#[test]
fn validate_speaks_markdown() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\n---\nid: b2\n");
    let output = ws
        .groupsync()
        .args([
            "validate",
            "--format",
            "markdown",
            "--groups-dir",
            "groups.d",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "**2 groups valid in 1 file.**\n");
}

#[test]
fn drift_has_its_own_section() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("A").area("GLOBAL").build()]);
    ws.write_state(&[PodGroup::new("a1").name("A").area("EMEA").build()]);
    let output = ws
        .groupsync()
        .args(["plan", "--refresh", "--format", "markdown"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 2);
    let markdown = stdout(&output);
    assert!(
        markdown.starts_with("**Plan: 1 to update, 0 unchanged.** Drift: 1 group.\n\nDigest: ")
            && markdown.contains("  \n\n<details>"),
        "{markdown}"
    );
    assert!(
        markdown.ends_with(
            "### Drift\n\n```text\na1 changed outside groupsync: area \"EMEA\" -> \"GLOBAL\"\n```\n"
        ),
        "{markdown}"
    );
}

#[test]
fn an_apply_tells_what_it_did_per_group() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("A").area("EMEA-old").build()]);
    seed_state(&ws, &pod);
    let output = ws
        .groupsync()
        .args(["apply", "--format", "markdown"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let markdown = stdout(&output);
    assert!(
        markdown.starts_with(
            "**Apply: 1 updated, 0 failed, 0 unchanged.**\n\n<details><summary>updated a1 \
             (groups.d/emea.yaml): area \"EMEA-old\" -&gt; \"EMEA\"</summary>\n"
        ),
        "{markdown}"
    );
    assert!(!markdown.contains("### Errors"), "{markdown}");
}
