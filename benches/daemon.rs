//! The daemon's reaction time and idle cost, measured on the real binary:
//!
//! - from a YAML file's rename to the PUT arriving at the emulator, 20 times:
//!   median and worst, minus the debounce;
//! - resident memory and CPU of the idle daemon over 60 s.
//!
//! Run: `cargo bench --bench daemon` (about 90 s). Prints its figures; asserts nothing about time.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use groupsync::emulator::{Emulator, EmulatorConfig};
use groupsync::model::UserGroupResponse;

#[path = "../tests/util/pod_seed.rs"]
#[allow(dead_code)] // the token and the start, not the PodGroup fixture
mod pod_seed;
use pod_seed::TOKEN;

const DEBOUNCE: Duration = Duration::from_millis(100);
const ROUNDS: usize = 20;
const IDLE: Duration = Duration::from_secs(60);

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let emulator = runtime.block_on(start_emulator());
    write_group(dir.path(), 0);
    std::fs::write(
        dir.path().join("groupsync.yaml"),
        format!("debounce: {}ms\ninterval: 1h\n", DEBOUNCE.as_millis()),
    )
    .unwrap();
    let mut daemon = spawn_daemon(dir.path(), &emulator.pod_url());
    wait_for_puts(&emulator, 1);

    let mut latencies = Vec::new();
    for round in 1..=ROUNDS {
        let renamed = write_group(dir.path(), round);
        let arrived = wait_for_puts(&emulator, round + 1);
        latencies.push(
            arrived
                .saturating_duration_since(renamed)
                .saturating_sub(DEBOUNCE),
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    latencies.sort();
    println!(
        "rename -> PUT at the emulator, minus the {} ms debounce, {ROUNDS} rounds: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        DEBOUNCE.as_millis(),
        millis(latencies[ROUNDS / 2]),
        millis(latencies[0]),
        millis(latencies[ROUNDS - 1])
    );

    let cpu_before = cpu_ticks(daemon.id());
    std::thread::sleep(IDLE);
    let cpu_after = cpu_ticks(daemon.id());
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu_share = (cpu_after - cpu_before) as f64 / ticks_per_second / IDLE.as_secs_f64() * 100.0;
    println!(
        "idle daemon over {} s: CPU {cpu_share:.3}%, resident memory {} KiB (VmRSS), peak {} KiB (VmHWM)",
        IDLE.as_secs(),
        status_field(daemon.id(), "VmRSS:"),
        status_field(daemon.id(), "VmHWM:")
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}

async fn start_emulator() -> Emulator {
    let group = UserGroupResponse {
        id: Some("65aa00000001".into()),
        name: Some("Bench".into()),
        ..Default::default()
    };
    let config = EmulatorConfig {
        groups: vec![group],
        ..Default::default()
    };
    pod_seed::start_local(pod_seed::with_token(config)).await
}

/// Writes the group with `area: round-N` the way editors save: a temporary file renamed over the old one.
fn write_group(dir: &Path, round: usize) -> Instant {
    let groups = dir.join("groups.d");
    std::fs::create_dir_all(&groups).unwrap();
    let temporary = groups.join(".bench.yaml.tmp");
    std::fs::write(
        &temporary,
        format!("id: \"65aa00000001\"\nname: Bench\narea: round-{round}\n"),
    )
    .unwrap();
    std::fs::rename(&temporary, groups.join("bench.yaml")).unwrap();
    Instant::now()
}

fn spawn_daemon(dir: &Path, pod_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_groupsync"))
        .args(["run", "--config", "groupsync.yaml", "--log-level", "warn"])
        .current_dir(dir)
        .env("GROUPSYNC_POD_URL", pod_url)
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the emulator has seen `count` PUTs; returns when the last one started.
fn wait_for_puts(emulator: &Emulator, count: usize) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let puts: Vec<_> = emulator
            .requests()
            .into_iter()
            .filter(|request| request.method == "PUT")
            .collect();
        if puts.len() >= count {
            return puts[count - 1].started;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} PUTs arrived",
            puts.len()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(|value| value.trim().trim_end_matches(" kB").to_string())
        .unwrap_or_default()
}
