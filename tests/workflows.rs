//! The pipelines, parsed: this repository's own (`.github/workflows/`: the
//! checks on every change, the release on a `v*` tag) and the CI examples
//! that users copy (`examples/ci/`), which install what the release
//! publishes, run only when the groups or the config change, and hold no
//! secret in plain text.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

const GITHUB_EXAMPLE: &str = "examples/ci/github-actions.yml";
const GITLAB_EXAMPLE: &str = "examples/ci/gitlab-ci.yml";
const RELEASE: &str = ".github/workflows/release.yml";
const CI: &str = ".github/workflows/ci.yml";

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{relative}: {err}"))
}

/// The one YAML document of a repository file, as JSON.
fn parse(relative: &str) -> Value {
    let text = read(relative);
    let mut documents: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|err| panic!("{relative}: {err}"))
        })
        .collect();
    assert_eq!(documents.len(), 1, "{relative} holds one document");
    documents.pop().unwrap()
}

/// A workflow's jobs, by name.
fn jobs(workflow: &Value) -> &serde_json::Map<String, Value> {
    workflow["jobs"].as_object().expect("a workflow has jobs")
}

/// Every step of a GitHub job.
fn steps(job: &Value) -> &Vec<Value> {
    job["steps"].as_array().expect("a job has steps")
}

/// The shell a GitHub job runs, every `run:` joined.
fn github_script(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The shell a GitLab job runs: its own and its templates' (`extends`) scripts.
fn gitlab_script(pipeline: &Value, job: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(template) = job["extends"].as_str() {
        parts.push(gitlab_script(pipeline, &pipeline[template]));
    }
    for key in ["before_script", "script"] {
        for line in job[key].as_array().into_iter().flatten() {
            parts.push(line.as_str().unwrap_or_default().to_string());
        }
    }
    parts.join("\n")
}

/// True for a script that reads groups.d (and the config).
fn runs_groupsync_on_the_groups(script: &str) -> bool {
    ["groupsync validate", "groupsync plan", "groupsync apply"]
        .iter()
        .any(|command| script.contains(command))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The config file the example names (`GROUPSYNC_CONFIG`).
fn config_of(variables: &Value, file: &str) -> String {
    variables["GROUPSYNC_CONFIG"]
        .as_str()
        .unwrap_or_else(|| panic!("{file} names no config file in GROUPSYNC_CONFIG"))
        .to_string()
}

#[test]
fn the_examples_install_a_release_of_this_repository() {
    for (file, variables) in [
        (GITHUB_EXAMPLE, parse(GITHUB_EXAMPLE)["env"].clone()),
        (GITLAB_EXAMPLE, parse(GITLAB_EXAMPLE)["variables"].clone()),
    ] {
        let text = read(file);
        assert!(
            !text.contains("GROUPSYNC_DEB_URL"),
            "{file} still points at a .deb URL nothing publishes"
        );
        assert_eq!(
            variables["GROUPSYNC_VERSION"].as_str(),
            Some(env!("CARGO_PKG_VERSION")),
            "{file} installs the current release"
        );
        assert!(
            variables["GROUPSYNC_RELEASES"]
                .as_str()
                .is_some_and(|url| url.starts_with("https://github.com/")
                    && url.ends_with("/releases/download")),
            "{file}: GROUPSYNC_RELEASES is a GitHub repository's release downloads"
        );
        // The names cargo deb gives the release's assets.
        for wanted in [
            "$GROUPSYNC_RELEASES/v$GROUPSYNC_VERSION/",
            "groupsync_${GROUPSYNC_VERSION}-1_amd64.deb",
            "SHA256SUMS",
            "sha256sum -c",
        ] {
            assert!(text.contains(wanted), "{file} lacks {wanted:?}");
        }
    }
    let release = github_script_of_all(&parse(RELEASE));
    assert!(
        release.contains("SHA256SUMS"),
        "the release publishes checksums"
    );
}

fn github_script_of_all(workflow: &Value) -> String {
    jobs(workflow)
        .values()
        .map(github_script)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each event that starts a GitHub job reading groups.d has a `paths`
/// filter naming groups.d and the config; each such GitLab job runs only
/// on `changes` to them. So a pipeline runs once per relevant change.
#[test]
fn every_job_that_validates_has_a_paths_filter() {
    let github = parse(GITHUB_EXAMPLE);
    let config = config_of(&github["env"], GITHUB_EXAMPLE);
    let readers: Vec<&String> = jobs(&github)
        .iter()
        .filter(|(_, job)| runs_groupsync_on_the_groups(&github_script(job)))
        .map(|(name, _)| name)
        .collect();
    assert!(readers.len() >= 3, "{readers:?}");
    let events = github["on"].as_object().expect("`on:` is a map of events");
    for (event, filter) in events {
        if event == "workflow_dispatch" {
            continue;
        }
        let paths = strings(&filter["paths"]);
        for wanted in ["groups.d/**", config.as_str()] {
            assert!(
                paths.contains(&wanted),
                "{GITHUB_EXAMPLE}: `on.{event}.paths` lacks {wanted}: {paths:?}"
            );
        }
    }
    assert!(
        strings(&github["on"]["push"]["branches"]).len() == 1,
        "pushes run it on the default branch only (pull requests have their own event)"
    );

    let gitlab = parse(GITLAB_EXAMPLE);
    let config = config_of(&gitlab["variables"], GITLAB_EXAMPLE);
    let mut readers = 0;
    for (name, job) in gitlab.as_object().unwrap() {
        if name.starts_with('.') || !job.is_object() || job["script"].is_null() {
            continue;
        }
        if !runs_groupsync_on_the_groups(&gitlab_script(&gitlab, job)) {
            continue;
        }
        readers += 1;
        let rules = job["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{GITLAB_EXAMPLE}: job {name} has no rules"));
        for rule in rules {
            let changes = strings(&rule["changes"]);
            for wanted in ["groups.d/**/*", config.as_str()] {
                assert!(
                    changes.contains(&wanted),
                    "{GITLAB_EXAMPLE}: a rule of {name} lacks `changes: {wanted}`: {rule}"
                );
            }
        }
    }
    assert_eq!(readers, 3);
}

#[test]
fn the_release_workflow_builds_a_deb_an_rpm_and_an_image() {
    let release = parse(RELEASE);
    assert_eq!(strings(&release["on"]["push"]["tags"]), ["v*"]);
    let script = github_script_of_all(&release);
    for wanted in [
        "packaging/build-assets.sh",
        "cargo deb --no-build --strip",
        "cargo generate-rpm",
    ] {
        assert!(script.contains(wanted), "{RELEASE} does not run {wanted}");
    }
    let all_steps: Vec<&Value> = jobs(&release).values().flat_map(steps).collect();
    let uses = |action: &str| -> Vec<&Value> {
        all_steps
            .iter()
            .copied()
            .filter(|step| {
                step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with(action))
            })
            .collect()
    };
    let published = uses("softprops/action-gh-release");
    assert_eq!(published.len(), 1, "the assets are attached to the release");
    assert!(script.contains("target/debian/*.deb") && script.contains("target/generate-rpm/*.rpm"));
    let image = uses("docker/build-push-action");
    assert_eq!(image.len(), 1, "one image is built");
    assert_eq!(image[0]["with"]["file"], "examples/kubernetes/Dockerfile");
    assert_eq!(image[0]["with"]["push"], true);
    let meta = uses("docker/metadata-action");
    assert!(
        meta.len() == 1
            && meta[0]["with"]["images"]
                .as_str()
                .is_some_and(|images| images.starts_with("ghcr.io/")),
        "the image goes to ghcr.io"
    );
    for (name, job) in jobs(&release) {
        assert!(
            job["permissions"].is_object(),
            "{RELEASE}: job {name} asks for the permissions it needs, no more"
        );
    }
}

#[test]
fn the_repository_ci_runs_the_checks_every_change_must_pass() {
    let ci = parse(CI);
    let events = ci["on"].as_object().expect("`on:` is a map of events");
    assert!(events.contains_key("pull_request") && events.contains_key("push"));
    let runs: Vec<String> = jobs(&ci).values().map(github_script).collect();
    assert!(
        runs.iter()
            .any(|script| script.lines().any(|line| line.trim() == ".ci/run")),
        "{CI} runs .ci/run: {runs:?}"
    );
}

/// Every value under a key that names a credential is an expression
/// (`${{ secrets.X }}`) or a variable (`$X`), never the credential itself.
fn assert_no_plain_secret(file: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key_lower = key.to_ascii_lowercase();
                let names_a_secret = ["token", "password", "secret", "private_key"]
                    .iter()
                    .any(|word| key_lower.contains(word));
                if let (true, Some(text)) = (names_a_secret, value.as_str()) {
                    assert!(
                        text.starts_with("${{") || text.starts_with('$'),
                        "{file}: {key} holds a value in plain text"
                    );
                }
                assert_no_plain_secret(file, value);
            }
        }
        Value::Array(list) => list
            .iter()
            .for_each(|value| assert_no_plain_secret(file, value)),
        _ => {}
    }
}

#[test]
fn no_workflow_holds_a_secret_in_plain_text() {
    for file in [GITHUB_EXAMPLE, GITLAB_EXAMPLE, RELEASE, CI] {
        assert_no_plain_secret(file, &parse(file));
        let text = read(file);
        for leak in ["ghp_", "github_pat_", "glpat-", "-----BEGIN"] {
            assert!(!text.contains(leak), "{file} holds {leak}...");
        }
        for (at, _) in text.match_indices("secrets.") {
            let before = &text[..at];
            let open = before.rfind("${{");
            let close = before.rfind("}}");
            assert!(
                open.is_some_and(|open| close.is_none_or(|close| close < open)),
                "{file}: `secrets.` outside an expression"
            );
        }
    }
}
