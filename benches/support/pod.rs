//! A pod emulator with latency and a client for it, for the benches that
//! measure groupsync against the network (apply, import, members). The
//! token and the start are the tests' own (`tests/util/pod_seed.rs`).

use std::time::Duration;

use groupsync::emulator::{Emulator, EmulatorConfig};
use groupsync::model::UserGroupResponse;
use groupsync::pod::auth::{AuthSource, SessionToken};
use groupsync::pod::retry::RetryPolicy;
use groupsync::pod::{PodClient, Timeouts};

#[path = "../../tests/util/pod_seed.rs"]
#[allow(dead_code)] // the benches seed no lists and build no PodGroup
mod pod_seed;

/// An emulator on 127.0.0.1 holding `groups`, answering after `latency`, in
/// pages of `page_size`; and a client that holds its session token.
#[allow(dead_code)] // each bench uses one of the two
pub fn pod_with_latency(
    runtime: &tokio::runtime::Runtime,
    groups: Vec<UserGroupResponse>,
    page_size: usize,
    latency: Duration,
) -> (Emulator, PodClient) {
    let config = EmulatorConfig {
        groups,
        page_size,
        ..Default::default()
    };
    pod_from_config(runtime, config, latency)
}

/// An emulator on 127.0.0.1 started from `config` (plus a session token),
/// answering after `latency`; and a client that holds the token.
pub fn pod_from_config(
    runtime: &tokio::runtime::Runtime,
    config: EmulatorConfig,
    latency: Duration,
) -> (Emulator, PodClient) {
    runtime.block_on(async {
        let emulator = pod_seed::start_local(pod_seed::with_token(config)).await;
        emulator.set_latency(latency);
        let auth = AuthSource::Token(SessionToken::new(pod_seed::TOKEN));
        let client = PodClient::new(
            &emulator.pod_url(),
            auth,
            RetryPolicy::default(),
            Timeouts::default(),
        )
        .unwrap();
        (emulator, client)
    })
}
