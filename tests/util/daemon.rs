//! `groupsync run` as a child process behind a guard ([`Daemon`]) that kills
//! it when a test fails, its config file, and a fake systemd to hear it.
//!
//! Daemons run with `debounce: 100ms` and `interval: 1h`, so that only their
//! start, file changes and SIGHUP trigger cycles.

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    PodFixture, Sample, TOKEN, Workspace, free_port, http_get, parse_openmetrics, replace_file,
    signal, value, wait_until,
};

/// The daemon's config file text: the workspace's tree and state file, quick
/// debounce and retries, no schedule to speak of, `/metrics` on `metrics`
/// (if any), then `extra`.
pub fn daemon_config(ws: &Workspace, metrics: Option<SocketAddr>, extra: &str) -> String {
    let mut text = format!(
        "groups_dir: \"{}\"\nstate_file: \"{}\"\ndebounce: 100ms\ninterval: 1h\n\
         retry: {{max_attempts: 4, initial_interval: 10ms, multiplier: 2, max_interval: 100ms}}\n",
        ws.groups_dir().display(),
        ws.state_file().display()
    );
    if let Some(address) = metrics {
        text.push_str(&format!("metrics_listen: \"{address}\"\n"));
    }
    text.push_str(extra);
    text
}

/// Writes `<workspace>/groupsync.yaml` (see [`daemon_config`]), with
/// `/metrics` on a free port if `with_metrics`; returns that address.
pub fn write_daemon_config(ws: &Workspace, with_metrics: bool, extra: &str) -> Option<SocketAddr> {
    let metrics = with_metrics.then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
    replace_file(
        &ws.path().join("groupsync.yaml"),
        &daemon_config(ws, metrics, extra),
    );
    metrics
}

/// [`write_daemon_config`] with the schedule `interval: INTERVAL` (e.g. `1s`)
/// instead of `1h`, for a test of scheduled cycles.
pub fn write_scheduled_daemon_config(
    ws: &Workspace,
    with_metrics: bool,
    interval: &str,
    extra: &str,
) -> Option<SocketAddr> {
    let metrics = with_metrics.then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
    let text = daemon_config(ws, metrics, extra)
        .replace("interval: 1h\n", &format!("interval: {interval}\n"));
    replace_file(&ws.path().join("groupsync.yaml"), &text);
    metrics
}

/// A spawned `groupsync run`; dropping it kills the process (SIGKILL) and reaps it.
pub struct Daemon {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    metrics: Option<SocketAddr>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts `groupsync run --config groupsync.yaml ARGS` in the workspace,
    /// with the pod and [`TOKEN`] in its environment; `metrics` is where it
    /// serves `/metrics` (as [`write_daemon_config`] returned it).
    pub fn start(
        ws: &Workspace,
        pod: &PodFixture,
        metrics: Option<SocketAddr>,
        args: &[&str],
    ) -> Daemon {
        Daemon::start_with(ws, pod, metrics, args, |_| {})
    }

    /// [`Daemon::start`], with `adjust` changing the command first (e.g. its environment).
    pub fn start_with(
        ws: &Workspace,
        pod: &PodFixture,
        metrics: Option<SocketAddr>,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        Daemon::spawn("daemon", ws, pod, metrics, args, adjust)
    }

    /// [`Daemon::start`] of a second daemon beside the first, its output in files of its own.
    pub fn start_second(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Daemon {
        Daemon::spawn("second", ws, pod, None, args, |_| {})
    }

    /// Output goes to `<workspace>/<name>.stdout` and `.stderr`.
    fn spawn(
        name: &str,
        ws: &Workspace,
        pod: &PodFixture,
        metrics: Option<SocketAddr>,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        let stdout = ws.path().join(format!("{name}.stdout"));
        let stderr = ws.path().join(format!("{name}.stderr"));
        let mut command = ws.groupsync_std();
        command
            .args(["run", "--config", "groupsync.yaml"])
            .args(args)
            .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
            .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        adjust(&mut command);
        Daemon {
            child: command.spawn().expect("spawn groupsync run"),
            stdout,
            stderr,
            metrics,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    /// What the test failed on: the daemon's output.
    pub fn output(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    #[track_caller]
    pub fn assert_running(&mut self) {
        assert!(self.is_running(), "the daemon exited\n{}", self.output());
    }

    /// `kill -NAME <pid>`.
    pub fn signal(&self, name: &str) {
        signal(&self.child, name);
    }

    /// Waits for the process to exit (it is killed by the guard if it never does).
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("the daemon exits", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.unwrap()
    }

    /// SIGTERM, then the exit code must be 0.
    #[track_caller]
    pub fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "run exits 0 on SIGTERM\n{}",
            self.output()
        );
    }

    /// Waits until `/readyz` answers 200.
    #[track_caller]
    pub fn wait_ready(&self) {
        wait_until("/readyz answers 200", || {
            self.http_get("/readyz")
                .is_some_and(|(status, _)| status == 200)
        });
    }

    /// `GET path` on the metrics listener: status and body; `None` while nothing answers.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.metrics.expect("this daemon serves /metrics"), path)
    }

    /// The parsed `/metrics`, or `None` while nothing answers.
    pub fn scrape(&self) -> Option<Vec<Sample>> {
        let (status, body) = self.http_get("/metrics")?;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Some(parse_openmetrics(&body))
    }

    /// The value of one series of `/metrics`, or `None` while nothing answers or the series is missing.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        value(&self.scrape()?, name, labels)
    }

    /// `groupsync_cycles_total{result}` (0 until `/metrics` answers).
    pub fn cycles(&self, result: &str) -> f64 {
        self.metric("groupsync_cycles_total", &[("result", result)])
            .unwrap_or(0.0)
    }

    /// Waits until `groupsync_cycles_total{result}` is at least `count`.
    #[track_caller]
    pub fn wait_cycles(&mut self, result: &str, count: f64) {
        let what = format!("groupsync_cycles_total{{result=\"{result}\"}} >= {count}");
        wait_until(&what, || {
            self.assert_running();
            self.cycles(result) >= count
        });
    }

    /// Waits until a cycle has left every one of `declared` groups in sync.
    #[track_caller]
    pub fn wait_in_sync(&mut self, declared: usize) {
        wait_until("every declared group is in sync", || {
            self.assert_running();
            let Some(samples) = self.scrape() else {
                return false;
            };
            let groups = |state| value(&samples, "groupsync_groups", &[("state", state)]);
            groups("in_sync") == Some(declared as f64)
                && groups("pending") == Some(0.0)
                && groups("failed") == Some(0.0)
        });
    }

    /// Waits until stderr contains `text`.
    #[track_caller]
    pub fn wait_stderr(&mut self, text: &str) {
        wait_until(&format!("stderr says {text:?}"), || {
            self.stderr().contains(text)
        });
    }
}

/// A fake service manager: a datagram socket in the workspace (give its
/// [`FakeSystemd::path`] to the daemon as `NOTIFY_SOCKET`), read by a thread
/// into a list.
pub struct FakeSystemd {
    path: PathBuf,
    received: Arc<Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl FakeSystemd {
    pub fn bind(ws: &Workspace) -> FakeSystemd {
        let path = ws.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (received, done) = (received.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while !done.load(Ordering::Relaxed) {
                    if let Ok(length) = socket.recv(&mut buffer) {
                        let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                        received.lock().unwrap().push(message);
                    }
                }
            })
        };
        FakeSystemd {
            path,
            received,
            done,
            reader: Some(reader),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every datagram so far, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// The index of the first message at or after `from` that satisfies `matches`.
    fn position(&self, from: usize, matches: impl Fn(&str) -> bool) -> Option<usize> {
        self.messages()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, message)| matches(message))
            .map(|(index, _)| index)
    }

    /// Waits for a message at or after `from` that satisfies `matches`; returns its index.
    #[track_caller]
    pub fn wait_for(&self, what: &str, from: usize, matches: impl Fn(&str) -> bool) -> usize {
        let mut found = None;
        wait_until(what, || {
            found = self.position(from, &matches);
            found.is_some()
        });
        found.unwrap()
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// An HTTP answer as it came: status, headers (names lower-cased), body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` over a fresh connection with `headers` added, waiting up to
/// `patience` for the whole answer; `None` when nothing answers in time (or
/// the connection is refused).
pub fn http_get_with(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    patience: Duration,
) -> Option<HttpAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address, patience).ok()?;
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received).ok()?;
    Some(parse_answer(&received))
}

/// A whole HTTP/1.1 answer with a `Content-Length` (the daemon's are).
pub fn parse_answer(received: &[u8]) -> HttpAnswer {
    let text = String::from_utf8(received.to_vec()).expect("a UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = (lines.next().expect("a status line").split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let answer = HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    };
    let length: usize = (answer.header("content-length"))
        .and_then(|length| length.parse().ok())
        .expect("a Content-Length");
    assert_eq!(answer.body.len(), length, "the whole body");
    answer
}

impl Daemon {
    /// Where this daemon serves `/metrics`.
    pub fn metrics_address(&self) -> SocketAddr {
        self.metrics.expect("this daemon serves /metrics")
    }

    /// `GET path` with `headers` on the metrics listener, as [`http_get_with`].
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Option<HttpAnswer> {
        http_get_with(
            self.metrics_address(),
            path,
            headers,
            Duration::from_secs(5),
        )
    }

    /// Waits for the first answer of `/metrics` (none until it listens) and returns it parsed.
    #[track_caller]
    pub fn first_scrape(&mut self) -> Vec<Sample> {
        let mut first = None;
        wait_until("/metrics answers", || {
            self.assert_running();
            first = self.scrape();
            first.is_some()
        });
        first.unwrap()
    }
}
