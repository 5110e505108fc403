//! The whole `groupsync plan` process on a large tree, as an operator runs
//! it: 10,000 groups in 100 files of 100, and 100,000 groups in 100 files of
//! 1,000, each with a state file as applies leave it (every group managed,
//! with its last-applied values; 1% of the groups changed on the pod).
//!
//! Five runs each; prints the median wall time and the median peak resident
//! memory (`ru_maxrss` of the process, from `wait4`) next to the target of
//! issue 18 (100,000 groups: 0.4 s and 100 MiB). Asserts nothing about time.
//!
//! Run: `cargo bench --bench plan_process`

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/fixture.rs"]
mod fixture;

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir, groups, per_file] = &args[..]
        && flag == GENERATE
    {
        fixture::write_fixture(
            Path::new(dir),
            groups.parse().unwrap(),
            per_file.parse().unwrap(),
            100,
        );
        return;
    }
    for (groups, per_file, target) in [
        (10_000, 100, "0.059 s / 30 MiB before"),
        (100_000, 1_000, "target 0.400 s / 100 MiB"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), groups, per_file);
        let state_bytes = std::fs::metadata(dir.path().join("state.json"))
            .unwrap()
            .len();
        let mut times = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..RUNS {
            let (time, peak_kib) = run_plan(dir.path());
            times.push(time);
            peaks.push(peak_kib);
        }
        times.sort();
        peaks.sort();
        println!(
            "plan, {groups} groups in {} files ({:.0} MB state file), {RUNS} runs: median {:.3} s (fastest {:.3} s), \
             median peak RSS {:.1} MiB (lowest {:.1} MiB); {target}",
            groups / per_file,
            state_bytes as f64 / 1e6,
            times[RUNS / 2].as_secs_f64(),
            times[0].as_secs_f64(),
            peaks[RUNS / 2] as f64 / 1024.0,
            peaks[0] as f64 / 1024.0,
        );
    }
}

/// The argument that makes this bench write a fixture and exit.
const GENERATE: &str = "--write-fixture";

/// Writes the fixture in a child process: a process forked from one that
/// held a large snapshot reports that snapshot's memory as its own peak
/// (`ru_maxrss` survives `exec`), so this one never holds one.
fn generate(dir: &Path, groups: usize, per_file: usize) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            GENERATE,
            &dir.display().to_string(),
            &groups.to_string(),
            &per_file.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "writing the fixture failed");
}

/// One `groupsync plan` in `dir`: its wall time and peak resident memory in KiB.
#[expect(
    clippy::zombie_processes,
    reason = "waited for by wait4, which also gives its peak memory"
)]
fn run_plan(dir: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_groupsync"))
        .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
        .current_dir(dir)
        .env_remove("GROUPSYNC_POD_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid, and `pid` is our own child, not yet waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    // Exit 2: the plan has changes, as the fixture means it to.
    assert_eq!(libc::WEXITSTATUS(status), 2, "groupsync plan failed");
    (elapsed, u64::try_from(usage.ru_maxrss).unwrap())
}
