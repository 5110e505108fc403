//! The places groupsync lives besides a terminal: shell completions and the
//! man page (through the real binary), the Prometheus rules and Grafana
//! dashboard (against the real daemon's `/metrics`), the Kubernetes
//! manifests and the CI examples (parsed, their key settings checked).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::util::*;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn repo_text(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn groupsync_prints(args: &[&str]) -> String {
    let output = Workspace::new().groupsync().args(args).output().unwrap();
    assert_exit(&output, 0);
    stdout(&output)
}

#[test]
fn every_shell_gets_a_completion_script_of_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = groupsync_prints(&["completions", shell]);
        // Flags without their dashes: fish writes `-l refresh`.
        for word in ["plan", "refresh", "lock-timeout", "schema"] {
            assert!(script.contains(word), "{shell} lacks {word}:\n{script}");
        }
        // Those that complete values too (elvish and PowerShell do not).
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(
                script.contains("markdown"),
                "{shell} lacks --format markdown"
            );
        }
    }
    let bash = groupsync_prints(&["completions", "bash"]);
    assert!(bash.contains("complete -F _groupsync"), "{bash}");
    assert!(bash.contains("--refresh"), "{bash}");
    let output = Workspace::new()
        .groupsync()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
}

#[test]
fn the_man_page_is_roff_of_every_command() {
    let page = groupsync_prints(&["manpage"]);
    assert!(
        page.lines().any(|line| line.starts_with(".TH groupsync 1")),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    for command in ["validate", "plan", "apply", "run", "import", "schema"] {
        assert!(
            page.contains(&format!("groupsync\\-{command}(1)")),
            "{command}:\n{page}"
        );
    }
}

#[test]
fn each_command_the_man_page_names_has_a_page_of_its_own() {
    let plan = groupsync_prints(&["manpage", "plan"]);
    assert!(
        plan.lines()
            .any(|line| line.starts_with(".TH groupsync-plan 1")),
        "{plan}"
    );
    assert!(plan.contains("\\-\\-refresh"), "{plan}");
    let output = Workspace::new()
        .groupsync()
        .args(["manpage", "plna"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("no command `plna`"),
        "{}",
        stderr(&output)
    );
}

/// Every sample name the daemon's `/metrics` can hold, from its `# TYPE`
/// lines (a family with no series yet still has one): a counter's samples
/// end in `_total`, a histogram's in `_bucket`, `_sum` and `_count`.
fn exported_sample_names(exposition: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = parse_openmetrics(exposition)
        .into_iter()
        .map(|sample| sample.name)
        .collect();
    for line in exposition.lines() {
        let Some(declared) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (family, kind) = declared.split_once(' ').expect("# TYPE NAME KIND");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "gauge" => &[""],
            other => panic!("a metric type the rules do not expect: {other}"),
        };
        names.extend(suffixes.iter().map(|suffix| format!("{family}{suffix}")));
    }
    names
}

/// The real daemon's `/metrics` after a successful cycle and one that
/// failed (a family shows only once it has a series: the failures by kind).
fn real_exposition() -> String {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_cycles("success", 1.0);
    replace_file(&ws.groups_dir().join("emea.yaml"), "id: a1\nareaa: EMEA\n");
    daemon.wait_cycles("invalid", 1.0);
    let (status, body) = daemon.http_get("/metrics").expect("/metrics answers");
    assert_eq!(status, 200, "{body}");
    daemon.stop();
    body
}

/// The `groupsync_*` names a PromQL expression uses.
fn metric_names_in(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("groupsync_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        rest = &rest[start + name.len()..];
        names.push(name);
    }
    names
}

/// Every PromQL expression of the alert rules, by alert name.
fn rule_expressions() -> Vec<(String, String)> {
    #[derive(Deserialize)]
    struct Rules {
        groups: Vec<RuleGroup>,
    }
    #[derive(Deserialize)]
    struct RuleGroup {
        rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        alert: String,
        expr: String,
    }
    let rules: Rules = serde_yaml::from_str(&repo_text("examples/monitoring/alerts.yaml")).unwrap();
    rules
        .groups
        .into_iter()
        .flat_map(|group| group.rules)
        .map(|rule| (rule.alert, rule.expr))
        .collect()
}

/// Every query of the dashboard: panel targets and template variables.
fn dashboard_queries() -> Vec<String> {
    fn collect(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "definition", serde_json::Value::String(query)) => {
                            found.push(query.clone())
                        }
                        _ => collect(value, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
            _ => {}
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_text("examples/monitoring/grafana-dashboard.json")).unwrap();
    let mut found = Vec::new();
    collect(&dashboard, &mut found);
    found
}

#[test]
fn the_alert_rules_and_the_dashboard_use_only_metrics_the_daemon_exports() {
    let exported = exported_sample_names(&real_exposition());
    assert!(
        exported.contains("groupsync_cycles_total")
            && exported.contains("groupsync_cycle_failures_total"),
        "{exported:#?}"
    );
    let rules = rule_expressions();
    let alerts: Vec<&str> = rules.iter().map(|(alert, _)| alert.as_str()).collect();
    for wanted in [
        "GroupsyncCyclesFailing",
        "GroupsyncNoSuccessfulCycle",
        "GroupsyncDriftSeen",
        "GroupsyncChangesPending",
        "GroupsyncConfigInvalid",
    ] {
        assert!(alerts.contains(&wanted), "no alert {wanted}: {alerts:?}");
    }
    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "{queries:#?}");
    let expressions = rules
        .iter()
        .map(|(alert, expr)| (format!("alert {alert}"), expr.clone()))
        .chain(
            queries
                .into_iter()
                .map(|query| ("the dashboard".to_string(), query)),
        );
    for (place, expression) in expressions {
        let names = metric_names_in(&expression);
        assert!(
            !names.is_empty(),
            "{place} uses no groupsync metric: {expression}"
        );
        for name in names {
            assert!(
                exported.contains(&name),
                "{place} uses {name}, which the daemon does not export: {expression}\nexported: {exported:#?}"
            );
        }
    }
}

/// Every YAML document of a repository file, as JSON.
fn yaml_documents(relative: &str) -> Vec<serde_json::Value> {
    let text = repo_text(relative);
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            serde_json::Value::deserialize(document)
                .unwrap_or_else(|err| panic!("{relative} is not YAML: {err}"))
        })
        .collect()
}

fn the_document(relative: &str) -> serde_json::Value {
    let mut documents = yaml_documents(relative);
    assert_eq!(documents.len(), 1, "{relative} holds one document");
    documents.pop().unwrap()
}

fn text_at<'v>(value: &'v serde_json::Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("no text at {pointer} in {value:#}"))
}

/// The Deployment's container (or init container) called `name`.
fn container<'v>(pod: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod[list].as_array())
        .flatten()
        .find(|container| container["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// Where the container `name` mounts the volume `volume`.
fn mount_path<'v>(pod: &'v serde_json::Value, name: &str, volume: &str) -> &'v str {
    container(pod, name)["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|mount| mount["name"] == volume)
        .and_then(|mount| mount["mountPath"].as_str())
        .unwrap_or_else(|| panic!("{name} does not mount {volume}"))
}

#[test]
fn the_kubernetes_manifests_keep_one_writer_in_a_locked_down_pod() {
    let dir = "examples/kubernetes";
    let kustomization = the_document(&format!("{dir}/kustomization.yaml"));
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|resource| resource.as_str().unwrap())
        .collect();
    let mut kinds = BTreeSet::new();
    for resource in &resources {
        for document in yaml_documents(&format!("{dir}/{resource}")) {
            kinds.insert(text_at(&document, "/kind").to_string());
        }
    }
    let wanted = [
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
    ];
    assert_eq!(kinds, wanted.map(String::from).into(), "{resources:?}");
    let secret = the_document(&format!("{dir}/secret.example.yaml"));
    assert_eq!(secret["kind"], "Secret");
    assert!(
        !resources.contains(&"secret.example.yaml"),
        "a placeholder secret is never applied"
    );

    let deployment = the_document(&format!("{dir}/deployment.yaml"));
    assert_eq!(deployment["spec"]["replicas"], 1, "never two writers");
    assert_eq!(text_at(&deployment, "/spec/strategy/type"), "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        text_at(pod, "/securityContext/seccompProfile/type"),
        "RuntimeDefault"
    );
    for name in ["groupsync", "git-sync", "git-sync-init"] {
        let context = &container(pod, name)["securityContext"];
        assert_eq!(context["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(context["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            context["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
    }
    let groupsync = container(pod, "groupsync");
    assert_eq!(
        text_at(groupsync, "/livenessProbe/httpGet/path"),
        "/healthz"
    );
    assert_eq!(
        text_at(groupsync, "/readinessProbe/httpGet/path"),
        "/readyz"
    );
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    let claim = the_document(&format!("{dir}/pvc.yaml"));
    assert_eq!(
        volume("state")["persistentVolumeClaim"]["claimName"],
        claim["metadata"]["name"]
    );
    assert_eq!(
        volume("credentials")["secret"]["secretName"],
        secret["metadata"]["name"]
    );

    // The config in the ConfigMap: valid for the real binary, and its paths
    // and port the ones the Deployment mounts and probes.
    let configmap = the_document(&format!("{dir}/configmap.yaml"));
    assert_eq!(
        volume("config")["configMap"]["name"],
        configmap["metadata"]["name"]
    );
    let config_text = text_at(&configmap, "/data/groupsync.yaml");
    let config: serde_json::Value = serde_yaml::from_str(config_text).unwrap();
    let ws = Workspace::new();
    let config_file = ws.write_file("groupsync.yaml", config_text);
    let output = ws
        .groupsync()
        .arg("validate")
        .arg("--config")
        .arg(&config_file)
        .arg("--groups-dir")
        .arg(repo_path("groups.d"))
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(
        text_at(&config, "/groups_dir"),
        mount_path(pod, "groupsync", "git"),
        "groups_dir is git-sync's root, where the link is swapped"
    );
    let state = Path::new(text_at(&config, "/state_file"));
    assert_eq!(
        state.parent().unwrap(),
        Path::new(mount_path(pod, "groupsync", "state"))
    );
    let token = Path::new(text_at(&config, "/auth/session_token_file"));
    assert_eq!(
        token.parent().unwrap(),
        Path::new(mount_path(pod, "groupsync", "credentials"))
    );
    assert_eq!(
        Path::new(&format!(
            "{}/groupsync.yaml",
            mount_path(pod, "groupsync", "config")
        )),
        Path::new("/etc/groupsync/groupsync.yaml")
    );
    let port = text_at(&config, "/metrics_listen")
        .rsplit(':')
        .next()
        .unwrap();
    assert_eq!(groupsync["ports"][0]["containerPort"].to_string(), port);
}

#[test]
fn the_ci_examples_plan_on_pull_requests_and_apply_from_the_default_branch() {
    let github = the_document("examples/ci/github-actions.yml");
    for job in ["validate", "plan", "apply"] {
        assert!(github["jobs"][job].is_object(), "no job {job}");
    }
    assert!(text_at(&github, "/jobs/plan/if").contains("pull_request"));
    assert!(text_at(&github, "/jobs/apply/if").contains("default_branch"));
    let gitlab = the_document("examples/ci/gitlab-ci.yml");
    for job in ["validate", "plan", "apply"] {
        assert!(gitlab[job]["script"].is_array(), "no job {job}");
    }
    for (name, text) in [
        ("github", repo_text("examples/ci/github-actions.yml")),
        ("gitlab", repo_text("examples/ci/gitlab-ci.yml")),
    ] {
        for wanted in [
            "groupsync validate",
            "groupsync plan --format markdown",
            "groupsync apply",
            "VIEW_ROLE_SCOPES",
            "-ne 2",
        ] {
            assert!(text.contains(wanted), "{name} lacks {wanted:?}");
        }
    }
}

/// What git-sync does on each sync: a new checkout under `.worktrees/`, a
/// new link beside `groups` renamed over it, the old checkout removed.
fn git_sync_swap(root: &Path, checkout: &str, old: Option<&str>, group_file: &str) {
    let worktree = root.join(".worktrees").join(checkout);
    std::fs::create_dir_all(worktree.join("groups.d")).unwrap();
    std::fs::write(worktree.join("groups.d/emea.yaml"), group_file).unwrap();
    let temporary = root.join(".groups.new");
    std::os::unix::fs::symlink(format!(".worktrees/{checkout}"), &temporary).unwrap();
    std::fs::rename(&temporary, root.join("groups")).unwrap();
    if let Some(old) = old {
        std::fs::remove_dir_all(root.join(".worktrees").join(old)).unwrap();
    }
}

/// The Kubernetes example's groups_dir is git-sync's root: each swap of the
/// link in it starts a cycle, the second one too (the watch is on the root,
/// not on a checkout that goes away).
#[test]
fn each_git_sync_swap_in_the_groups_dir_starts_a_cycle() {
    let ws = Workspace::new();
    let root = ws.groups_dir();
    git_sync_swap(&root, "one", None, "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    seed_state(&ws, &pod);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);
    assert_eq!(pod.put_count(), 0, "{}", daemon.output());

    git_sync_swap(&root, "two", Some("one"), "id: a1\narea: APAC\n");
    pod.wait_puts(1);
    git_sync_swap(&root, "three", Some("two"), "id: a1\narea: LATAM\n");
    pod.wait_puts(2);
    assert_eq!(
        pod.put_log(),
        [
            ("a1".to_string(), serde_json::json!({"area": "APAC"})),
            ("a1".to_string(), serde_json::json!({"area": "LATAM"})),
        ],
        "{}",
        daemon.output()
    );
    daemon.stop();
}
