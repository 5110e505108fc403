//! A pod scripted answer by answer on a [`RawServer`], and the
//! `groupsync` command pointed at it: for answers the emulator never gives
//! (rows without a user, lookups of the wrong shape, echoed secrets).

use std::process::{Command, Output};

use serde_json::{Value, json};

use super::*;

/// A pod on a raw server: `answer(method, target)` gives each request's
/// status line and JSON body (`target` as sent: path and query).
pub fn scripted_pod(
    answer: impl Fn(&str, &str) -> (&'static str, String) + Send + Sync + 'static,
) -> RawServer {
    RawServer::start(move |request, stream| {
        drain_request_body(request, stream);
        let mut parts = request.line.split(' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let (status, body) = answer(method, target);
        write_answer(
            stream,
            status,
            &[("Content-Type", "application/json")],
            &body,
        );
    })
}

/// `{data, pagination}`: one page holding `groups`, the last.
pub fn page(groups: &[Value]) -> String {
    json!({"data": groups, "pagination": {"cursors": {"before": "b"}}}).to_string()
}

pub fn not_found() -> (&'static str, String) {
    (
        "404 Not Found",
        json!({"code": 404, "message": "no such thing"}).to_string(),
    )
}

/// `<ws>/groupsync.yaml`: the pod at `pod`, fast retries, then `extra`.
pub fn write_config(ws: &Workspace, pod_url: &str, extra: &str) {
    ws.write_file(
        "groupsync.yaml",
        format!("pod: {{url: \"{pod_url}\"}}\n{FAST_RETRY}{extra}"),
    );
}

/// `groupsync ARGS --config groupsync.yaml` in `ws`, with [`TOKEN`].
pub fn configured_groupsync(ws: &Workspace, args: &[&str]) -> Command {
    let mut command = ws.groupsync_std();
    command
        .args(args)
        .args(["--config", "groupsync.yaml"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN);
    command
}

pub fn run_configured(ws: &Workspace, args: &[&str]) -> Output {
    configured_groupsync(ws, args)
        .output()
        .expect("run groupsync")
}

/// Both streams of a finished run.
pub fn everything(output: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        stdout(output),
        stderr(output)
    )
}

/// The request lines the raw server saw that start with `prefix`.
pub fn requests_starting(pod: &RawServer, prefix: &str) -> Vec<String> {
    pod.requests()
        .into_iter()
        .map(|request| request.line)
        .filter(|line| line.starts_with(prefix))
        .collect()
}
