//! The longer texts of `--help` and of usage refusals, each written once
//! here, so that they can be kept in line with the settings they name (the
//! safety limits, the credentials).

use crate::config::limit_keys;

/// Where the pod credentials come from: `--help` of the commands that talk to the pod.
pub const CREDENTIALS_HELP: &str = "\
Credentials for the pod (the first one set is used):
  GROUPSYNC_SESSION_TOKEN     a session token in the environment
  auth.session_token_file     a file holding a session token (config file)
  auth.bot_username + auth.private_key_file
                              RSA bot login (config file)
  --bdk-config FILE           the bot of an official Symphony SDK config.yaml (or auth.bdk_config)
  $CREDENTIALS_DIRECTORY/session-token
                              under systemd: LoadCredential=session-token:FILE in the unit
Without a pod URL (--pod-url, GROUPSYNC_POD_URL, pod.url) no credentials are needed: plan works
offline from the state file.";

/// `apply --force`: every safety limit it overrides, from the limits table.
pub fn apply_force_help() -> String {
    format!(
        "Apply even when the plan exceeds {} or limits.max_prune_fraction (this run only)",
        limit_keys(", ")
    )
}

/// `run --force`: only `run --once` takes it.
pub const RUN_FORCE_HELP: &str = "Only with --once (= apply --force); refused for the daemon, which never overrides its safety limits";

/// Why `run --force` without `--once` is refused (a usage error), naming every safety limit.
pub fn daemon_force_refused() -> String {
    format!(
        "--force is refused for the daemon: a daemon never overrides its own safety limits \
         ({}, limits.max_prune_fraction). Review the plan with `groupsync plan`, \
         then override them for one run with `groupsync apply --force`, or raise the limits",
        limit_keys(", ")
    )
}
