//! The shared test harness: one workspace, one pod, one daemon guard, one
//! way to wait. A new daemon test takes about ten lines:
//!
//! ```ignore
//! #[test]
//! fn a_changed_area_is_put() {
//!     let ws = Workspace::new();
//!     ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
//!     let pod = token_pod(vec![PodGroup::new("a1").area("EMEA-old").build()]);
//!     let metrics = write_daemon_config(&ws, true, "");
//!     let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
//!     daemon.wait_in_sync(1);
//!     assert_eq!(pod.put_log(), [("a1".to_string(), json!({"area": "EMEA"}))]);
//!     daemon.stop();
//! }
//! ```
//!
//! (`daemon::a_second_run_on_the_same_state_file_exits_1` is a real one.)
//!
//! - [`workspace`]: a temporary tree, its state file, the `groupsync` command.
//! - [`pod`]: the emulator on 127.0.0.1 ([`token_pod`], [`PodSeed`]) and the PUTs it saw.
//! - [`pod_seed`]: [`TOKEN`] and the [`PodGroup`] fixture, shared with the benches.
//! - [`daemon`]: `groupsync run` behind a guard that kills it on drop; a fake systemd.
//! - [`hook`]: a webhook receiver that keeps what it is sent, or never answers.
//! - [`http`], [`metrics`]: a plain HTTP GET and an OpenMetrics parser for `/metrics`.
//! - [`raw`]: a raw HTTP server for answers no real server gives, and a proxy's view of requests.
//! - [`scripted`]: a pod scripted answer by answer on that server, and `groupsync` pointed at it.

pub mod daemon;
pub mod hook;
pub mod http;
pub mod metrics;
pub mod pod;
pub mod pod_seed;
pub mod process;
pub mod raw;
pub mod scripted;
pub mod workspace;

pub use daemon::*;
pub use hook::*;
pub use http::*;
pub use metrics::*;
pub use pod::*;
pub use pod_seed::*;
pub use process::*;
pub use raw::*;
pub use scripted::*;
pub use workspace::*;

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// How long a test waits for something that should take milliseconds: a
/// guard against hanging on a slow, shared machine, never a speed check.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(10);

/// Retries fast enough for tests (a config file fragment).
pub const FAST_RETRY: &str =
    "retry: {max_attempts: 4, initial_interval: 10ms, multiplier: 2, max_interval: 100ms}\n";

/// Polls `condition` until it holds; panics after [`PATIENCE`].
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// A finished command's stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// A finished command's stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts the exit code, showing both streams when it is not `code`.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}\n--- stdout\n{}--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
}

/// `kill -NAME <pid of child>`.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// Replaces `path` as editors do: the new text goes to a temporary file
/// beside it (a dot file, which groupsync skips), then renamed over it.
pub fn replace_file(path: &Path, contents: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.new"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// The path of `tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The text of `tests/fixtures/<name>`.
pub fn fixture_text(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Makes a FIFO (a named pipe) at `path`: reading it blocks until a writer
/// comes, which no timeout inside the reader can cut short.
pub fn make_fifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .output()
        .expect("run mkfifo");
    assert!(made.status.success(), "mkfifo {}", path.display());
}

/// Runs `command` to its end, its output captured, failing (and killing
/// it) if it takes longer than [`HANG_GUARD`]: for a command that must not
/// hang, so that a regression fails the test rather than hanging the suite.
pub fn run_within_guard(command: Command) -> Finished {
    Running::spawn(command).finish_within(HANG_GUARD)
}

/// How long a command that must fail at once may take on a slow, shared
/// machine before it counts as hanging.
pub const HANG_GUARD: Duration = Duration::from_secs(30);
