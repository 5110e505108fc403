//! The one integration-test binary: each module tests one command or concern
//! through the real `groupsync` binary or real TCP; `util` holds the shared helpers.

mod util;

mod apply;
mod daemon;
mod emulator;
mod golden;
mod layers;
mod lifecycle;
mod members;
mod operating;
mod plan;
mod pod_client;
mod preview;
mod service_safety;
mod state;
mod validate;
