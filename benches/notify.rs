//! A cycle's time with notifications to a target that never answers, against
//! the same cycle without notifications: delivery runs on its own task, so
//! the two should be equal within noise.
//!
//! Each round changes one group's area in `groups.d/`, then runs one writing
//! cycle (load, refresh, plan, one PUT to the emulator, state saved) and
//! hands it to the notifications, as `apply` and the daemon do; the webhook
//! accepts connections and never answers. Run: `cargo bench --bench notify`
//! (a few seconds). Prints its figures; asserts nothing about time.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use groupsync::config::{Destination, EventKind, Overrides, RefreshMode, Settings, TargetSettings};
use groupsync::model::UserGroupResponse;
use groupsync::notify::Notifications;
use groupsync::pipeline::cycle::{CycleOptions, CycleOutcome, run_cycle_observed};
use groupsync::shutdown::Shutdown;

#[path = "support/pod.rs"]
mod pod;

const ROUNDS: usize = 60;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let group = UserGroupResponse {
        id: Some("65aa00000001".into()),
        name: Some("Bench".into()),
        area: Some("AREA-0".into()),
        ..Default::default()
    };
    let (emulator, client) = pod::pod_with_latency(&runtime, vec![group], 100, Duration::ZERO);
    let overrides = Overrides {
        groups_dir: Some(dir.path().join("groups.d")),
        state_file: Some(dir.path().join("state.json")),
        pod_url: Some(emulator.pod_url()),
        ..Overrides::default()
    };
    let settings = Settings::from_overrides(&overrides).unwrap();
    let dead = dead_webhook();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "bench-secret\n").unwrap();
    let mut notifying = settings.clone();
    notifying.notify.targets = vec![TargetSettings {
        destination: Destination::Webhook {
            url: format!("http://{dead}/hook"),
            secret_file: secret,
        },
        events: EventKind::ALL.to_vec(),
    }];

    let mut round = 0;
    for (label, settings) in [
        ("without notifications", &settings),
        ("notifying a webhook that never answers", &notifying),
        ("without notifications (again)", &settings),
        ("notifying a webhook that never answers (again)", &notifying),
    ] {
        let mut times = runtime.block_on(async {
            let notifications = Notifications::start(settings, Some(&client), None).unwrap();
            let mut times = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                round += 1;
                write_group(dir.path(), round);
                let started = Instant::now();
                let notify = |outcome: &CycleOutcome| notifications.planned(outcome);
                let options = CycleOptions::apply(RefreshMode::Missing);
                let result = run_cycle_observed(
                    settings,
                    Some(&client),
                    options,
                    Shutdown::never(),
                    &notify,
                )
                .await;
                notifications.finished(result.as_ref());
                times.push(started.elapsed());
                result.unwrap();
            }
            notifications.stop();
            times
        });
        times.sort();
        println!(
            "cycle (one PUT), {label}, {ROUNDS} rounds: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
            millis(times[ROUNDS / 2]),
            millis(times[ROUNDS * 9 / 10]),
            millis(times[ROUNDS - 1])
        );
    }
}

/// A listener on 127.0.0.1 that accepts connections and never answers.
fn dead_webhook() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

/// The group with an area of its own for `round`.
fn write_group(dir: &Path, round: usize) {
    let groups = dir.join("groups.d");
    std::fs::create_dir_all(&groups).unwrap();
    std::fs::write(
        groups.join("bench.yaml"),
        format!("id: \"65aa00000001\"\narea: AREA-{round}\n"),
    )
    .unwrap();
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
