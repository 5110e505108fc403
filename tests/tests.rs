//! The one integration-test binary: each module tests one command or concern
//! through the real `groupsync` binary or real TCP; `util` holds the shared helpers.

mod util;

mod apply;
mod change_control;
mod daemon;
mod docs;
mod emulator;
mod endpoints;
mod escaping;
mod git_truth;
mod golden;
mod hostile_settings;
mod import;
mod import_lists;
mod integrations;
mod invisible;
mod journal;
mod layers;
mod lifecycle;
mod log_lines;
mod manpages;
mod markdown;
mod markdown_on_failure;
mod members;
mod noise;
mod notifications;
mod operating;
mod plan;
mod pod_client;
mod preview;
mod schema;
mod service_safety;
mod settings;
mod state;
mod untrusted_pod;
mod user_lists;
mod validate;
mod workflows;
