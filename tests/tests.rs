//! The one integration-test binary: each module tests one command or concern
//! through the real `groupsync` binary or real TCP; `util` holds the shared helpers.

mod util;

mod apply;
mod daemon;
mod docs;
mod emulator;
mod endpoints;
mod escaping;
mod golden;
mod integrations;
mod layers;
mod lifecycle;
mod markdown;
mod members;
mod noise;
mod operating;
mod plan;
mod pod_client;
mod preview;
mod schema;
mod service_safety;
mod settings;
mod state;
mod untrusted_pod;
mod validate;
